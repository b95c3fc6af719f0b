// TerminalLimits alone (a fake clock, no pipeline): the bucket per caller and terminal,
// refill, the bounded map, what a reason shows of a terminal id; and the rate_limit keys
// of ingest.yaml. The answers it leads to are in service_test.cpp (RateLimited).
#include "src/rate_limit.h"

#include <gtest/gtest.h>

#include <string>

#include "src/service.h"
#include "tests/support/config_file.h"

namespace tierflow::ingest {
namespace {

using Clock = TerminalLimits::Clock;

class TerminalLimitsTest : public ::testing::Test {
 protected:
  TerminalLimits::Options options(double per_s, double burst, int64_t max_terminals = 100000) {
    TerminalLimits::Options o;
    o.events_per_s = per_s;
    o.burst = burst;
    o.max_terminals = max_terminals;
    o.clock = [this] { return now_; };
    return o;
  }
  // How many of `n` events of `terminal` (from `caller`) may go on now.
  static size_t allowed(TerminalLimits& limits, const std::string& terminal, int n,
                        const std::string& caller = "till") {
    std::vector<v1::PosEvent> events(static_cast<size_t>(n));
    std::vector<v1::PosEvent*> ptrs;
    for (auto& e : events) {
      e.set_terminal_id(terminal);
      ptrs.push_back(&e);
    }
    std::vector<bool> ok;
    limits.take(caller, ptrs, ok);
    EXPECT_EQ(ok.size(), ptrs.size());
    // The allowed ones come first: a bucket never refuses one event and allows a later one.
    const size_t count = static_cast<size_t>(std::count(ok.begin(), ok.end(), true));
    for (size_t i = 0; i < ok.size(); ++i) EXPECT_EQ(ok[i], i < count) << i;
    return count;
  }
  Clock::time_point now_ = Clock::now();
};

TEST_F(TerminalLimitsTest, OffAllowsEverythingAndKeepsNothing) {
  TerminalLimits limits(options(0, 5));
  EXPECT_FALSE(limits.enabled());
  EXPECT_EQ(allowed(limits, "T-1", 10000), 10000u);
  EXPECT_EQ(limits.terminals(), 0u);
}

TEST_F(TerminalLimitsTest, ABurstThenTheRate) {
  TerminalLimits limits(options(10, 5));
  EXPECT_EQ(allowed(limits, "T-1", 8), 5u);
  EXPECT_EQ(allowed(limits, "T-1", 1), 0u);
  now_ += std::chrono::milliseconds(250);  // 2.5 tokens
  EXPECT_EQ(allowed(limits, "T-1", 3), 2u);
  now_ += std::chrono::milliseconds(50);  // 0.5 + 0.5
  EXPECT_EQ(allowed(limits, "T-1", 2), 1u);
  now_ += std::chrono::hours(1);  // never more than the burst
  EXPECT_EQ(allowed(limits, "T-1", 9), 5u);
}

TEST_F(TerminalLimitsTest, ABucketPerCallerAndTerminal) {
  TerminalLimits limits(options(10, 2));
  EXPECT_EQ(allowed(limits, "T-1", 3, "till-a"), 2u);
  EXPECT_EQ(allowed(limits, "T-1", 3, "till-b"), 2u);
  EXPECT_EQ(allowed(limits, "T-2", 3, "till-a"), 2u);
  EXPECT_EQ(allowed(limits, "", 3, "till-a"), 2u);  // no terminal_id: one bucket per caller
  EXPECT_EQ(allowed(limits, "", 3, "till-a"), 0u);
  // Length-prefixed: caller "a" + terminal "bc" is not caller "ab" + terminal "c".
  EXPECT_EQ(allowed(limits, "bc", 3, "a"), 2u);
  EXPECT_EQ(allowed(limits, "c", 3, "ab"), 2u);
  EXPECT_EQ(limits.terminals(), 6u);
}

TEST_F(TerminalLimitsTest, UnusedBucketsAreForgottenOnceTheyWouldBeFull) {
  TerminalLimits limits(options(10, 5));
  EXPECT_EQ(limits.forget_after(), std::chrono::minutes(1));  // 0.5 s to refill: at least a minute
  for (const char* t : {"T-1", "T-2", "T-3"}) EXPECT_EQ(allowed(limits, t, 1), 1u);
  now_ += std::chrono::seconds(59);
  EXPECT_EQ(allowed(limits, "T-1", 1), 1u);
  EXPECT_EQ(limits.terminals(), 3u);
  now_ += std::chrono::seconds(2);
  EXPECT_EQ(allowed(limits, "T-1", 1), 1u);
  EXPECT_EQ(limits.terminals(), 1u);  // T-2, T-3 unused for 61 s
  // A slow refill is kept until it would be full.
  TerminalLimits slow(options(1, 600));
  EXPECT_EQ(slow.forget_after(), std::chrono::minutes(10));
}

TEST_F(TerminalLimitsTest, BeyondMaxTerminalsTheLeastRecentlyUsedGo) {
  TerminalLimits limits(options(1, 1, 2));
  EXPECT_EQ(allowed(limits, "T-1", 2), 1u);  // T-1 drained
  EXPECT_EQ(allowed(limits, "T-2", 1), 1u);
  EXPECT_EQ(allowed(limits, "T-1", 1), 0u);  // still drained; now the most recent
  EXPECT_EQ(allowed(limits, "T-3", 1), 1u);  // T-2 goes
  EXPECT_EQ(limits.terminals(), 2u);
  EXPECT_EQ(allowed(limits, "T-1", 1), 0u);  // T-1 was kept
  EXPECT_EQ(allowed(limits, "T-4", 1), 1u);  // T-3 goes
  EXPECT_EQ(allowed(limits, "T-5", 1), 1u);  // T-1 goes ...
  EXPECT_EQ(allowed(limits, "T-1", 1), 1u);  // ... and starts full again
  EXPECT_EQ(limits.terminals(), 2u);
}

TEST_F(TerminalLimitsTest, LongTerminalIdsKeyByTheirFirstBytesAndShowShortAndPrintable) {
  TerminalLimits limits(options(10, 1));
  const std::string prefix(TerminalLimits::kMaxTerminalKey, 'x');
  EXPECT_EQ(allowed(limits, prefix + "-a", 1), 1u);
  EXPECT_EQ(allowed(limits, prefix + "-b", 1), 0u);  // the same bucket
  EXPECT_EQ(TerminalLimits::printable("T-1"), "T-1");
  EXPECT_EQ(TerminalLimits::printable(""), "(none)");
  EXPECT_EQ(TerminalLimits::printable("a b\n\x7f"), "a?b??");
  EXPECT_EQ(TerminalLimits::printable(prefix), std::string(64, 'x') + "...");
}

class RateLimitConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& yaml) { return file_.write(yaml); }
  std::string error_of(const std::string& yaml) { return file_.error_of(load_config, yaml); }
  test_support::ConfigFile file_{"tf-ingest-config"};
};

TEST_F(RateLimitConfigTest, OffByDefaultAndValidated) {
  const Config d = load_config(write(""));
  EXPECT_EQ(d.limits.rate_limit.events_per_s, 0);
  EXPECT_EQ(d.limits.rate_limit.burst, 1000);
  EXPECT_EQ(d.limits.rate_limit.max_terminals, 100000);
  const Config c = load_config(write("rate_limit:\n  events_per_s: 200\n  burst: 400\n  max_terminals: 5000\n"));
  EXPECT_EQ(c.limits.rate_limit.events_per_s, 200);
  EXPECT_EQ(c.limits.rate_limit.burst, 400);
  EXPECT_EQ(c.limits.rate_limit.max_terminals, 5000);
  EXPECT_NE(error_of("rate_limit: {events_per_s: -1}\n").find("rate_limit.events_per_s"), std::string::npos);
  EXPECT_NE(error_of("rate_limit: {events_per_s: lots}\n").find("rate_limit.events_per_s"), std::string::npos);
  EXPECT_NE(error_of("rate_limit: {burst: 0.5}\n").find("rate_limit.burst"), std::string::npos);
  EXPECT_NE(error_of("rate_limit: {max_terminals: 0}\n").find("rate_limit.max_terminals"), std::string::npos);
  EXPECT_NE(error_of("rate_limit: {events_per_sec: 5}\n").find("rate_limit.events_per_sec"), std::string::npos);
}

TEST_F(RateLimitConfigTest, TheShippedLocalFileLoadsWithTheLimitOff) {
  const Config c = load_config(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/ingest.yaml");
  EXPECT_EQ(c.limits.rate_limit.events_per_s, 0);
}

}  // namespace
}  // namespace tierflow::ingest
