// Idle partitions (services/ledger/README.md, "Idle partitions"), on every backend: include
// this header after snapshot_clock_scenarios.h, whose helpers it uses. A caught-up
// partition behind the instance's newest watermark by more than idle_partition_after is
// advanced and marked in the batch's transaction; a lagging one is not; the accounts stream
// stays a function of the log when every partition is busy.
#pragma once

#include "snapshot_clock_scenarios.h"

namespace tierflow::ledger {
namespace {

absl::Time mark_time(const std::string& payload) {
  v1::LedgerWatermark w;
  EXPECT_TRUE(w.ParseFromString(payload));
  return absl::FromUnixSeconds(w.watermark().seconds());
}

absl::Time mark_time(const OutboxMessage& m) { return mark_time(m.payload); }

// The marks among `rows`, by key.
std::map<std::string, OutboxMessage> marks_of(const std::vector<OutboxMessage>& rows) {
  std::map<std::string, OutboxMessage> out;
  for (const auto& m : rows) {
    if (is_watermark(m)) out[m.customer_id] = m;
  }
  return out;
}

// Partition 0 busy at day 10 (watermark day 9); 1 caught up at day 2; 2 empty; 3 with
// records not consumed yet. After partition 0's batch, 1 and 2 are marked at day 9 - 1 day
// in the same transaction; 3 is not. A late event on 1 then counts at its mark, also after
// a reopen (the advanced watermark is stored with the offset).
TEST_P(LedgerTest, IdlePartitionIsMarkedAtTheNewestWatermarkLessTheIdleTime) {
  const Options options{.watermark_records = true, .idle_partition_after = absl::Hours(24)};
  reopen(options);
  feed({sale("s-1", "c-1", day(2), 100)}, 1);
  ledger_->ack_outbox(ledger_->pending_outbox(100).back().id);
  std::vector<ConsumedRecord> batch;
  const std::string value = sale("s-2", "c-2", day(10), 200).SerializeAsString();
  batch.push_back({"pos.events.v1", 0, 0, "c-2", value});
  const std::vector<OwnedPartition> owned{{"pos.events.v1", 0, 1, true},
                                          {"pos.events.v1", 1, 1, true},
                                          {"pos.events.v1", 2, 0, true},
                                          {"pos.events.v1", 3, 0, false}};
  ledger_->apply(batch, owned);
  ledger_->sync();  // pipelined: pending_outbox() returns what is committed
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 4u);  // c-2, then marks 0, 1, 2 (partition order)
  EXPECT_EQ(out[0].customer_id, "c-2");
  const auto marks = marks_of(out);
  ASSERT_EQ(marks.size(), 3u);
  EXPECT_EQ(mark_time(marks.at("~watermark/0")), day(9));
  EXPECT_EQ(mark_time(marks.at("~watermark/1")), day(8));
  EXPECT_EQ(mark_time(marks.at("~watermark/2")), day(8));
  EXPECT_FALSE(marks.contains("~watermark/3"));  // lagging: never marked from others' clocks
  v1::LedgerWatermark w;
  ASSERT_TRUE(w.ParseFromString(marks.at("~watermark/2").payload));
  EXPECT_EQ(w.input_offset(), 0);
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 2), 0);  // stored: a restart starts there
  ledger_->ack_outbox(out.back().id);
  // Nothing more to mark: no transaction, nothing in the outbox.
  EXPECT_FALSE(ledger_->mark_idle(owned));
  ledger_->sync();
  EXPECT_TRUE(ledger_->pending_outbox(100).empty());

  reopen(options);
  feed({sale("s-3", "c-1", day(3), 50)}, 1);  // late: counts at partition 1's mark
  out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(as_of_of(snapshot_of(out[0])), day(8));
  EXPECT_EQ(mark_time(out[1]), day(8));
  const auto statement = [&] {
    v1::GetStatementRequest req;
    req.set_customer_id("c-1");
    return ledger_->statement(req);
  }();
  ASSERT_EQ(statement.entries_size(), 2);
  EXPECT_EQ(absl::FromUnixSeconds(statement.entries(1).event_time().seconds()), day(3));  // the real time
}

// Between batches (a partition whose end became known without records): mark_idle writes
// the marks in a transaction of its own; a consumer position that disagrees with the stored
// offset, or idle marks off, marks nothing.
TEST_P(LedgerTest, MarkIdleBetweenBatchesAndOnlyAtTheStoredPosition) {
  reopen(Options{.watermark_records = true});
  feed({sale("s-1", "c-1", day(20), 100)}, 0);
  feed({sale("s-2", "c-2", day(1), 100)}, 1);
  ledger_->ack_outbox(ledger_->pending_outbox(100).back().id);
  const std::vector<OwnedPartition> wrong_position{{"pos.events.v1", 0, 1, true}, {"pos.events.v1", 1, 7, true}};
  EXPECT_FALSE(ledger_->mark_idle(wrong_position));
  const std::vector<OwnedPartition> owned{{"pos.events.v1", 0, 1, true}, {"pos.events.v1", 1, 1, true}};
  EXPECT_TRUE(ledger_->mark_idle(owned));
  ledger_->sync();
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].customer_id, "~watermark/1");
  EXPECT_EQ(mark_time(out[0]), day(18));
  reopen(Options{.watermark_records = false});
  EXPECT_FALSE(ledger_->mark_idle(owned));
}

// The confirmation (the service asks the broker whether the partition still ends at the
// position): a partition it does not confirm is not marked; the others are.
TEST_P(LedgerTest, AnIdlePartitionNotConfirmedIsNotMarked) {
  reopen(Options{.watermark_records = true});
  feed({sale("s-1", "c-1", day(20), 100)}, 0);
  ledger_->ack_outbox(ledger_->pending_outbox(100).back().id);
  const std::vector<OwnedPartition> owned{
      {"pos.events.v1", 0, 1, true}, {"pos.events.v1", 1, 0, true}, {"pos.events.v1", 2, 0, true}};
  std::vector<int32_t> asked;
  ledger_->apply({}, owned, [&](const OwnedPartition& p) {
    asked.push_back(p.partition);
    return p.partition != 2;  // records were written to 2 since the consumer's last fetch
  });
  ledger_->sync();
  EXPECT_EQ(asked, (std::vector<int32_t>{1, 2}));  // only the ones about to be marked
  const auto marks = marks_of(ledger_->pending_outbox(100));
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(mark_time(marks.at("~watermark/1")), day(18));
  EXPECT_FALSE(ledger_->next_offset("pos.events.v1", 2).has_value());
}

// The generated log (three busy partitions) plus an empty partition 3, every partition
// owned, each caught up only once all of its records were fed (as a consumer's position
// and end say). Batches of 1 and of 20,000 give the same days' last snapshots as without
// idle marks and the same final marks; the empty partition ends at the newest watermark
// less the idle time.
TEST_P(LedgerTest, IdleMarksAreTheSameWhateverTheBatchingWhenEveryPartitionIsBusy) {
  const GeneratedLog log = generate_log(1500);
  std::map<std::string, int32_t> partition_of;
  std::map<int32_t, int64_t> ends;
  for (const auto& r : log.records) {
    partition_of[r.key] = r.partition;
    ++ends[r.partition];
  }
  ends[3] = 0;
  int run_number = 0;
  auto run = [&](size_t size, bool with_owned) {
    auto db = GetParam().create(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "Run" +
                                std::to_string(++run_number));
    auto ledger = Ledger::open(db->open(), Options{.pipeline = GetParam().pipeline, .watermark_records = true});
    std::vector<OutboxMessage> stream;
    std::map<int32_t, int64_t> next{{0, 0}, {1, 0}, {2, 0}, {3, 0}};
    size_t fed = 0;
    while (fed < log.records.size()) {
      std::vector<ConsumedRecord> batch;
      for (size_t i = fed; i < std::min(log.records.size(), fed + size); ++i) {
        const auto& r = log.records[i];
        batch.push_back({"pos.events.v1", r.partition, next[r.partition]++, r.key, r.value});
      }
      fed += batch.size();
      std::vector<OwnedPartition> owned;
      for (const auto& [p, n] : next) owned.push_back({"pos.events.v1", p, n, n == ends[p]});
      ledger->apply(batch, with_owned ? std::span<const OwnedPartition>(owned) : std::span<const OwnedPartition>());
      auto rows = ledger->pending_outbox(1'000'000);
      if (!rows.empty()) ledger->ack_outbox(rows.back().id);
      for (auto& m : rows) stream.push_back(std::move(m));
    }
    ledger->sync();
    auto rows = ledger->pending_outbox(1'000'000);
    for (auto& m : rows) stream.push_back(std::move(m));
    return view_of(stream, partition_of);
  };
  const StreamView plain = run(20'000, false);
  const StreamView one = run(1, true);
  const StreamView all = run(20'000, true);
  EXPECT_TRUE(one.day_last == plain.day_last);
  EXPECT_TRUE(all == one) << difference(one, all);
  ASSERT_EQ(one.final_marks.size(), 4u);
  absl::Time newest = absl::InfinitePast();
  for (const auto& [key, payload] : plain.final_marks) newest = std::max(newest, mark_time(payload));
  EXPECT_EQ(mark_time(one.final_marks.at("~watermark/3")), newest - absl::Hours(24));
}

}  // namespace
}  // namespace tierflow::ledger
