// The CDNOW purchase history (../shared/datasets/CDNOW_master.txt, real data) replayed into
// the real tierflow-ledger through devbroker: one cash sale per row (the pos-sim CDNOW
// parser's events). Afterwards every customer's lifetime sales and orders from the ledger
// equal the file's own sums, computed here with a parser of this test's (not pos-sim's):
// 250,031,563 cents over 23,570 customers. Skipped when the file is absent.
#include <gtest/gtest.h>

#include <absl/time/civil_time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "cdnow.h"
#include "common/kafka/kafka.h"
#include "ledger_harness.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"

namespace tierflow::ledger_test {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct FileTotals {
  int64_t cents = 0, rows = 0;
  int64_t first_day = 0, last_day = 0;  // YYYYMMDD
};

// "29.33" -> 2933, "0" -> 0, "12.5" -> 1250. The file has at most two decimals.
int64_t dollars_to_cents(const std::string& text) {
  const size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (frac.size() > 2) throw std::runtime_error("more than two decimals: " + text);
  while (frac.size() < 2) frac += '0';
  return std::stoll(whole.empty() ? "0" : whole) * 100 + std::stoll(frac);
}

// The file's sums per customer id as written in it ("00001"), read independently of pos-sim.
std::map<std::string, FileTotals> sum_file(const std::string& path) {
  std::ifstream in(path);
  std::map<std::string, FileTotals> out;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {  // the first line names the columns
      header = false;
      continue;
    }
    std::istringstream fields(line);
    std::string id, date, cds, dollars;
    if (!(fields >> id >> date >> cds >> dollars)) continue;  // blank line
    FileTotals& t = out[id];
    const int64_t day = std::stoll(date);
    t.cents += dollars_to_cents(dollars);
    if (t.rows == 0 || day < t.first_day) t.first_day = day;
    if (t.rows == 0 || day > t.last_day) t.last_day = day;
    t.rows += 1;
  }
  return out;
}

int64_t unix_seconds_of_day(int64_t yyyymmdd) {
  const absl::CivilDay d(yyyymmdd / 10000, (yyyymmdd / 100) % 100, yyyymmdd % 100);
  return absl::ToUnixSeconds(absl::FromCivil(d, absl::UTCTimeZone()));
}

class LedgerCdnowTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LedgerCdnowTest, EveryCustomersLifetimeSalesEqualTheFileSums) {
  // The build's default, or TIERFLOW_CDNOW_PATH (a worktree whose ../shared is elsewhere).
  const char* from_env = std::getenv("TIERFLOW_CDNOW_PATH");
  const std::string path = from_env != nullptr && *from_env != '\0' ? from_env : TIERFLOW_CDNOW_PATH;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  if (auto why = backend_unavailable(GetParam())) GTEST_SKIP() << *why;
  const auto started = Clock::now();

  const std::map<std::string, FileTotals> expected = sum_file(path);
  int64_t total_cents = 0, total_rows = 0;
  for (const auto& [id, t] : expected) {
    total_cents += t.cents;
    total_rows += t.rows;
  }
  // The file as documented (datasets/README.md): the oracle itself is checked first.
  ASSERT_EQ(expected.size(), 23'570u);
  ASSERT_EQ(total_rows, 69'659);
  ASSERT_EQ(total_cents, 250'031'563);

  test_support::TempDir dir("ledger-cdnow");
  StoreBackend backend = make_backend(GetParam(), dir.path().string());
  test_support::DevBroker broker({devbroker_binary(), dir.path().string(), 12, 3});
  LedgerOptions lopts;
  lopts.dir = dir.path().string();
  lopts.bootstrap_file = broker.addr_file();
  lopts.backend = backend;
  LedgerProcess ledger(lopts);
  ledger.start();
  if (ledger.fell_back_to_sqlite()) {
    GTEST_SKIP() << "tierflow-ledger ignored TIERFLOW_STORE_BACKEND=" << backend.name;
  }

  // Replay: the pos-sim parser turns each row into its POS sale.
  const auto replay = Clock::now();
  // Waits up to 30 s for room when the local queue is full (the workload outruns the broker).
  kafka::RdkafkaProducer producer(broker.bootstrap(), "ledger-cdnow-test", {}, std::chrono::seconds(30));
  auto reader = pos_sim::CdnowReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::atomic<int64_t> failures{0};
  int64_t sent = 0;
  pos_sim::CdnowRow row;
  std::string error;
  while (reader->next(&row, &error)) {
    ASSERT_TRUE(error.empty()) << error;
    const v1::PosEvent ev = pos_sim::cdnow_event(row);
    produce_event(producer, ev.customer_id(), ev.SerializeAsString(), [&](const kafka::DeliveryReport& r) {
      if (!r.ok) ++failures;
    });
    ++sent;
  }
  ASSERT_TRUE(producer.flush(std::chrono::seconds(60)));
  ASSERT_EQ(failures.load(), 0);
  ASSERT_EQ(sent, total_rows);
  const auto markers = produce_partition_markers(producer, broker.partitions(), "cdnow");
  std::printf("[cdnow] produced %s sales in %.1f s\n", with_commas(sent).c_str(), seconds_since(replay));
  ASSERT_NO_THROW(wait_for_markers(ledger, markers, std::chrono::seconds(120)));
  std::printf("[cdnow] ledger applied them %.1f s after the replay started\n", seconds_since(replay));

  // Every customer's account against the file.
  const auto verify = Clock::now();
  std::vector<std::string> ids;
  for (const auto& [file_id, t] : expected) ids.push_back(pos_sim::cdnow_customer_id(file_id));
  const auto accounts = fetch_accounts(ledger.grpc_target(), ids);
  int64_t ledger_cents = 0, wrong = 0, missing = 0;
  size_t i = 0;
  for (const auto& [file_id, want] : expected) {
    const auto& got = accounts.at(ids[i++]);
    if (!got) {
      if (missing++ < 10) ADD_FAILURE() << "no account for CDNOW customer " << file_id;
      continue;
    }
    ledger_cents += got->lifetime_sales_minor();
    const bool ok = got->lifetime_sales_minor() == want.cents && got->lifetime_orders() == want.rows &&
                    got->first_purchase().seconds() == unix_seconds_of_day(want.first_day) &&
                    got->last_purchase().seconds() == unix_seconds_of_day(want.last_day) && got->currency() == "USD";
    if (!ok && wrong++ < 10) {
      ADD_FAILURE() << "customer " << file_id << ": ledger sales " << got->lifetime_sales_minor() << " orders "
                    << got->lifetime_orders() << ", file " << want.cents << " cents in " << want.rows << " rows";
    }
  }
  std::printf("[cdnow] %zu accounts read in %.1f s: ledger total %s cents, file total %s cents; %lld differ, %lld "
              "missing\n",
              ids.size(), seconds_since(verify), with_commas(ledger_cents).c_str(), with_commas(total_cents).c_str(),
              static_cast<long long>(wrong), static_cast<long long>(missing));
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(ledger_cents, 250'031'563);

  // The books: all of it is cash revenue, and balanced.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::TrialBalance tb;
  ASSERT_TRUE(ledger.stub().GetTrialBalance(&ctx, v1::GetTrialBalanceRequest{}, &tb).ok());
  EXPECT_TRUE(tb.balanced());
  std::map<std::string, int64_t> net;  // account -> debit - credit, USD
  for (const auto& l : tb.lines()) {
    if (l.currency() == "USD") net[l.account()] += l.debit_minor() - l.credit_minor();
  }
  EXPECT_EQ(-net["revenue"], total_cents);
  EXPECT_EQ(net["cash"], total_cents);
  const auto exit = ledger.stop();
  EXPECT_TRUE(exit.ok()) << exit.describe() << "\n" << ledger.log_tail();
  std::printf("[cdnow] done in %.1f s\n", seconds_since(started));
}

INSTANTIATE_TEST_SUITE_P(Backends, LedgerCdnowTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tierflow::ledger_test
