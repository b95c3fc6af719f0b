#include "src/store.h"

#include <absl/time/time.h>

#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "tierflow/sql/offsets.h"

namespace tierflow::notification {

namespace {

// A lifecycle from an RFM segment, for customers whose profile names none.
std::string lifecycle_of_segment(const std::string& segment) {
  if (segment == "At Risk" || segment == "Can't Lose Them" || segment == "About To Sleep" || segment == "Hibernating" ||
      segment == "at_risk") {
    return "at_risk";
  }
  if (segment == "Lost") return "churned";
  if (segment == "New Customers" || segment == "Recent Customers") return "new";
  return segment.empty() ? "" : "active";
}

std::string valid_zone(const std::string& zone) {
  absl::TimeZone tz;
  return !zone.empty() && absl::LoadTimeZone(zone, &tz) ? zone : "";
}

void add_column_if_missing(sql::sqlite::Db& db, const std::string& table, const std::string& column,
                           const std::string& decl) {
  auto q = db.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
  q.bind_text(1, table).bind_text(2, column);
  if (q.step()) return;
  q.reset();
  db.exec("ALTER TABLE " + table + " ADD COLUMN " + column + " " + decl);
}

}  // namespace

int lunar_key(int month, int day, bool leap) { return (leap ? 10000 : 0) + month * 100 + day; }

Store::Store(const std::string& path) : db_(sql::sqlite::Db::open(path)) {
  db_.exec(R"sql(
    CREATE TABLE IF NOT EXISTS directory (
      customer_id TEXT PRIMARY KEY,
      tier TEXT NOT NULL DEFAULT '',
      segment TEXT NOT NULL DEFAULT '',
      lifecycle TEXT NOT NULL DEFAULT '',
      seg_lifecycle TEXT NOT NULL DEFAULT '',
      region TEXT NOT NULL DEFAULT '',
      zone TEXT NOT NULL DEFAULT '',
      bday INTEGER,
      lunar INTEGER,
      erased INTEGER NOT NULL DEFAULT 0,
      profile BLOB) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS directory_bday ON directory (zone, bday);
    CREATE INDEX IF NOT EXISTS directory_lunar ON directory (zone, lunar);
    CREATE TABLE IF NOT EXISTS outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      topic TEXT NOT NULL,
      msg_key TEXT NOT NULL,
      record BLOB NOT NULL,
      error TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS deliveries (
      id INTEGER PRIMARY KEY,
      dedupe_key TEXT NOT NULL UNIQUE,
      customer_id TEXT NOT NULL,
      status INTEGER NOT NULL,
      record BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS last_sent (
      customer_id TEXT NOT NULL,
      campaign_id TEXT NOT NULL,
      at_unix_s INTEGER NOT NULL,
      PRIMARY KEY (customer_id, campaign_id)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS campaigns (
      campaign_id TEXT PRIMARY KEY,
      request BLOB NOT NULL,
      state TEXT NOT NULL,
      audience INTEGER NOT NULL,
      started_unix_s INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS cap_log (
      dedupe_key TEXT PRIMARY KEY,
      customer_id TEXT NOT NULL,
      at_unix_s INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS cap_log_customer ON cap_log (customer_id, at_unix_s);
    CREATE TABLE IF NOT EXISTS standing_days (
      campaign_id TEXT NOT NULL,
      zone TEXT NOT NULL,
      day TEXT NOT NULL,
      claimed INTEGER NOT NULL,
      missed INTEGER NOT NULL,
      PRIMARY KEY (campaign_id, zone, day)) WITHOUT ROWID;
  )sql");
  sql::sqlite::create_offsets_table(db_);
  // Campaign columns, added to stores written before campaigns existed.
  add_column_if_missing(db_, "deliveries", "campaign_id", "TEXT NOT NULL DEFAULT ''");
  add_column_if_missing(db_, "deliveries", "occasion", "TEXT NOT NULL DEFAULT ''");
  add_column_if_missing(db_, "deliveries", "queued", "INTEGER NOT NULL DEFAULT 0");
  add_column_if_missing(db_, "deliveries", "due_at", "INTEGER NOT NULL DEFAULT 0");
  add_column_if_missing(db_, "deliveries", "priority", "INTEGER NOT NULL DEFAULT 0");
  add_column_if_missing(db_, "deliveries", "marketing", "INTEGER NOT NULL DEFAULT 0");
  add_column_if_missing(db_, "deliveries", "inflight", "INTEGER NOT NULL DEFAULT 0");
  db_.exec(R"sql(
    CREATE INDEX IF NOT EXISTS deliveries_customer ON deliveries (customer_id, id);
    CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, id);
    CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (queued, status, due_at);
    CREATE INDEX IF NOT EXISTS deliveries_inflight ON deliveries (inflight) WHERE inflight = 1;
    CREATE INDEX IF NOT EXISTS deliveries_campaign ON deliveries (campaign_id, status);
    CREATE UNIQUE INDEX IF NOT EXISTS deliveries_occasion ON deliveries (customer_id, occasion) WHERE occasion <> '';
  )sql");
}

void Store::erase_customer(const std::string& customer_id) {
  db_.prepare(
         "INSERT INTO directory (customer_id, erased, profile) VALUES (?1, 1, NULL) "
         "ON CONFLICT (customer_id) DO UPDATE SET erased = 1, profile = NULL, bday = NULL, lunar = NULL, "
         "region = '', zone = ''")
      .bind_text(1, customer_id)
      .run();
  // Keep the delivery facts (key, campaign, channel, status, times); drop the words that
  // carry the name. Deliveries not yet sent will not be.
  auto q = db_.prepare("SELECT id, status, record FROM deliveries WHERE customer_id = ?1");
  q.bind_text(1, customer_id);
  std::vector<std::tuple<int64_t, int64_t, std::string>> rows;
  while (q.step()) rows.emplace_back(q.column_int64(0), q.column_int64(1), std::string(q.column_blob(2)));
  q.reset();
  auto put = db_.prepare("UPDATE deliveries SET status = ?2, record = ?3 WHERE id = ?1");
  for (auto& [id, status, blob] : rows) {
    v1::Delivery d;
    d.ParseFromString(blob);
    d.set_subject("[erased]");
    d.set_body("[erased]");
    if (status == v1::DELIVERY_STATUS_CLAIMED && d.attempts() == 0) {
      status = v1::DELIVERY_STATUS_SKIPPED;
      d.set_status(v1::DELIVERY_STATUS_SKIPPED);
      d.set_error("erased");
    }
    put.bind_int64(1, id).bind_int64(2, status).bind_blob(3, d.SerializeAsString()).run();
  }
}

std::vector<v1::Delivery> Store::apply(const Batch& batch) {
  std::vector<v1::Delivery> fresh;
  sql::sqlite::Transaction tx(db_);
  auto upsert = db_.prepare(
      "INSERT INTO directory (customer_id, lifecycle, region, zone, bday, lunar, erased, profile) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7) ON CONFLICT (customer_id) DO UPDATE SET lifecycle = excluded.lifecycle, "
      "region = excluded.region, zone = excluded.zone, bday = excluded.bday, lunar = excluded.lunar, "
      "erased = 0, profile = excluded.profile WHERE directory.erased = 0");
  for (const auto& p : batch.profiles) {
    if (p.erased()) {
      erase_customer(p.customer_id());
      continue;
    }
    upsert.bind_text(1, p.customer_id()).bind_text(2, p.lifecycle()).bind_text(3, p.region());
    upsert.bind_text(4, valid_zone(p.time_zone()));
    if (p.has_birthday() && p.birthday().month() > 0) {
      upsert.bind_int64(5, p.birthday().month() * 100 + p.birthday().day());
    } else {
      upsert.bind_null(5);
    }
    if (p.has_lunar_birthday() && p.lunar_birthday().month() > 0) {
      upsert.bind_int64(
          6, lunar_key(p.lunar_birthday().month(), p.lunar_birthday().day(), p.lunar_birthday().leap_month()));
    } else {
      upsert.bind_null(6);
    }
    upsert.bind_blob(7, p.SerializeAsString()).run();
  }
  auto tier = db_.prepare(
      "INSERT INTO directory (customer_id, tier, segment, seg_lifecycle) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier, segment = excluded.segment, "
      "seg_lifecycle = excluded.seg_lifecycle");
  for (const auto& t : batch.tiers) {
    tier.bind_text(1, t.customer_id).bind_text(2, t.tier).bind_text(3, t.segment);
    tier.bind_text(4, lifecycle_of_segment(t.segment)).run();
  }
  auto claim = db_.prepare(
      "INSERT INTO deliveries (dedupe_key, customer_id, status, record, campaign_id) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT DO NOTHING");
  for (const auto& d : batch.claims) {
    claim.bind_text(1, d.dedupe_key()).bind_text(2, d.customer_id()).bind_int64(3, v1::DELIVERY_STATUS_CLAIMED);
    claim.bind_blob(4, d.SerializeAsString()).bind_text(5, d.campaign_id()).run();
    if (db_.changes() > 0) fresh.push_back(d);
  }
  insert_queued(batch.queued);
  auto sent = db_.prepare(
      "INSERT INTO last_sent (customer_id, campaign_id, at_unix_s) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (customer_id, campaign_id) DO UPDATE SET at_unix_s = max(at_unix_s, excluded.at_unix_s)");
  for (const auto& s : batch.sent)
    sent.bind_text(1, s.customer_id).bind_text(2, s.campaign_id).bind_int64(3, s.at_unix_s).run();
  sql::sqlite::OffsetWriter offsets(db_);
  for (const auto& o : batch.offsets) offsets.put(o.topic, o.partition, o.next);
  tx.commit();
  return fresh;
}

void Store::put_recipients(const std::vector<Recipient>& recipients) {
  sql::sqlite::Transaction tx(db_);
  auto put = db_.prepare(
      "INSERT OR REPLACE INTO directory (customer_id, tier, segment, lifecycle, seg_lifecycle, region, zone, bday, "
      "lunar, erased, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  for (const auto& r : recipients) {
    const auto& p = r.profile;
    put.bind_text(1, p.customer_id()).bind_text(2, r.tier).bind_text(3, r.segment).bind_text(4, p.lifecycle());
    put.bind_text(5, lifecycle_of_segment(r.segment)).bind_text(6, p.region()).bind_text(7, valid_zone(p.time_zone()));
    if (p.has_birthday() && p.birthday().month() > 0) {
      put.bind_int64(8, p.birthday().month() * 100 + p.birthday().day());
    } else {
      put.bind_null(8);
    }
    if (p.has_lunar_birthday() && p.lunar_birthday().month() > 0) {
      put.bind_int64(9,
                     lunar_key(p.lunar_birthday().month(), p.lunar_birthday().day(), p.lunar_birthday().leap_month()));
    } else {
      put.bind_null(9);
    }
    put.bind_int64(10, r.erased ? 1 : 0).bind_blob(11, p.SerializeAsString()).run();
  }
  tx.commit();
}

std::optional<int64_t> Store::next_offset(const std::string& topic, int32_t partition) {
  return sql::sqlite::read_offset(db_, topic, partition);
}

namespace {
constexpr const char* kRecipientColumns = "customer_id, tier, segment, lifecycle, seg_lifecycle, zone, erased, profile";

Recipient read_recipient(const sql::sqlite::Statement& q) {
  Recipient r;
  const auto blob = q.column_blob(7);
  if (!q.column_is_null(7)) r.profile.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
  r.profile.set_customer_id(std::string(q.column_text(0)));
  r.tier = q.column_text(1);
  r.segment = q.column_text(2);
  r.lifecycle = !q.column_text(3).empty() ? std::string(q.column_text(3)) : std::string(q.column_text(4));
  r.zone = q.column_text(5);
  r.erased = q.column_int64(6) != 0;
  return r;
}
}  // namespace

sql::sqlite::Statement& Store::cached(sql::sqlite::Statement& slot, std::string_view sql) {
  if (!slot.valid()) slot = db_.prepare(sql);
  return slot;
}

std::optional<Recipient> Store::recipient(const std::string& customer_id) {
  auto& q = cached(recipient_q_, std::string("SELECT ") + kRecipientColumns + " FROM directory WHERE customer_id = ?1");
  q.bind_text(1, customer_id);
  std::optional<Recipient> out;
  try {
    if (q.step()) out = read_recipient(q);
  } catch (...) {
    q.reset();
    throw;
  }
  q.reset();
  return out;
}

std::optional<v1::CustomerProfile> Store::profile(const std::string& customer_id) {
  auto r = recipient(customer_id);
  if (!r || r->erased || r->profile.ByteSizeLong() == 0) return std::nullopt;
  return r->profile;
}

std::vector<Recipient> Store::audience(const AudienceQuery& a) {
  std::string sql =
      std::string("SELECT ") + kRecipientColumns + " FROM directory WHERE erased = 0 AND profile IS NOT NULL";
  std::vector<std::string> texts;
  auto in_list = [&](const std::string& column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    sql += " AND " + column + " IN (";
    for (size_t i = 0; i < values.size(); ++i) {
      texts.push_back(values[i]);
      sql += (i ? ", ?" : "?") + std::to_string(texts.size());
    }
    sql += ")";
  };
  in_list("tier", a.tiers);
  in_list("segment", a.segments);
  in_list("region", a.regions);
  in_list("(CASE WHEN lifecycle <> '' THEN lifecycle ELSE seg_lifecycle END)", a.lifecycle);
  in_list("customer_id", a.customer_ids);
  if (a.zone) {
    texts.push_back(*a.zone);
    sql += " AND zone = ?" + std::to_string(texts.size());
  }
  if (!a.birthdays_mmdd.empty() || !a.lunar_birthdays.empty()) {
    // A customer who keeps a lunar birthday is greeted on that one only.
    auto ints = [](const std::vector<int>& v) {
      std::string s;
      for (int x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
      return s.empty() ? std::string("-1") : s;
    };
    sql += " AND ((lunar IS NULL AND bday IN (" + ints(a.birthdays_mmdd) + ")) OR lunar IN (" +
           ints(a.lunar_birthdays) + "))";
  }
  sql += " ORDER BY customer_id";
  auto q = db_.prepare(sql);
  for (size_t i = 0; i < texts.size(); ++i) q.bind_text(static_cast<int>(i + 1), texts[i]);
  std::vector<Recipient> out;
  while (q.step()) out.push_back(read_recipient(q));
  return out;
}

std::vector<std::string> Store::zones() {
  auto q = db_.prepare("SELECT DISTINCT zone FROM directory");
  std::vector<std::string> out;
  while (q.step()) out.emplace_back(q.column_text(0));
  return out;
}

int64_t Store::directory_size() {
  auto q = db_.prepare("SELECT count(*) FROM directory WHERE erased = 0");
  q.step();
  return q.column_int64(0);
}

std::optional<int64_t> Store::last_sent(const std::string& customer_id, const std::string& campaign_id) {
  auto q = db_.prepare("SELECT at_unix_s FROM last_sent WHERE customer_id = ?1 AND campaign_id = ?2");
  q.bind_text(1, customer_id).bind_text(2, campaign_id);
  if (!q.step()) return std::nullopt;
  return q.column_int64(0);
}

void Store::confirm(const std::string& dedupe_key, v1::DeliveryStatus status, const std::string& error) {
  auto get = db_.prepare("SELECT record FROM deliveries WHERE dedupe_key = ?1");
  get.bind_text(1, dedupe_key);
  if (!get.step()) return;
  v1::Delivery d;
  const auto blob = get.column_blob(0);
  d.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
  get.reset();
  d.set_status(status);
  d.set_error(error);
  d.set_attempts(d.attempts() + 1);
  if (status == v1::DELIVERY_STATUS_SENT) timeutil::to_proto(absl::Now(), d.mutable_sent_time());
  sql::sqlite::Transaction tx(db_);
  auto put = db_.prepare("UPDATE deliveries SET status = ?2, record = ?3 WHERE dedupe_key = ?1");
  put.bind_text(1, dedupe_key).bind_int64(2, status).bind_blob(3, d.SerializeAsString()).run();
  add_outbox(d);
  tx.commit();
}

void Store::add_outbox(const v1::Delivery& d) {
  auto put = db_.prepare("INSERT INTO outbox (topic, msg_key, record, error) VALUES (?1, ?2, ?3, ?4)");
  const std::string value = d.SerializeAsString();
  put.bind_text(1, std::string(topics::kDeliveries)).bind_text(2, d.customer_id()).bind_blob(3, value).bind_text(4, "");
  put.run();
  if (d.status() == v1::DELIVERY_STATUS_FAILED) {
    put.reset();
    put.bind_text(1, topics::dlq(topics::kDeliveries)).bind_text(2, d.customer_id()).bind_blob(3, value);
    put.bind_text(4, d.error()).run();
  }
}

std::vector<OutboxRow> Store::outbox_after(int64_t after_seq, int limit) {
  auto q = db_.prepare("SELECT seq, topic, msg_key, record, error FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  q.bind_int64(1, after_seq).bind_int64(2, limit);
  std::vector<OutboxRow> out;
  while (q.step()) {
    OutboxRow r;
    r.seq = q.column_int64(0);
    r.topic = std::string(q.column_text(1));
    r.key = std::string(q.column_text(2));
    r.value = std::string(q.column_blob(3));
    r.error = std::string(q.column_text(4));
    out.push_back(std::move(r));
  }
  return out;
}

void Store::mark_published(int64_t up_to_seq) {
  db_.prepare("DELETE FROM outbox WHERE seq <= ?1").bind_int64(1, up_to_seq).run();
}

int64_t Store::unpublished() {
  auto q = db_.prepare("SELECT count(*) FROM outbox");
  q.step();
  return q.column_int64(0);
}

namespace {
v1::Delivery parse_delivery(const sql::sqlite::Statement& q, int col) {
  v1::Delivery d;
  const auto blob = q.column_blob(col);
  d.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
  return d;
}
}  // namespace

std::vector<v1::Delivery> Store::unconfirmed() {
  auto q = db_.prepare("SELECT record FROM deliveries WHERE status = ?1 AND queued = 0 ORDER BY id");
  q.bind_int64(1, v1::DELIVERY_STATUS_CLAIMED);
  std::vector<v1::Delivery> out;
  while (q.step()) out.push_back(parse_delivery(q, 0));
  return out;
}

std::vector<v1::Delivery> Store::deliveries(const std::string& customer_id, int limit, int64_t before_id,
                                            int64_t* last_id, const std::string& campaign_id) {
  auto q = db_.prepare(
      "SELECT id, record FROM deliveries WHERE (?1 = '' OR customer_id = ?1) AND (?4 = '' OR campaign_id = ?4) "
      "AND id < ?2 ORDER BY id DESC LIMIT ?3");
  q.bind_text(1, customer_id).bind_int64(2, before_id).bind_int64(3, limit).bind_text(4, campaign_id);
  std::vector<v1::Delivery> out;
  *last_id = 0;
  while (q.step()) {
    *last_id = q.column_int64(0);
    out.push_back(parse_delivery(q, 1));
  }
  return out;
}

}  // namespace tierflow::notification
