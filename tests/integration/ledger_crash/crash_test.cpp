// The ledger's exactly-once claim, for real: devbroker and the tierflow-ledger binary as
// child processes; 200,000 records (sales cash/card/on account/mixed, payments oldest-first
// or naming an invoice, refunds naming sales, refunds that arrive before their sale,
// returns without receipt, feedback, duplicate event ids, invalid records) streamed into
// pos.events.v1 with the idempotent producer, while the main thread SIGKILLs the ledger at
// random points at least 20 times and restarts it. Afterwards every customer's account
// and journal must equal what the workload's oracle computed (crash_workload.h): nothing
// lost, nothing posted twice, the trial balance zero, each invalid record in the DLQ.
//
// The store backend is the test parameter (ledger_harness.h): sqlite, and postgres on a
// server of the test's own (skipped when the PostgreSQL binaries are absent, or when the
// binary ignores TIERFLOW_STORE_BACKEND).
//
// Knobs (environment): TIERFLOW_CRASH_SEED (kill delays; printed), TIERFLOW_CRASH_KILLS
// (minimum kills, default 20), TIERFLOW_KEEP_TEST_DIRS (keep logs and store).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <set>
#include <thread>

#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "crash_workload.h"
#include "ledger_harness.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tierflow/v1/events.pb.h"

namespace tierflow::ledger_test {
namespace {

using Clock = std::chrono::steady_clock;
using test_support::DevBroker;
using test_support::TempDir;

constexpr int kPartitions = 12;
constexpr int kChunks = 25;  // the stream is released in chunks, paced by the kills

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// The mock broker keeps at most this much per partition (DESIGN.md): the stream must fit.
constexpr int64_t kMockPartitionBytes = 5 * 1024 * 1024;
constexpr int64_t kMockPartitionRecords = 100'000;

class LedgerCrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LedgerCrashTest, SigkillDuringStreamLosesNothingAndPostsNothingTwice) {
  if (auto why = backend_unavailable(GetParam())) GTEST_SKIP() << *why;
  const auto test_started = Clock::now();
  TempDir dir("ledger-crash");
  StoreBackend backend = make_backend(GetParam(), dir.path().string());
  DevBroker broker({devbroker_binary(), dir.path().string(), kPartitions, 3});

  // --- the workload and its oracle ------------------------------------------------------
  WorkloadConfig wcfg;
  wcfg.received_unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  const Workload w = make_workload(wcfg);
  int64_t bytes = 0, valid = 0, duplicates = 0, invalid = 0;
  std::set<std::string> invalid_values;
  for (const auto& r : w.records) {
    bytes += static_cast<int64_t>(r.value.size());
    valid += r.kind == StreamRecord::Kind::valid;
    duplicates += r.kind == StreamRecord::Kind::duplicate;
    if (r.kind == StreamRecord::Kind::invalid) {
      ++invalid;
      invalid_values.insert(r.value);
    }
  }
  ASSERT_EQ(static_cast<int64_t>(w.records.size()), wcfg.records);
  ASSERT_EQ(static_cast<int64_t>(invalid_values.size()), invalid) << "invalid records must be distinct";
  std::printf("[crash] backend %s: %s records (%s valid, %s duplicates, %s invalid), %s bytes, %zu customers\n",
              backend.name.c_str(), with_commas(wcfg.records).c_str(), with_commas(valid).c_str(),
              with_commas(duplicates).c_str(), with_commas(invalid).c_str(), with_commas(bytes).c_str(),
              w.accounts.size());
  for (const auto& [kind, n] : w.counts) std::printf("[crash]   %-28s %s\n", kind.c_str(), with_commas(n).c_str());

  // --- the ledger -------------------------------------------------------------------------
  LedgerOptions lopts;
  lopts.dir = dir.path().string();
  lopts.bootstrap_file = broker.addr_file();
  lopts.backend = backend;
  lopts.session_timeout = std::chrono::milliseconds(3000);
  LedgerProcess ledger(lopts);
  ledger.start();
  if (ledger.fell_back_to_sqlite()) {
    GTEST_SKIP() << "tierflow-ledger ignored TIERFLOW_STORE_BACKEND=" << backend.name
                 << " (it opened the SQLite fallback file): wire the backend in services/ledger/main.cpp";
  }

  // --- the stream: a producer thread, released chunk by chunk as kills happen --------------
  const int min_kills = std::max(1, env_int("TIERFLOW_CRASH_KILLS", 20));
  std::atomic<int> kills{0};
  std::atomic<bool> producer_done{false};
  std::atomic<int64_t> produced{0}, delivery_failures{0};
  std::mutex mu;  // guards the three below
  std::map<int32_t, int64_t> partition_bytes, partition_records;
  std::string producer_error, first_delivery_error;
  std::vector<std::string> markers;
  double produce_seconds = 0;
  // Waits up to 30 s for room when the local queue is full (the workload outruns the broker).
  kafka::RdkafkaProducer producer(broker.bootstrap(), "ledger-crash-test", {}, std::chrono::seconds(30));
  // A steady stream (about 4 s worth of records per kill), so kills land while batches of
  // every size are being applied; chunk k also waits until k/kChunks of the kills are done,
  // so the kills spread over the whole stream even when restarts are slow.
  const double rate = static_cast<double>(w.records.size()) / (min_kills * 4.0);  // records/s
  std::jthread feeder([&](std::stop_token stop) {
    const auto started = Clock::now();
    try {
      const size_t per_chunk = (w.records.size() + kChunks - 1) / kChunks;
      auto next_slot = Clock::now();
      for (size_t i = 0; i < w.records.size() && !stop.stop_requested(); ++i) {
        if (i % per_chunk == 0) {
          const int chunk = static_cast<int>(i / per_chunk);
          if (chunk > 0) {
            std::printf("[crash] produced %s / %s records, kills %d\n", with_commas(static_cast<int64_t>(i)).c_str(),
                        with_commas(static_cast<int64_t>(w.records.size())).c_str(), kills.load());
            std::fflush(stdout);
          }
          while (kills.load() < chunk * min_kills / kChunks && !stop.stop_requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
          next_slot = std::max(next_slot, Clock::now());
        }
        if (i % 100 == 0) {
          next_slot += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(100.0 / rate));
          std::this_thread::sleep_until(next_slot);
        }
        const StreamRecord& r = w.records[i];
        const int64_t size = static_cast<int64_t>(r.value.size());
        produce_event(producer, r.key, r.value, [&, size](const kafka::DeliveryReport& rep) {
          std::lock_guard lock(mu);
          if (!rep.ok) {
            if (delivery_failures++ == 0) first_delivery_error = rep.error;
            return;
          }
          partition_bytes[rep.partition] += size;
          partition_records[rep.partition] += 1;
        });
        ++produced;
      }
      if (!producer.flush(std::chrono::seconds(60))) throw std::runtime_error("producer did not flush in 60 s");
      produce_seconds = seconds_since(started);
      auto m = produce_partition_markers(producer, kPartitions, "crash");
      std::lock_guard lock(mu);
      markers = std::move(m);
    } catch (const std::exception& e) {
      std::lock_guard lock(mu);
      producer_error = e.what();
    }
    producer_done = true;
  });

  // --- the killer: this thread, so that it owns every ledger process it starts -------------
  uint64_t seed = static_cast<uint64_t>(env_int("TIERFLOW_CRASH_SEED", 0));
  if (seed == 0) seed = std::random_device{}();
  std::printf("[crash] kill delays seeded with %llu (TIERFLOW_CRASH_SEED to repeat)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::map<std::string, int> kills_by_moment;
  double total_restart_seconds = 0;
  while (!(kills.load() >= min_kills && producer_done.load())) {
    // Where in a ledger's life the kill lands:
    // - startup (1 in 5): 0-600 ms after its ready file (outbox relay, joining the group);
    // - first batch (3 in 10): 0-400 ms after it got its partitions, i.e. mostly inside the
    //   first, largest transaction (the backlog of the restart: up to max_batch records);
    // - steady (1 in 2): 0-1500 ms after its first batch was committed, while it applies
    //   the small batches of the steady stream.
    const uint64_t pick = rng() % 10;
    const char* moment = pick < 2 ? "startup" : (pick < 5 ? "first batch" : "steady");
    const std::chrono::milliseconds delay(pick < 2 ? rng() % 600 : (pick < 5 ? rng() % 400 : rng() % 1500));
    if (pick >= 2) {
      const auto wait_until = Clock::now() + std::chrono::seconds(10);
      while (Clock::now() < wait_until && ledger.running()) {
        if (pick < 5 ? ledger.assigned_this_life()
                     : ledger.metric("tierflow_ledger_batch_seconds_count").value_or(0) > 0) {
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    std::this_thread::sleep_for(delay);
    ASSERT_TRUE(ledger.running()) << "the ledger exited on its own (not killed)\n" << ledger.log_tail();
    const auto applied = ledger.metric("tierflow_ledger_events_total{outcome=\"applied\"}");
    const auto batches = ledger.metric("tierflow_ledger_batch_seconds_count");
    ledger.kill();
    ++kills;
    ++kills_by_moment[moment];
    std::printf("[crash] kill %d (%s +%lld ms; this life committed %s batches, %s events), produced %s\n",
                kills.load(), moment, static_cast<long long>(delay.count()),
                batches ? with_commas(static_cast<int64_t>(*batches)).c_str() : "?",
                applied ? with_commas(static_cast<int64_t>(*applied)).c_str() : "?",
                with_commas(produced.load()).c_str());
    std::fflush(stdout);
    const auto restart = Clock::now();
    ASSERT_NO_THROW(ledger.start()) << "restart " << kills.load();
    total_restart_seconds += seconds_since(restart);
  }
  feeder.join();
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(producer_error.empty()) << producer_error;
    ASSERT_EQ(delivery_failures.load(), 0) << "records not delivered, first: " << first_delivery_error;
    for (const auto& [p, b] : partition_bytes) {
      ASSERT_LT(b, kMockPartitionBytes) << "partition " << p << " exceeds what the mock broker keeps";
      ASSERT_LT(partition_records[p], kMockPartitionRecords) << "partition " << p;
    }
  }
  std::printf("[crash] stream of %s records produced in %.1f s; %d kills (%d at startup, %d in the first batch, "
              "%d steady), %d ledger starts\n",
              with_commas(produced.load()).c_str(), produce_seconds, kills.load(), kills_by_moment["startup"],
              kills_by_moment["first batch"], kills_by_moment["steady"], ledger.starts());

  // --- catch up: every partition's marker applied => everything before it applied ---------
  const auto catch_up = Clock::now();
  ASSERT_NO_THROW(wait_for_markers(ledger, markers, std::chrono::seconds(120)));
  std::printf("[crash] caught up (every partition's marker applied) %.1f s after the stream was written\n",
              seconds_since(catch_up));

  // --- compare every account with the oracle -------------------------------------------
  const auto verify = Clock::now();
  std::vector<std::string> ids;
  for (const auto& [id, acc] : w.accounts) ids.push_back(id);
  const auto accounts = fetch_accounts(ledger.grpc_target(), ids);
  const auto posted = fetch_posted_event_ids(ledger.grpc_target(), ids);
  const auto ghosts = fetch_accounts(ledger.grpc_target(), w.unknown_customers);

  int64_t lost = 0, doubled = 0, foreign = 0, wrong_accounts = 0, missing_accounts = 0;
  std::vector<std::string> examples;
  auto note = [&](const std::string& s) {
    if (examples.size() < 15) examples.push_back(s);
  };
  std::map<std::string, int64_t> sales_by_currency, refunds_by_currency, receivable_by_currency,
      credit_by_currency;
  for (const auto& [id, want] : w.accounts) {
    sales_by_currency[want.currency] += want.sales;
    refunds_by_currency[want.currency] += want.refunds;
    receivable_by_currency[want.currency] += want.receivable;
    credit_by_currency[want.currency] += want.credit;
    const auto& got = accounts.at(id);
    if (!got) {
      ++missing_accounts;
      note(id + ": no account");
      continue;
    }
    std::string diff;
    auto field = [&](const char* name, int64_t g, int64_t e) {
      if (g != e) diff += std::string(" ") + name + " " + std::to_string(g) + " (expected " + std::to_string(e) + ")";
    };
    field("sales", got->lifetime_sales_minor(), want.sales);
    field("refunds", got->lifetime_refunds_minor(), want.refunds);
    field("payments", got->lifetime_payments_minor(), want.payments);
    field("receivable", got->receivable_minor(), want.receivable);
    field("credit", got->credit_minor(), want.credit);
    field("orders", got->lifetime_orders(), want.orders);
    field("gross_profit", got->lifetime_gross_profit_minor(), want.sales - want.refunds);
    field("feedback", got->feedback().count(), want.feedback_count);
    if (want.first_purchase >= 0) {
      field("first_purchase", got->first_purchase().seconds(), want.first_purchase);
      field("last_purchase", got->last_purchase().seconds(), want.last_purchase);
    }
    if (got->currency() != want.currency) diff += " currency " + got->currency() + " (expected " + want.currency + ")";
    if (!diff.empty()) {
      ++wrong_accounts;
      note(id + ":" + diff);
    }
    // The journal: each expected event exactly once, nothing else.
    std::map<std::string, int> seen;
    for (const auto& e : posted.at(id)) ++seen[e];
    std::set<std::string> expected(want.posted.begin(), want.posted.end());
    for (const auto& e : want.posted) {
      if (seen.count(e) == 0) {
        ++lost;
        note(id + ": event " + e + " not posted");
      }
    }
    for (const auto& [e, n] : seen) {
      if (n > 1) {
        doubled += n - 1;
        note(id + ": event " + e + " posted " + std::to_string(n) + " times");
      }
      if (expected.count(e) == 0) {
        ++foreign;
        note(id + ": unexpected event " + e + " posted");
      }
    }
  }
  int64_t ghost_accounts = 0;
  for (const auto& [id, got] : ghosts) {
    if (got) {
      ++ghost_accounts;
      note(id + ": has an account but appeared only in invalid records");
    }
  }
  int64_t posted_events = 0;
  for (const auto& [id, list] : posted) posted_events += static_cast<int64_t>(list.size());
  std::printf("[crash] verified %zu accounts and %s journal entries in %.1f s: %lld lost, %lld double-posted, "
              "%lld unexpected, %lld accounts differ, %lld missing\n",
              ids.size(), with_commas(posted_events).c_str(), seconds_since(verify), static_cast<long long>(lost),
              static_cast<long long>(doubled), static_cast<long long>(foreign), static_cast<long long>(wrong_accounts),
              static_cast<long long>(missing_accounts));
  for (const auto& e : examples) std::printf("[crash]   %s\n", e.c_str());
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(doubled, 0);
  EXPECT_EQ(foreign, 0);
  EXPECT_EQ(wrong_accounts, 0);
  EXPECT_EQ(missing_accounts, 0);
  EXPECT_EQ(ghost_accounts, 0);

  // --- the trial balance ---------------------------------------------------------------
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::TrialBalance tb;
    const grpc::Status st = ledger.stub().GetTrialBalance(&ctx, v1::GetTrialBalanceRequest{}, &tb);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(tb.balanced());
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> lines;
    for (const auto& l : tb.lines()) lines[{l.account(), l.currency()}] = {l.debit_minor(), l.credit_minor()};
    for (const auto& [cur, sales] : sales_by_currency) {
      if (cur.empty()) continue;
      auto net = [&](const char* account) {  // debit - credit
        auto it = lines.find({account, cur});
        return it == lines.end() ? 0 : it->second.first - it->second.second;
      };
      EXPECT_EQ(-net("revenue"), sales) << cur;
      EXPECT_EQ(net("refunds"), refunds_by_currency[cur]) << cur;
      EXPECT_EQ(net("receivable"), receivable_by_currency[cur]) << cur;
      EXPECT_EQ(-net("customer_credit"), credit_by_currency[cur]) << cur;
      std::printf("[crash] trial balance %s: revenue %s, refunds %s, receivable %s, credit %s (balanced: %s)\n",
                  cur.c_str(), with_commas(-net("revenue")).c_str(), with_commas(net("refunds")).c_str(),
                  with_commas(net("receivable")).c_str(), with_commas(-net("customer_credit")).c_str(),
                  tb.balanced() ? "yes" : "NO");
    }
  }

  // --- graceful stop, then the DLQ: every invalid record, and nothing else -----------------
  const auto exit = ledger.stop();
  EXPECT_TRUE(exit.ok()) << "graceful stop: " << exit.describe() << "\n" << ledger.log_tail();
  const auto dlq = test_support::read_topic(broker.bootstrap(), topics::dlq(topics::kPosEvents));
  std::map<std::string, int> dlq_count;
  int64_t dlq_other = 0;
  for (const auto& r : dlq) {
    if (invalid_values.count(r.value)) {
      ++dlq_count[r.value];
    } else {
      ++dlq_other;
    }
  }
  int64_t dlq_repeats = 0;
  for (const auto& [v, n] : dlq_count) dlq_repeats += n - 1;
  std::printf("[crash] DLQ: %zu records; %zu of %zu invalid records present (%lld repeated), %lld others\n",
              dlq.size(), dlq_count.size(), invalid_values.size(), static_cast<long long>(dlq_repeats),
              static_cast<long long>(dlq_other));
  // Each invalid record must be there; a repeat is allowed (a relay that crashed after
  // publishing and before acknowledging publishes again: at least once, like snapshots).
  EXPECT_EQ(dlq_count.size(), invalid_values.size())
      << (invalid_values.size() - dlq_count.size()) << " invalid records are missing from the DLQ "
      << "(rejections published after the commit are lost when the ledger dies in between)";
  EXPECT_EQ(dlq_other, 0) << "records in the DLQ that were not sent as invalid";

  std::printf("[crash] done in %.1f s: %d kills, %s records, restarts took %.1f s in all\n",
              seconds_since(test_started), kills.load(), with_commas(produced.load()).c_str(),
              total_restart_seconds);
}

INSTANTIATE_TEST_SUITE_P(Backends, LedgerCrashTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tierflow::ledger_test
