// The ledger scenarios (ledger_scenarios.h) on the SQLite backend, one file per test under
// gtest's temporary directory.
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "idle_partition_scenarios.h"
#include "ledger_scenarios.h"
#include "snapshot_clock_scenarios.h"
#include "tierflow/sql/sqlite.h"

namespace tierflow::ledger {
namespace {

class SqliteDatabase final : public TestDatabase {
 public:
  // test_name may hold '/' (a parameterised test's "Scenario/Param"): one directory level.
  explicit SqliteDatabase(const std::string& test_name)
      : dir_(std::filesystem::path(::testing::TempDir()) /
             ("tierflow-ledger-" + std::to_string(::getpid()) + "-" + flat(test_name))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~SqliteDatabase() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<Store> open() override { return make_sqlite_store(path()); }
  std::string path() const { return (dir_ / "ledger.db").string(); }

 private:
  static std::string flat(std::string name) {
    std::replace(name.begin(), name.end(), '/', '-');
    return name;
  }
  std::filesystem::path dir_;
};

BackendParam sqlite_backend() {
  return {"Sqlite", [] { return std::optional<std::string>(); },
          [](const std::string& name) -> std::unique_ptr<TestDatabase> {
            return std::make_unique<SqliteDatabase>(name);
          }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, LedgerTest, ::testing::Values(sqlite_backend(), pipelined(sqlite_backend())),
                         backend_name);

// The SQLite store serves pending_outbox() from memory for the rows it wrote: the answers
// must equal what the table holds (read through another connection), across rollbacks,
// acks, and commits by another connection.
std::vector<std::pair<int64_t, std::string>> outbox_of(Store& s) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (auto& m : s.pending_outbox(1000)) out.emplace_back(m.id, m.customer_id + "/" + m.payload + "/" + m.topic + "/" + m.error);
  return out;
}

void write_outbox(Store& s, int first, int n, bool commit = true) {
  Changes c;
  for (int i = first; i < first + n; ++i) {
    c.outbox.push_back({i % 2 ? "ledger.accounts.v1" : "dlq", "c" + std::to_string(i), "p" + std::to_string(i), i % 2 ? "" : "why"});
  }
  s.begin();
  s.write(c);
  if (commit) {
    s.commit();
  } else {
    s.rollback();
  }
}

TEST(SqliteStoreOutbox, MemoryServedRowsEqualTheTable) {
  SqliteDatabase db("SqliteStoreOutbox");
  auto a = db.open();
  auto b = db.open();
  EXPECT_TRUE(outbox_of(*a).empty());  // reads the (empty) table: from now on from memory
  write_outbox(*a, 0, 3);
  EXPECT_EQ(outbox_of(*a), outbox_of(*b));
  EXPECT_EQ(outbox_of(*a).size(), 3u);
  write_outbox(*a, 3, 70);  // one multi-row statement and single rows
  write_outbox(*a, 100, 2, /*commit=*/false);
  EXPECT_EQ(outbox_of(*a).size(), 73u);
  EXPECT_EQ(outbox_of(*a), outbox_of(*b));
  EXPECT_EQ(a->pending_outbox(5).size(), 5u);
  a->ack_outbox(outbox_of(*a)[9].second.empty() ? 0 : outbox_of(*a)[9].first);
  EXPECT_EQ(outbox_of(*a).size(), 63u);
  EXPECT_EQ(outbox_of(*a), outbox_of(*b));
  write_outbox(*b, 200, 4);  // another connection: a must see it
  EXPECT_EQ(outbox_of(*a).size(), 67u);
  EXPECT_EQ(outbox_of(*a), outbox_of(*b));
  a->ack_outbox(a->pending_outbox(2).back().id);  // moved out, then acknowledged
  EXPECT_EQ(outbox_of(*a).size(), 65u);
  EXPECT_EQ(outbox_of(*a), outbox_of(*b));
  a->pending_outbox(3);
  a->ack_outbox(a->pending_outbox(1).back().id);  // only part of what was moved out
  EXPECT_EQ(outbox_of(*a).size(), 64u);
  EXPECT_EQ(outbox_of(*a), outbox_of(*b));
  write_outbox(*a, 300, 1);
  b->ack_outbox(outbox_of(*b)[60].first);
  EXPECT_EQ(outbox_of(*a), outbox_of(*b));
  EXPECT_EQ(outbox_of(*a).size(), 4u);
}

// Snapshot rows keep their payload in the table: reading the table (a restart, or another
// connection) gives every row the memory served, superseded versions included (a
// customer's last snapshot of a day is needed even when a later day's follows). Rows
// written before that kept (version, as_of) only: they are still rebuilt from the
// customer's stored state, equal to the memory's, and skipped once superseded.
TEST(SqliteStoreOutbox, SnapshotsRebuiltFromTheTableEqualTheOnesServedFromMemory) {
  SqliteDatabase db("SqliteStoreSnapshots");
  auto ledger = Ledger::open(db.open());
  EXPECT_TRUE(ledger->pending_outbox(100).empty());  // read the table: from now on memory
  int64_t offset = 0;
  auto feed = [&](const std::vector<v1::PosEvent>& events) {
    std::vector<std::string> values;
    for (const auto& e : events) values.push_back(e.SerializeAsString());
    std::vector<ConsumedRecord> batch;
    for (size_t i = 0; i < values.size(); ++i) {
      batch.push_back({"pos.events.v1", 0, offset++, events[i].customer_id(), values[i]});
    }
    EXPECT_EQ(ledger->apply(batch).applied, static_cast<int64_t>(events.size()));
  };
  feed({on_account("s-1", "c-1", day(0), 10000, 30), sale("s-2", "c-2", day(1), 500)});
  feed({payment("p-1", "c-1", day(40), 4000)});

  auto memory = ledger->pending_outbox(100);  // c-1 v1, c-2 v1, c-1 v2
  ASSERT_EQ(memory.size(), 3u);
  auto canonical = [](const OutboxMessage& m) {
    v1::AccountSnapshot s;
    EXPECT_TRUE(s.ParseFromString(m.payload)) << m.id;
    return s.SerializeAsString();
  };
  auto kept = db.open()->pending_outbox(100);
  ASSERT_EQ(kept.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(kept[i].id, memory[i].id);
    EXPECT_EQ(kept[i].payload, memory[i].payload);
  }
  ledger->ack_outbox(memory[2].id);

  // The older form: (version, as_of) rows, as files made before issue 10 hold them.
  {
    auto store = db.open();
    Changes c;
    c.outbox.push_back({"ledger.accounts.v1", "c-1", "", "", 1, absl::ToUnixMicros(day(0))});
    c.outbox.push_back({"ledger.accounts.v1", "c-2", "", "", 1, absl::ToUnixMicros(day(1))});
    c.outbox.push_back({"ledger.accounts.v1", "c-1", "", "", 2, absl::ToUnixMicros(day(40))});
    store->begin();
    store->write(c);
    store->commit();
  }
  auto table = db.open()->pending_outbox(100);  // c-1 v1 superseded by v2
  ASSERT_EQ(table.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const OutboxMessage& want = memory[i + 1];
    EXPECT_EQ(table[i].customer_id, want.customer_id);
    EXPECT_EQ(table[i].topic, "ledger.accounts.v1");
    EXPECT_EQ(canonical(table[i]), canonical(want));
  }
  v1::AccountSnapshot c1;
  ASSERT_TRUE(c1.ParseFromString(table[1].payload));
  EXPECT_EQ(c1.version(), 2);
  EXPECT_EQ(c1.receivable_minor(), 6000);
  EXPECT_EQ(c1.open_invoices_size(), 1);
  EXPECT_EQ(absl::FromUnixSeconds(c1.as_of().seconds()), day(40));
  EXPECT_EQ(c1.ageing().days_1_30_minor(), 6000);  // due day 30, 10 days late on day 40
}

// A file made before the outbox kept origins still opens: its rows read back without one
// (relayed without the origin header), and rows written from then on carry theirs.
TEST(SqliteStoreOutbox, FilesWithoutTheOriginColumnStillOpen) {
  SqliteDatabase db("SqliteStoreOldOutbox");
  {
    auto old = sql::sqlite::Db::open(db.path());
    old.exec(
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
        "customer_id TEXT NOT NULL, payload BLOB NOT NULL, error TEXT NOT NULL, "
        "version INTEGER NOT NULL DEFAULT 0, as_of INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO outbox(topic, customer_id, payload, error) VALUES('pos.events.v1.dlq', 'c-1', x'00ff', 'why');");
  }
  auto store = db.open();
  auto rows = store->pending_outbox(10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].topic, "pos.events.v1.dlq");
  EXPECT_EQ(rows[0].payload, std::string("\0\xff", 2));
  EXPECT_EQ(rows[0].error, "why");
  EXPECT_TRUE(rows[0].origin.empty());

  Changes c;
  c.outbox.push_back({"pos.events.v1.dlq", "c-2", "p", "bad"});
  c.outbox.back().origin = "pos.events.v1/3@7";
  store->begin();
  store->write(c);
  store->commit();
  rows = db.open()->pending_outbox(10);  // another connection: read from the table
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].origin.empty());
  EXPECT_EQ(rows[1].origin, "pos.events.v1/3@7");
  EXPECT_EQ(rows[1].error, "bad");
}

}  // namespace
}  // namespace tierflow::ledger
