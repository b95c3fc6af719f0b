#include "service/store.h"

#include "common/time/time.h"
#include "service/assignment_blob.h"

namespace tierflow::classification {
namespace {

using sql::sqlite::Db;
using sql::sqlite::Statement;

constexpr std::string_view kSchema = R"sql(
  CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    account BLOB,
    account_version INTEGER,
    profile BLOB,
    assignment BLOB,
    version INTEGER,
    override BLOB) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS history (
    customer_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    effective_us INTEGER NOT NULL,
    tier TEXT NOT NULL,
    before_tier TEXT NOT NULL,
    standard_version TEXT NOT NULL,
    reason TEXT NOT NULL,
    recorded_us INTEGER NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    assignment BLOB NOT NULL,
    PRIMARY KEY (customer_id, version)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS history_unpublished ON history (customer_id, version) WHERE published = 0;
  CREATE TABLE IF NOT EXISTS override_audit (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    kind INTEGER NOT NULL,
    tier TEXT NOT NULL,
    expire_us INTEGER,
    at_us INTEGER NOT NULL,
    override BLOB NOT NULL);
  CREATE INDEX IF NOT EXISTS override_audit_customer ON override_audit (customer_id, id);
  CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    part INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, part)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS marks (
    part INTEGER PRIMARY KEY,
    watermark_us INTEGER NOT NULL,
    first_as_of_us INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS held (
    customer_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    part INTEGER NOT NULL,
    snapshot BLOB NOT NULL,
    PRIMARY KEY (customer_id, version)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS frozen (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    point_us INTEGER NOT NULL,
    summary BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL) WITHOUT ROWID;
)sql";

// 2^21 pages of 4 KiB (8 GiB): only a copy that never finishes reaches it (see checkpointer_).
constexpr int kCheckpointLimitPages = 1 << 21;

int64_t micros(absl::Time t) {
  if (t == absl::InfinitePast()) return INT64_MIN;
  if (t == absl::InfiniteFuture()) return INT64_MAX;
  return absl::ToUnixMicros(t);
}
absl::Time from_stored(int64_t us) {
  if (us == INT64_MIN) return absl::InfinitePast();
  if (us == INT64_MAX) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}
absl::Time from_micros(int64_t us) { return absl::FromUnixMicros(us); }

template <typename Message>
Message parse_blob(const Statement& q, int col) {
  Message m;
  const auto blob = q.column_blob(col);
  m.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
  return m;
}

// Assignments are stored compressed (service/assignment_blob.h); rows of older stores as
// they were serialised.
template <>
v1::TierAssignment parse_blob<v1::TierAssignment>(const Statement& q, int col) {
  v1::TierAssignment a;
  if (!assignment_blob::decode(q.column_blob(col), &a)) {
    throw sql::Error("sqlite: a stored assignment does not decode", 11 /* SQLITE_CORRUPT */);
  }
  return a;
}

template <typename Message>
std::optional<Message> parse_optional(const Statement& q, int col) {
  if (q.column_is_null(col)) return std::nullopt;
  return parse_blob<Message>(q, col);
}

Store::OverrideAction parse_action(std::string_view s) {
  if (s == "clear") return Store::OverrideAction::clear;
  if (s == "expire") return Store::OverrideAction::expire;
  return Store::OverrideAction::set;
}

}  // namespace

std::string_view to_string(Store::OverrideAction a) {
  switch (a) {
    case Store::OverrideAction::set:
      return "set";
    case Store::OverrideAction::clear:
      return "clear";
    case Store::OverrideAction::expire:
      return "expire";
  }
  return "set";
}

Store::Store(const std::string& path, Mode mode)
    : db_(Db::open(path, sql::sqlite::Options{.cache_size_kib = mode == Mode::writer ? 64 * 1024 : 2 * 1024,
                                              .create = mode == Mode::writer})) {
  if (mode == Mode::writer) {
    db_.exec(kSchema);
    // Stores made before provisional assignments and partitions were recorded.
    auto has_column = [&](std::string_view table, std::string_view column) {
      auto q = db_.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
      q.bind_text(1, table).bind_text(2, column);
      return q.step();
    };
    if (!has_column("history", "provisional")) {
      db_.exec("ALTER TABLE history ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0");
    }
    if (!has_column("customers", "account_part")) db_.exec("ALTER TABLE customers ADD COLUMN account_part INTEGER");
    if (path != ":memory:" && !path.empty()) checkpointer_.emplace(path, db_, kCheckpointLimitPages);
  }
}

void Store::apply(const Batch& batch) {
  if (batch.empty()) return;
  sql::sqlite::Transaction tx(db_);
  if (!batch.accounts.empty()) {
    auto q = db_.prepare(
        "INSERT INTO customers (customer_id, account, account_version, account_part) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (customer_id) DO UPDATE SET account = excluded.account, "
        "account_version = excluded.account_version, account_part = excluded.account_part");
    for (size_t i = 0; i < batch.accounts.size(); ++i) {
      const auto* a = batch.accounts[i];
      q.bind_text(1, a->customer_id()).bind_blob(2, a->SerializeAsString()).bind_int64(3, a->version());
      if (i < batch.account_partitions.size()) {
        q.bind_int64(4, batch.account_partitions[i]);
      } else {
        q.bind_null(4);
      }
      q.run();
    }
  }
  if (!batch.profiles.empty()) {
    auto q = db_.prepare(
        "INSERT INTO customers (customer_id, profile) VALUES (?1, ?2) "
        "ON CONFLICT (customer_id) DO UPDATE SET profile = excluded.profile");
    for (const auto* p : batch.profiles) q.bind_text(1, p->customer_id()).bind_blob(2, p->SerializeAsString()).run();
  }
  if (!batch.changes.empty()) {
    auto cur = db_.prepare(
        "INSERT INTO customers (customer_id, assignment, version) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (customer_id) DO UPDATE SET assignment = excluded.assignment, version = excluded.version");
    // before_tier: the tier of the version this one replaces (the proto's previous_tier is
    // the tier before the last tier change, which may be several versions back).
    auto before = db_.prepare("SELECT tier FROM history WHERE customer_id = ?1 AND version < ?2 "
                              "AND provisional = 0 ORDER BY version DESC LIMIT 1");
    auto hist = db_.prepare(
        "INSERT OR REPLACE INTO history (customer_id, version, effective_us, tier, before_tier, standard_version, "
        "reason, recorded_us, published, assignment, provisional) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10)");
    const int64_t now_us = micros(absl::Now());
    for (const auto* a : batch.changes) {
      const std::string blob = assignment_blob::encode(*a);
      cur.bind_text(1, a->customer_id()).bind_blob(2, blob).bind_int64(3, a->version()).run();
      before.bind_text(1, a->customer_id()).bind_int64(2, a->version());
      const std::string before_tier = before.step() ? std::string(before.column_text(0)) : std::string();
      before.reset();
      hist.bind_text(1, a->customer_id()).bind_int64(2, a->version());
      hist.bind_int64(3, micros(timeutil::from_proto(a->evaluated_time())));
      hist.bind_text(4, a->tier()).bind_text(5, before_tier).bind_text(6, a->standard_version());
      hist.bind_text(7, a->reasons_size() > 0 ? a->reasons(a->reasons_size() - 1) : a->matched_rule());
      hist.bind_int64(8, now_us).bind_blob(9, blob).bind_int64(10, a->provisional() ? 1 : 0).run();
    }
  }
  if (!batch.drop_provisional.empty()) {
    auto q = db_.prepare("DELETE FROM history WHERE customer_id = ?1 AND version > ?2 AND provisional = 1");
    for (const auto& [id, version] : batch.drop_provisional) q.bind_text(1, id).bind_int64(2, version).run();
  }
  if (!batch.marks.empty()) {
    auto q = db_.prepare(
        "INSERT INTO marks (part, watermark_us, first_as_of_us) VALUES (?1, ?2, ?3) ON CONFLICT (part) DO UPDATE "
        "SET watermark_us = excluded.watermark_us, first_as_of_us = excluded.first_as_of_us");
    for (const auto& [p, m] : batch.marks) {
      q.bind_int64(1, p).bind_int64(2, micros(m.watermark)).bind_int64(3, micros(m.first_as_of)).run();
    }
  }
  if (!batch.unhold.empty()) {
    auto q = db_.prepare("DELETE FROM held WHERE customer_id = ?1 AND version = ?2");
    for (const auto& [id, version] : batch.unhold) q.bind_text(1, id).bind_int64(2, version).run();
  }
  if (!batch.hold.empty()) {
    auto q = db_.prepare("INSERT OR REPLACE INTO held (customer_id, version, part, snapshot) VALUES (?1, ?2, ?3, ?4)");
    for (const Held* h : batch.hold) {
      q.bind_text(1, h->snapshot.customer_id()).bind_int64(2, h->snapshot.version()).bind_int64(3, h->partition);
      q.bind_blob(4, h->snapshot.SerializeAsString()).run();
    }
  }
  if (batch.point) {
    auto q = db_.prepare(
        "INSERT INTO meta (key, value) VALUES ('point_us', ?1) "
        "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)");
    q.bind_int64(1, micros(*batch.point)).run();
    if (batch.point_summary) {
      auto f = db_.prepare(
          "INSERT INTO frozen (id, point_us, summary) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET "
          "point_us = excluded.point_us, summary = excluded.summary WHERE excluded.point_us >= frozen.point_us");
      f.bind_int64(1, micros(*batch.point)).bind_blob(2, *batch.point_summary).run();
    }
  }
  if (!batch.overrides.empty()) {
    auto put = db_.prepare(
        "INSERT INTO customers (customer_id, override) VALUES (?1, ?2) "
        "ON CONFLICT (customer_id) DO UPDATE SET override = excluded.override");
    auto del = db_.prepare("UPDATE customers SET override = NULL WHERE customer_id = ?1");
    auto audit = db_.prepare(
        "INSERT INTO override_audit (customer_id, action, actor, reason_code, kind, tier, expire_us, at_us, override) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    for (const auto& o : batch.overrides) {
      const std::string blob = o.override.SerializeAsString();
      if (o.action == OverrideAction::set) {
        put.bind_text(1, o.customer_id).bind_blob(2, blob).run();
      } else {
        del.bind_text(1, o.customer_id).run();
      }
      audit.bind_text(1, o.customer_id).bind_text(2, to_string(o.action)).bind_text(3, o.actor);
      audit.bind_text(4, o.reason_code).bind_int64(5, o.override.kind()).bind_text(6, o.override.tier());
      if (o.override.has_expire_time()) {
        audit.bind_int64(7, micros(timeutil::from_proto(o.override.expire_time())));
      } else {
        audit.bind_null(7);
      }
      audit.bind_int64(8, micros(o.at)).bind_blob(9, blob).run();
    }
  }
  if (!batch.offsets.empty()) {
    auto q = db_.prepare(
        "INSERT INTO offsets (topic, part, next_offset) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset");
    for (const auto& [tp, next] : batch.offsets) q.bind_text(1, tp.first).bind_int64(2, tp.second).bind_int64(3, next).run();
  }
  if (batch.watermark) {
    auto q = db_.prepare(
        "INSERT INTO meta (key, value) VALUES ('watermark_us', ?1) "
        "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)");
    q.bind_int64(1, micros(*batch.watermark)).run();
  }
  if (!batch.published.empty()) {
    auto q = db_.prepare("UPDATE history SET published = 1 WHERE customer_id = ?1 AND version = ?2");
    for (const auto& [id, version] : batch.published) q.bind_text(1, id).bind_int64(2, version).run();
  }
  tx.commit();
}

void Store::checkpoint() {
  auto q = db_.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
  while (q.step()) {
  }
}

void Store::load(const std::function<void(CustomerRow&&)>& each) {
  auto q = db_.prepare(
      "SELECT customer_id, account, profile, assignment, override, account_part FROM customers ORDER BY customer_id");
  while (q.step()) {
    CustomerRow row;
    row.customer_id = std::string(q.column_text(0));
    row.account = parse_optional<v1::AccountSnapshot>(q, 1);
    row.profile = parse_optional<v1::CustomerProfile>(q, 2);
    row.current = parse_optional<v1::TierAssignment>(q, 3);
    row.override = parse_optional<v1::TierOverride>(q, 4);
    if (!q.column_is_null(5)) row.account_partition = static_cast<int32_t>(q.column_int64(5));
    each(std::move(row));
  }
}

std::map<Store::TopicPartition, int64_t> Store::offsets() {
  auto q = db_.prepare("SELECT topic, part, next_offset FROM offsets");
  std::map<TopicPartition, int64_t> out;
  while (q.step()) {
    out[{std::string(q.column_text(0)), static_cast<int32_t>(q.column_int64(1))}] = q.column_int64(2);
  }
  return out;
}

std::optional<absl::Time> Store::watermark() {
  auto q = db_.prepare("SELECT value FROM meta WHERE key = 'watermark_us'");
  if (!q.step()) return std::nullopt;
  return from_micros(q.column_int64(0));
}

std::optional<absl::Time> Store::point() {
  auto q = db_.prepare("SELECT value FROM meta WHERE key = 'point_us'");
  if (!q.step()) return std::nullopt;
  return from_stored(q.column_int64(0));
}

std::optional<std::pair<absl::Time, std::string>> Store::frozen() {
  auto q = db_.prepare("SELECT point_us, summary FROM frozen WHERE id = 1");
  if (!q.step()) return std::nullopt;
  return std::make_pair(from_stored(q.column_int64(0)), std::string(q.column_blob(1)));
}

std::map<int32_t, Store::Mark> Store::marks() {
  auto q = db_.prepare("SELECT part, watermark_us, first_as_of_us FROM marks");
  std::map<int32_t, Mark> out;
  while (q.step()) {
    out[static_cast<int32_t>(q.column_int64(0))] = Mark{from_stored(q.column_int64(1)), from_stored(q.column_int64(2))};
  }
  return out;
}

std::vector<Store::Held> Store::held() {
  auto q = db_.prepare("SELECT part, snapshot FROM held ORDER BY customer_id, version");
  std::vector<Held> out;
  while (q.step()) out.push_back(Held{static_cast<int32_t>(q.column_int64(0)), parse_blob<v1::AccountSnapshot>(q, 1)});
  return out;
}

std::optional<v1::TierAssignment> Store::record(const std::string& customer_id) {
  auto q = db_.prepare(
      "SELECT assignment FROM history WHERE customer_id = ?1 AND provisional = 0 ORDER BY version DESC LIMIT 1");
  q.bind_text(1, customer_id);
  if (!q.step()) return std::nullopt;
  return parse_blob<v1::TierAssignment>(q, 0);
}

bool Store::has_customer(const std::string& customer_id) {
  auto q = db_.prepare("SELECT 1 FROM customers WHERE customer_id = ?1");
  q.bind_text(1, customer_id);
  return q.step();
}

std::optional<v1::TierAssignment> Store::current(const std::string& customer_id) {
  auto q = db_.prepare("SELECT assignment FROM customers WHERE customer_id = ?1 AND assignment IS NOT NULL");
  q.bind_text(1, customer_id);
  if (!q.step()) return std::nullopt;
  return parse_blob<v1::TierAssignment>(q, 0);
}

void Store::currents(const std::string& after, const std::function<bool(v1::TierAssignment&&)>& each) {
  auto q = db_.prepare(
      "SELECT assignment FROM customers WHERE customer_id > ?1 AND assignment IS NOT NULL ORDER BY customer_id");
  q.bind_text(1, after);
  while (q.step()) {
    if (!each(parse_blob<v1::TierAssignment>(q, 0))) return;
  }
}

namespace {
// What a history reader calls a change: the tier, the credit hold, or the pending
// downgrade (set, cleared, or another target or date). Versions that move only the
// matched rule, a class or the standard version are published, but are not history.
bool same_for_history(const v1::TierAssignment& a, const v1::TierAssignment& b) {
  if (a.tier() != b.tier() || a.credit_hold() != b.credit_hold()) return false;
  if (a.has_pending_downgrade() != b.has_pending_downgrade()) return false;
  if (!a.has_pending_downgrade()) return true;
  return a.pending_downgrade().to_tier() == b.pending_downgrade().to_tier() &&
         a.pending_downgrade().effective_time().seconds() == b.pending_downgrade().effective_time().seconds();
}
}  // namespace

std::vector<v1::TierAssignment> Store::history(const std::string& customer_id, int64_t before_version, int limit,
                                               bool* more) {
  // Newest first; a row is kept when it differs from the next older one (the oldest row,
  // the first assignment, always counts). A customer's rows are few: this reads them all.
  auto q = db_.prepare(
      "SELECT assignment FROM history WHERE customer_id = ?1 AND version < ?2 AND provisional = 0 "
      "ORDER BY version DESC");
  q.bind_text(1, customer_id).bind_int64(2, before_version > 0 ? before_version : INT64_MAX);
  std::vector<v1::TierAssignment> out;
  *more = false;
  std::optional<v1::TierAssignment> newer;  // read, not yet known to be a change
  auto offer = [&](v1::TierAssignment&& row) {
    if (static_cast<int>(out.size()) == limit) {
      *more = true;
      return false;
    }
    out.push_back(std::move(row));
    return true;
  };
  while (q.step()) {
    v1::TierAssignment row = parse_blob<v1::TierAssignment>(q, 0);
    if (newer && !same_for_history(*newer, row) && !offer(std::move(*newer))) return out;
    newer = std::move(row);
  }
  if (newer) offer(std::move(*newer));
  return out;
}

std::optional<v1::TierAssignment> Store::before_override(const std::string& customer_id, int64_t before_version) {
  auto q = db_.prepare(
      "SELECT assignment FROM history WHERE customer_id = ?1 AND version < ?2 AND provisional = 0 "
      "ORDER BY version DESC");
  q.bind_text(1, customer_id).bind_int64(2, before_version);
  while (q.step()) {
    auto a = parse_blob<v1::TierAssignment>(q, 0);
    if (!a.has_override()) return a;
  }
  return std::nullopt;
}

std::optional<v1::TierAssignment> Store::as_of(const std::string& customer_id, absl::Time t) {
  auto q = db_.prepare(
      "SELECT assignment FROM history WHERE customer_id = ?1 AND effective_us <= ?2 AND provisional = 0 "
      "ORDER BY version DESC LIMIT 1");
  q.bind_text(1, customer_id).bind_int64(2, micros(t));
  if (!q.step()) return std::nullopt;
  return parse_blob<v1::TierAssignment>(q, 0);
}

std::vector<v1::TierAssignment> Store::unpublished() {
  auto q = db_.prepare("SELECT assignment FROM history WHERE published = 0 ORDER BY customer_id, version");
  std::vector<v1::TierAssignment> out;
  while (q.step()) out.push_back(parse_blob<v1::TierAssignment>(q, 0));
  return out;
}

std::vector<Store::AuditEntry> Store::override_audit(const std::string& customer_id) {
  auto q = db_.prepare(
      "SELECT id, action, actor, reason_code, at_us, override FROM override_audit WHERE customer_id = ?1 ORDER BY id");
  q.bind_text(1, customer_id);
  std::vector<AuditEntry> out;
  while (q.step()) {
    AuditEntry e;
    e.id = q.column_int64(0);
    e.customer_id = customer_id;
    e.action = parse_action(q.column_text(1));
    e.actor = std::string(q.column_text(2));
    e.reason_code = std::string(q.column_text(3));
    e.at = from_micros(q.column_int64(4));
    e.override = parse_blob<v1::TierOverride>(q, 5);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace tierflow::classification
