// redis::Mux against a real redis-server (tests/support/redis_server.h): replies reach the
// right caller under concurrency, groups stay together, error replies are per command,
// transport failures reach every caller as errors and the next batch reconnects, and the
// destructor answers everything still queued.
#include "common/redis/mux.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace tierflow::redis {
namespace {

using Kind = Mux::Reply::Kind;
constexpr auto kWait = std::chrono::seconds(10);  // bound on every wait, never a sleep

// One group's outcome, copied out of the callback.
struct Outcome {
  std::string error;
  std::vector<Kind> kinds;
  std::vector<std::string> strs;
  std::vector<int64_t> ints;
};

Outcome call(Mux& mux, std::vector<Mux::Command> cmds) {
  std::promise<Outcome> p;
  auto f = p.get_future();
  mux.submit(std::move(cmds), [&p](std::span<const Mux::Reply> replies, std::string_view error) {
    Outcome o;
    o.error = std::string(error);
    for (const auto& r : replies) {
      o.kinds.push_back(r.kind);
      o.strs.emplace_back(r.str);
      o.ints.push_back(r.integer);
    }
    p.set_value(std::move(o));
  });
  if (f.wait_for(kWait) != std::future_status::ready) throw std::runtime_error("mux did not answer in 10 s");
  return f.get();
}

class MuxTest : public ::testing::Test {
 protected:
  test_support::TempDir dir_{"tierflow-mux-it"};
  test_support::RedisServer server_{dir_.path().string()};
};

TEST_F(MuxTest, AnswersEachCallerWithItsOwnRepliesUnderConcurrency) {
  Mux mux(server_.config());
  ASSERT_EQ(call(mux, {{"SET", "k", "v"}}).error, "");
  constexpr int kThreads = 8, kPerThread = 500;
  std::atomic<int> wrong{0}, answered{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::future<void>> done;
        for (int i = 0; i < kPerThread; ++i) {
          auto p = std::make_shared<std::promise<void>>();
          done.push_back(p->get_future());
          const std::string value = std::to_string(t) + ":" + std::to_string(i);
          // A group: SET then GET of the caller's own key; the GET must see the SET.
          const std::string key = "key-" + value;
          mux.submit({{"SET", key, value}, {"GET", key}, {"HGET", "nope", "f"}},
                     [&, p, value](std::span<const Mux::Reply> r, std::string_view error) {
                       if (!error.empty() || r.size() != 3 || r[0].kind != Kind::string || r[0].str != "OK" ||
                           r[1].kind != Kind::string || r[1].str != value || r[2].kind != Kind::nil) {
                         ++wrong;
                       }
                       ++answered;
                       p->set_value();
                     });
        }
        for (auto& f : done) {
          if (f.wait_for(kWait) != std::future_status::ready) ++wrong;
        }
      });
    }
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(answered.load(), kThreads * kPerThread);
  const auto st = mux.stats();
  EXPECT_EQ(st.commands, 1u + 3u * kThreads * kPerThread);
  EXPECT_EQ(st.connects, 1u);  // one connection for everyone
  EXPECT_LE(st.batches, st.commands);
}

TEST_F(MuxTest, ErrorRepliesAreDeliveredPerCommand) {
  Mux mux(server_.config());
  auto o = call(mux, {{"SET", "s", "1"}, {"HGET", "s", "f"}, {"INCR", "n"}});
  ASSERT_EQ(o.error, "");
  ASSERT_EQ(o.kinds.size(), 3u);
  EXPECT_EQ(o.kinds[0], Kind::string);
  EXPECT_EQ(o.kinds[1], Kind::error);
  EXPECT_NE(o.strs[1].find("WRONGTYPE"), std::string::npos) << o.strs[1];
  EXPECT_EQ(o.kinds[2], Kind::integer);
  EXPECT_EQ(o.ints[2], 1);
  // The connection is still fine afterwards.
  EXPECT_EQ(call(mux, {{"GET", "s"}}).strs.at(0), "1");
}

TEST_F(MuxTest, EmptyGroupIsAnsweredAtOnce) {
  Mux mux(server_.config());
  bool called = false;
  mux.submit({}, [&](std::span<const Mux::Reply> r, std::string_view error) {
    called = r.empty() && error.empty();
  });
  EXPECT_TRUE(called);
}

TEST(MuxDown, UnreachableRedisGivesErrorsNotExceptions) {
  config::RedisConfig cfg;
  cfg.port = test_support::pick_free_port();  // nothing listens there
  cfg.timeout = std::chrono::milliseconds(500);
  Mux mux(cfg);  // does not connect yet
  for (int i = 0; i < 2; ++i) {
    auto o = call(mux, {{"GET", "k"}});
    EXPECT_NE(o.error.find("redis unavailable"), std::string::npos) << o.error;
    EXPECT_TRUE(o.kinds.empty());
  }
  EXPECT_EQ(mux.stats().connects, 0u);
  EXPECT_EQ(mux.stats().failures, 2u);
}

TEST_F(MuxTest, ReconnectsAfterRedisRestarts) {
  Mux mux(server_.config());
  ASSERT_EQ(call(mux, {{"SET", "k", "v"}}).error, "");
  server_.restart();  // the mux's connection is now dead; the new server is empty
  // The first batch on the dead connection may fail (its error reaches the caller); the
  // one after it must have reconnected.
  auto first = call(mux, {{"GET", "k"}});
  if (!first.error.empty()) {
    EXPECT_NE(first.error.find("redis unavailable"), std::string::npos) << first.error;
    first = call(mux, {{"GET", "k"}});
  }
  ASSERT_EQ(first.error, "");
  EXPECT_EQ(first.kinds.at(0), Kind::nil);  // restarted empty
  EXPECT_EQ(mux.stats().connects, 2u);
}

TEST_F(MuxTest, DestructorAnswersEverythingQueued) {
  constexpr int kCalls = 20000;
  std::atomic<int> answered{0}, ok{0}, stopped{0};
  {
    Mux mux(server_.config());
    for (int i = 0; i < kCalls; ++i) {
      mux.submit({{"INCR", "n"}}, [&](std::span<const Mux::Reply> r, std::string_view error) {
        ++answered;
        if (error.empty() && r.size() == 1 && r[0].kind == Kind::integer) ++ok;
        if (error == "redis mux stopped") ++stopped;
      });
    }
  }  // destroyed with calls possibly still queued
  EXPECT_EQ(answered.load(), kCalls);
  EXPECT_EQ(ok.load() + stopped.load(), kCalls);
  // Redis saw exactly the calls that were answered OK.
  Mux check(server_.config());
  const OwnedReply n = check.call({"GET", "n"}, kWait);
  EXPECT_EQ(n.is_nil() ? 0 : std::stoi(n.str), ok.load());
}

// --- the blocking calls -----------------------------------------------------------------

constexpr auto kTimeout = std::chrono::milliseconds(2000);

TEST_F(MuxTest, CallReturnsOwnedRepliesOfEveryKind) {
  Mux mux(server_.config());
  EXPECT_EQ(mux.call({"SET", "s", "v"}, kTimeout).str, "OK");
  const OwnedReply got = mux.call({"GET", "s"}, kTimeout);
  EXPECT_TRUE(got.is_string());
  EXPECT_EQ(got.str, "v");
  EXPECT_TRUE(mux.call({"GET", "missing"}, kTimeout).is_nil());
  const OwnedReply n = mux.call({"INCRBY", "n", "41"}, kTimeout);
  EXPECT_EQ(n.kind, Kind::integer);
  EXPECT_EQ(n.integer, 41);
  mux.call({"RPUSH", "list", "a", "b"}, kTimeout);
  const OwnedReply list = mux.call({"LRANGE", "list", "0", "-1"}, kTimeout);
  ASSERT_EQ(list.kind, Kind::array);
  ASSERT_EQ(list.elements.size(), 2u);
  EXPECT_EQ(list.elements[0].str, "a");
  EXPECT_EQ(list.elements[1].str, "b");
  const OwnedReply mixed = mux.call({"MGET", "s", "missing"}, kTimeout);
  ASSERT_EQ(mixed.elements.size(), 2u);
  EXPECT_EQ(mixed.elements[0].str, "v");
  EXPECT_TRUE(mixed.elements[1].is_nil());
}

TEST_F(MuxTest, CallThrowsAnErrorReplyNamingTheCommand) {
  Mux mux(server_.config());
  mux.call({"SET", "s", "1"}, kTimeout);
  try {
    mux.call({"HGET", "s", "f"}, kTimeout);
    FAIL() << "an error reply must throw";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("HGET: WRONGTYPE"), std::string::npos) << e.what();
  }
}

TEST_F(MuxTest, CallAllKeepsOrderAndReturnsErrorRepliesPerCommand) {
  Mux mux(server_.config());
  auto r = mux.call_all({{"SET", "s", "1"}, {"HGET", "s", "f"}, {"INCR", "n"}, {"GET", "s"}}, kTimeout);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].str, "OK");
  EXPECT_TRUE(r[1].is_error());
  EXPECT_NE(r[1].str.find("WRONGTYPE"), std::string::npos);
  EXPECT_EQ(r[2].integer, 1);
  EXPECT_EQ(r[3].str, "1");
  EXPECT_TRUE(mux.call_all({}, kTimeout).empty());
}

TEST(MuxDown, BlockingCallsThrowRedisErrorWhenUnreachable) {
  config::RedisConfig cfg;
  cfg.port = test_support::pick_free_port();  // nothing listens there
  cfg.timeout = std::chrono::milliseconds(500);
  Mux mux(cfg);
  try {
    mux.call({"PING"}, kTimeout);
    FAIL() << "an unreachable redis must throw";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("redis unavailable (127.0.0.1:" + std::to_string(cfg.port) + ")"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(mux.call_all({{"PING"}, {"PING"}}, kTimeout), RedisError);
}

TEST_F(MuxTest, BlockingCallGivesUpAfterItsTimeout) {
  Mux mux(server_.config());
  mux.call({"SET", "s", "1"}, kTimeout);
  // A BLPOP on an empty list holds the mux's one connection for 300 ms; a call queued
  // behind it with a 50 ms timeout gives up, and the mux answers the late reply to no one.
  std::promise<std::string> slept;
  mux.submit({{"BLPOP", "empty", "0.3"}}, [&](std::span<const Mux::Reply> r, std::string_view error) {
    slept.set_value(!error.empty() ? std::string(error) : r.size() == 1 && r[0].kind == Kind::nil ? "nil" : "?");
  });
  const auto started = std::chrono::steady_clock::now();
  try {
    mux.call({"GET", "s"}, std::chrono::milliseconds(50));
    FAIL() << "the call must time out";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("no reply within 50 ms"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(290));
  EXPECT_EQ(slept.get_future().get(), "nil");
  EXPECT_EQ(mux.call({"GET", "s"}, kTimeout).str, "1");  // the connection is still usable
}

TEST_F(MuxTest, BlockingCallFromACallbackIsRefused) {
  Mux mux(server_.config());
  std::promise<bool> refused;
  mux.submit({{"PING"}}, [&](std::span<const Mux::Reply>, std::string_view) {
    try {
      mux.call({"PING"}, kTimeout);
      refused.set_value(false);
    } catch (const std::logic_error&) {
      refused.set_value(true);
    }
  });
  EXPECT_TRUE(refused.get_future().get());
}

}  // namespace
}  // namespace tierflow::redis
