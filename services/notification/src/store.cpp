#include "src/store.h"

#include "common/time/time.h"

namespace tierflow::notification {

Store::Store(const std::string& path) : db_(sql::sqlite::Db::open(path)) {
  db_.exec(R"sql(
    CREATE TABLE IF NOT EXISTS recipients (
      customer_id TEXT PRIMARY KEY,
      profile BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS offsets (
      topic TEXT NOT NULL,
      part INTEGER NOT NULL,
      next_offset INTEGER NOT NULL,
      PRIMARY KEY (topic, part)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS deliveries (
      id INTEGER PRIMARY KEY,
      dedupe_key TEXT NOT NULL UNIQUE,
      customer_id TEXT NOT NULL,
      status INTEGER NOT NULL,
      record BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS deliveries_customer ON deliveries (customer_id, id);
    CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, id);
    CREATE TABLE IF NOT EXISTS last_sent (
      customer_id TEXT NOT NULL,
      campaign_id TEXT NOT NULL,
      at_unix_s INTEGER NOT NULL,
      PRIMARY KEY (customer_id, campaign_id)) WITHOUT ROWID;
  )sql");
}

std::vector<v1::Delivery> Store::apply(const Batch& batch) {
  std::vector<v1::Delivery> fresh;
  sql::sqlite::Transaction tx(db_);
  auto upsert = db_.prepare(
      "INSERT INTO recipients (customer_id, profile) VALUES (?1, ?2) "
      "ON CONFLICT (customer_id) DO UPDATE SET profile = excluded.profile");
  for (const auto& p : batch.profiles) upsert.bind_text(1, p.customer_id()).bind_blob(2, p.SerializeAsString()).run();
  auto claim = db_.prepare(
      "INSERT INTO deliveries (dedupe_key, customer_id, status, record) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (dedupe_key) DO NOTHING");
  for (const auto& d : batch.claims) {
    claim.bind_text(1, d.dedupe_key()).bind_text(2, d.customer_id()).bind_int64(3, v1::DELIVERY_STATUS_CLAIMED);
    claim.bind_blob(4, d.SerializeAsString()).run();
    if (db_.changes() > 0) fresh.push_back(d);
  }
  auto sent = db_.prepare(
      "INSERT INTO last_sent (customer_id, campaign_id, at_unix_s) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (customer_id, campaign_id) DO UPDATE SET at_unix_s = max(at_unix_s, excluded.at_unix_s)");
  for (const auto& s : batch.sent) sent.bind_text(1, s.customer_id).bind_text(2, s.campaign_id).bind_int64(3, s.at_unix_s).run();
  auto offset = db_.prepare(
      "INSERT INTO offsets (topic, part, next_offset) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset");
  for (const auto& o : batch.offsets) offset.bind_text(1, o.topic).bind_int64(2, o.partition).bind_int64(3, o.next).run();
  tx.commit();
  return fresh;
}

std::optional<int64_t> Store::next_offset(const std::string& topic, int32_t partition) {
  auto q = db_.prepare("SELECT next_offset FROM offsets WHERE topic = ?1 AND part = ?2");
  q.bind_text(1, topic).bind_int64(2, partition);
  if (!q.step()) return std::nullopt;
  return q.column_int64(0);
}

std::optional<v1::CustomerProfile> Store::profile(const std::string& customer_id) {
  auto q = db_.prepare("SELECT profile FROM recipients WHERE customer_id = ?1");
  q.bind_text(1, customer_id);
  if (!q.step()) return std::nullopt;
  v1::CustomerProfile p;
  const auto blob = q.column_blob(0);
  p.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
  return p;
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
  auto put = db_.prepare("UPDATE deliveries SET status = ?2, record = ?3 WHERE dedupe_key = ?1");
  put.bind_text(1, dedupe_key).bind_int64(2, status).bind_blob(3, d.SerializeAsString()).run();
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
  auto q = db_.prepare("SELECT record FROM deliveries WHERE status = ?1 ORDER BY id");
  q.bind_int64(1, v1::DELIVERY_STATUS_CLAIMED);
  std::vector<v1::Delivery> out;
  while (q.step()) out.push_back(parse_delivery(q, 0));
  return out;
}

std::vector<v1::Delivery> Store::deliveries(const std::string& customer_id, int limit, int64_t before_id,
                                            int64_t* last_id) {
  auto q = db_.prepare(
      "SELECT id, record FROM deliveries WHERE (?1 = '' OR customer_id = ?1) AND id < ?2 ORDER BY id DESC LIMIT ?3");
  q.bind_text(1, customer_id).bind_int64(2, before_id).bind_int64(3, limit);
  std::vector<v1::Delivery> out;
  *last_id = 0;
  while (q.step()) {
    *last_id = q.column_int64(0);
    out.push_back(parse_delivery(q, 1));
  }
  return out;
}

}  // namespace tierflow::notification
