// The snapshot clock's scenarios (issue 10; services/ledger/README.md, "Snapshot clock"),
// run on every backend like ledger_scenarios.h, whose LedgerTest fixture they use: include
// this header after that one. Partition watermarks, effective times, snapshots cut at day
// ends, watermark records, the backfill mark, and an accounts stream that is the same
// whatever the batch sizes, pipelining and restarts.
#pragma once

#include <absl/time/civil_time.h>

#include <map>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "ledger_scenarios.h"

namespace tierflow::ledger {
namespace {

v1::PosEvent backfilled(v1::PosEvent e) {
  e.set_backfill(true);
  return e;
}

absl::Time as_of_of(const v1::AccountSnapshot& s) { return absl::FromUnixSeconds(s.as_of().seconds()); }

v1::AccountSnapshot snapshot_of(const OutboxMessage& m) {
  v1::AccountSnapshot s;
  EXPECT_TRUE(s.ParseFromString(m.payload)) << m.customer_id;
  return s;
}

bool is_watermark(const OutboxMessage& m) { return m.customer_id.starts_with(kWatermarkKeyPrefix); }

// A late event (older than the partition's newest minus the lateness) counts at the
// watermark: the snapshot's as_of is the watermark, the journal keeps the real time.
TEST_P(LedgerTest, LateEventCountsAtThePartitionWatermark) {
  feed({sale("s-1", "c-2", day(10), 500)});
  feed({sale("s-2", "c-1", day(3), 700), sale("s-3", "c-3", day(9) + absl::Hours(2), 100)});
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].customer_id, "c-1");
  EXPECT_EQ(as_of_of(snapshot_of(out[1])), day(9));  // day 10 minus the default day
  // Within the lateness: its own time.
  EXPECT_EQ(as_of_of(snapshot_of(out[2])), day(9) + absl::Hours(2));
  v1::GetStatementRequest req;
  req.set_customer_id("c-1");
  auto st = ledger_->statement(req);
  ASSERT_EQ(st.entries_size(), 1);
  EXPECT_EQ(absl::FromUnixSeconds(st.entries(0).event_time().seconds()), day(3));
}

// Zero lateness: the watermark is the newest event time itself.
TEST_P(LedgerTest, ZeroLatenessCountsAnOlderEventAtTheNewest) {
  reopen(Options{.allowed_lateness = absl::ZeroDuration()});
  feed({sale("s-1", "c-2", day(10), 500), sale("s-2", "c-1", day(9), 700)});
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].customer_id, "c-1");
  EXPECT_EQ(as_of_of(snapshot_of(out[1])), day(10));
}

// One batch whose events of c-1 span three days gives three snapshots of c-1, each the
// state at the end of its day (versions +1 each); c-2's single day gives one.
TEST_P(LedgerTest, SnapshotsNeverStraddleADayEnd) {
  feed({sale("s-1", "c-1", day(1) + absl::Hours(9), 100), sale("s-2", "c-1", day(1) + absl::Hours(20), 200),
        sale("s-9", "c-2", day(2) + absl::Hours(1), 5), sale("s-3", "c-1", day(2) + absl::Hours(8), 400),
        sale("s-4", "c-1", day(4), 800)});  // day(4) is midnight: it belongs to the day ending then
  auto out = ledger_->pending_outbox(100);
  std::vector<v1::AccountSnapshot> c1;
  for (const auto& m : out) {
    if (m.customer_id == "c-1") c1.push_back(snapshot_of(m));
  }
  ASSERT_EQ(c1.size(), 3u);
  EXPECT_EQ(c1[0].version(), 1);
  EXPECT_EQ(c1[0].lifetime_sales_minor(), 300);
  EXPECT_EQ(as_of_of(c1[0]), day(1) + absl::Hours(20));
  EXPECT_EQ(c1[1].version(), 2);
  EXPECT_EQ(c1[1].lifetime_sales_minor(), 700);
  EXPECT_EQ(as_of_of(c1[1]), day(2) + absl::Hours(8));
  EXPECT_EQ(c1[2].version(), 3);
  EXPECT_EQ(c1[2].lifetime_sales_minor(), 1500);
  EXPECT_EQ(c1[2].lifetime_orders(), 4);
  EXPECT_EQ(as_of_of(c1[2]), day(4));
  EXPECT_EQ(out.size(), 4u);
  EXPECT_EQ(account("c-1").version(), 3);
}

// Day ends are local midnights of snapshot_day_zone (Asia/Shanghai: 16:00 UTC).
TEST_P(LedgerTest, DayEndsFollowTheSnapshotZone) {
  Options options;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &options.snapshot_day_zone));
  reopen(options);
  feed({sale("s-1", "c-1", day(1) + absl::Hours(10), 100), sale("s-2", "c-1", day(1) + absl::Hours(15), 200),
        sale("s-3", "c-1", day(1) + absl::Hours(17), 400)});
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(snapshot_of(out[0]).lifetime_sales_minor(), 300);
  EXPECT_EQ(snapshot_of(out[1]).lifetime_sales_minor(), 700);
}

// After each batch, one LedgerWatermark record per partition it consumed, after its
// snapshots: key "~watermark/<p>", watermark = newest event time - lateness, the next
// offset.
TEST_P(LedgerTest, WatermarkRecordsFollowTheBatchSnapshots) {
  reopen(Options{.watermark_records = true});
  feed({sale("s-1", "c-1", day(5), 100), sale("s-2", "c-2", day(7), 200), sale("s-3", "c-1", day(6), 50)}, 2);
  feed({sale("s-4", "c-3", day(1), 10)}, 0);
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 6u);  // c-1 day 5 (cut), c-1 day 6, c-2; mark 2; c-3; mark 0
  out.erase(out.begin());
  EXPECT_EQ(out[2].customer_id, "~watermark/2");
  EXPECT_EQ(out[2].topic, "ledger.accounts.v1");
  v1::LedgerWatermark mark;
  ASSERT_TRUE(mark.ParseFromString(out[2].payload));
  EXPECT_EQ(mark.partition(), 2);
  EXPECT_EQ(absl::FromUnixSeconds(mark.watermark().seconds()), day(6));
  EXPECT_EQ(mark.input_offset(), 3);
  EXPECT_EQ(as_of_of(snapshot_of(out[0])), day(6));  // s-3 at day 6 is not late
  EXPECT_EQ(out[4].customer_id, "~watermark/0");
  ASSERT_TRUE(mark.ParseFromString(out[4].payload));
  EXPECT_EQ(mark.partition(), 0);
  EXPECT_EQ(absl::FromUnixSeconds(mark.watermark().seconds()), day(0));
  EXPECT_EQ(mark.input_offset(), 1);
  // A batch of duplicates and replays still marks its partition.
  ledger_->ack_outbox(out.back().id);
  feed({sale("s-4", "c-3", day(3), 10)}, 0);
  out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(mark.ParseFromString(out[0].payload));
  EXPECT_EQ(absl::FromUnixSeconds(mark.watermark().seconds()), day(2));
  EXPECT_EQ(mark.input_offset(), 2);
}

// The watermark is stored with the offsets: after a reopen a late event still counts at it.
TEST_P(LedgerTest, WatermarkIsRestoredAfterReopen) {
  feed({sale("s-1", "c-2", day(10), 500)}, 1);
  reopen(Options{.watermark_records = true});
  feed({sale("s-2", "c-1", day(3), 700)}, 1);
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(as_of_of(snapshot_of(out[1])), day(9));
  v1::LedgerWatermark mark;
  ASSERT_TRUE(mark.ParseFromString(out[2].payload));
  EXPECT_EQ(absl::FromUnixSeconds(mark.watermark().seconds()), day(9));
  EXPECT_EQ(mark.input_offset(), 2);
}

// AccountSnapshot.backfill: every event since the customer's previous snapshot was a
// backfill.
TEST_P(LedgerTest, BackfillMarksSnapshotsOfBackfilledEventsOnly) {
  feed({backfilled(sale("s-1", "c-1", day(1), 100)), backfilled(sale("s-2", "c-1", day(1), 100)),
        backfilled(sale("s-3", "c-2", day(1), 100)), sale("s-4", "c-2", day(1), 100)});
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(snapshot_of(out[0]).backfill());
  EXPECT_FALSE(snapshot_of(out[1]).backfill());
  ledger_->ack_outbox(out.back().id);
  // A day cut: the earlier day's snapshot is a backfill's, the later one's not.
  feed({backfilled(sale("s-5", "c-1", day(2), 100)), sale("s-6", "c-1", day(3), 100),
        sale("s-7", "c-2", day(3), 100)});
  out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].customer_id, "c-1");
  EXPECT_TRUE(snapshot_of(out[0]).backfill());
  EXPECT_FALSE(snapshot_of(out[1]).backfill());
  EXPECT_FALSE(snapshot_of(out[2]).backfill());
  EXPECT_EQ(account("c-1").lifetime_sales_minor(), 400);
}

// --- the accounts stream is a function of the input log -------------------------------

// A generated log over three partitions: ~60 days, late events up to 3 days, refunds,
// payments of invoices, feedback, some backfill.
struct GeneratedLog {
  struct Record {
    int32_t partition;
    std::string key, value;
  };
  std::vector<Record> records;
};

GeneratedLog generate_log(int n) {
  std::mt19937_64 rng(7);
  GeneratedLog log;
  std::vector<absl::Time> clock(3, day(0));
  std::map<std::string, std::vector<std::string>> sales;
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % 40);
    const std::string customer = "c-" + std::to_string(c);
    const int32_t p = c % 3;
    clock[p] += absl::Minutes(static_cast<int64_t>(rng() % 90));
    absl::Time t = clock[p];
    if (rng() % 10 == 0) t -= absl::Minutes(static_cast<int64_t>(rng() % (3 * 24 * 60)));  // late
    const std::string id = "e-" + std::to_string(i);
    v1::PosEvent e;
    const int kind = static_cast<int>(rng() % 10);
    auto& own = sales[customer];
    if (kind < 6 || own.empty()) {
      e = kind % 2 == 0 ? on_account(id, customer, t, 1000 + static_cast<int64_t>(rng() % 9000), 30)
                        : sale(id, customer, t, 500 + static_cast<int64_t>(rng() % 5000));
      own.push_back(id);
    } else if (kind == 6) {
      e = refund(id, customer, t, 1 + static_cast<int64_t>(rng() % 100), own[rng() % own.size()]);
    } else if (kind < 9) {
      e = payment(id, customer, t, 100 + static_cast<int64_t>(rng() % 3000));
    } else {
      e = feedback(id, customer, t, static_cast<int>(rng() % 11));
    }
    if (rng() % 5 == 0) e.set_backfill(true);
    log.records.push_back({p, customer, e.SerializeAsString()});
  }
  return log;
}

// What a reader of ledger.accounts.v1 can rely on, independent of batching: per customer
// and evaluation day, the last snapshot of that day (version cleared: it counts snapshots);
// per partition, the final watermark record. Also checks, on the raw stream, that marks
// never go back and that no snapshot after a mark is dated before it.
struct StreamView {
  std::map<std::pair<std::string, absl::CivilDay>, std::string> day_last;
  std::map<std::string, std::string> final_marks;
  bool operator==(const StreamView&) const = default;
};

// The first difference, for a failure message.
std::string difference(const StreamView& a, const StreamView& b) {
  if (a.final_marks != b.final_marks) return "final watermarks differ";
  for (const auto& [key, bytes] : a.day_last) {
    auto it = b.day_last.find(key);
    if (it == b.day_last.end()) return key.first + " " + absl::FormatCivilTime(key.second) + ": missing";
    if (it->second != bytes) {
      v1::AccountSnapshot x, y;
      x.ParseFromString(bytes);
      y.ParseFromString(it->second);
      std::string out = key.first + " " + absl::FormatCivilTime(key.second) + ":";
      std::istringstream xs(x.DebugString()), ys(y.DebugString());
      for (std::string xl, yl; std::getline(xs, xl) || std::getline(ys, yl);) {
        std::getline(ys, yl);
        if (xl != yl) out += "\n  " + xl + " | " + yl;
      }
      return out;
    }
  }
  if (a.day_last.size() != b.day_last.size()) return "extra days";
  return "";
}

StreamView view_of(const std::vector<OutboxMessage>& stream, const std::map<std::string, int32_t>& partition_of) {
  StreamView v;
  std::map<int32_t, absl::Time> mark;
  for (const auto& m : stream) {
    if (is_watermark(m)) {
      v1::LedgerWatermark w;
      EXPECT_TRUE(w.ParseFromString(m.payload));
      const absl::Time t = absl::FromUnixSeconds(w.watermark().seconds());
      auto [it, fresh] = mark.emplace(w.partition(), t);
      EXPECT_GE(t, it->second) << "partition " << w.partition();
      it->second = t;
      v.final_marks[m.customer_id] = m.payload;
      continue;
    }
    v1::AccountSnapshot s = snapshot_of(m);
    const absl::Time as_of = as_of_of(s);
    if (auto it = mark.find(partition_of.at(s.customer_id())); it != mark.end()) {
      EXPECT_GE(as_of, it->second) << s.customer_id() << " dated before its partition's mark";
    }
    // The evaluation day that holds as_of: (midnight, midnight].
    const absl::CivilDay d = absl::ToCivilDay(as_of - absl::Nanoseconds(1), absl::UTCTimeZone());
    s.clear_version();
    v.day_last[{s.customer_id(), d}] = s.SerializeAsString();
  }
  return v;
}

TEST_P(LedgerTest, AccountsStreamIsTheSameWhateverTheBatchingPipeliningAndRestarts) {
  const GeneratedLog log = generate_log(1500);
  std::map<std::string, int32_t> partition_of;
  for (const auto& r : log.records) partition_of[r.key] = r.partition;
  int run_number = 0;
  StreamView last;
  // Feeds the log in batches of `size` (records of all partitions in log order), relaying
  // (reading and acknowledging) after every batch but the one before a reopen.
  auto run = [&](size_t size, bool pipeline, size_t reopen_after) {
    auto db = GetParam().create(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                                "Run" + std::to_string(++run_number));
    Options options{.pipeline = pipeline, .watermark_records = true};
    auto ledger = Ledger::open(db->open(), options);
    std::vector<OutboxMessage> stream;
    auto relay = [&] {
      auto rows = ledger->pending_outbox(1'000'000);
      if (rows.empty()) return;
      ledger->ack_outbox(rows.back().id);
      for (auto& m : rows) stream.push_back(std::move(m));
    };
    std::map<int32_t, int64_t> next;
    size_t fed = 0;
    while (fed < log.records.size()) {
      std::vector<ConsumedRecord> batch;
      for (size_t i = fed; i < std::min(log.records.size(), fed + size); ++i) {
        const auto& r = log.records[i];
        batch.push_back({"pos.events.v1", r.partition, next[r.partition]++, r.key, r.value});
      }
      const size_t before = fed;
      fed += batch.size();
      const auto result = ledger->apply(batch);
      EXPECT_TRUE(result.rejected.empty()) << result.rejected.front().reason;
      if (before < reopen_after && fed >= reopen_after) {
        ledger.reset();  // unrelayed rows stay in the outbox
        ledger = Ledger::open(db->open(), options);
      }
      relay();
    }
    ledger->sync();
    relay();
    last = view_of(stream, partition_of);
    return last;
  };
  constexpr size_t kNever = SIZE_MAX;
  const StreamView one = run(1, GetParam().pipeline, kNever);
  EXPECT_EQ(one.final_marks.size(), 3u);
  EXPECT_GT(one.day_last.size(), 400u);
  EXPECT_TRUE(run(7, GetParam().pipeline, kNever) == one) << difference(one, last);
  EXPECT_TRUE(run(20'000, GetParam().pipeline, kNever) == one) << difference(one, last);
  EXPECT_TRUE(run(7, !GetParam().pipeline, kNever) == one) << difference(one, last);
  EXPECT_TRUE(run(20'000, !GetParam().pipeline, kNever) == one) << difference(one, last);
  EXPECT_TRUE(run(7, GetParam().pipeline, 700) == one) << difference(one, last);
  EXPECT_TRUE(run(500, GetParam().pipeline, 700) == one) << difference(one, last);
}

}  // namespace
}  // namespace tierflow::ledger
