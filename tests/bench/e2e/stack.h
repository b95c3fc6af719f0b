// The e2e bench's stack: devbroker, redis-server, tierflow-ingest, tierflow-ledger (SQLite)
// and tierflow-classification as child processes under one temporary directory, on
// ephemeral ports, each with its deploy/local/<service>.yaml and the environment overrides
// a test needs (ports, paths, tokens), as `make run` starts them; and the one question the
// bench asks of it: has everything that went in come out in Redis?
//
// Lifecycle: the constructor starts the broker and Redis; start_*() start the services
// (each waits for its ready file); the destructor stops the services (SIGTERM, then
// SIGKILL), then Redis and the broker. Start it from the main thread (see
// tests/support/process.h: PR_SET_PDEATHSIG is tied to the starting thread).
// Threading: thread-compatible (one thread drives it); the tokens and addresses it hands
// out are immutable.
// Errors: std::runtime_error with the log tail of the process concerned.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/tokens.h"

namespace tierflow::e2e_bench {

// One tierflow service binary as a child process.
class Service {
 public:
  // `name` is the deploy/local/<name>.yaml config and the log/ready file names.
  Service(std::string name, std::string binary, std::string dir, std::map<std::string, std::string> env);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(ready_.grpc_port()); }
  int metrics_port() const { return ready_.metrics_port(); }
  bool running() { return process_.running(); }
  std::string log_tail() const { return process_.log_tail(); }
  test_support::ExitStatus stop() { return process_.stop(std::chrono::seconds(20)); }

 private:
  test_support::ChildProcess process_;
  test_support::ReadyInfo ready_;
};

// Where to look for what a stack's processes applied.
struct Progress {
  bool ledger_caught_up = false;          // every pos.events.v1 record applied, the outbox empty
  bool classification_caught_up = false;  // every ledger.accounts.v1 record applied and evaluated
  std::string behind;                     // "ledger 3:1200/1300 ..." while not caught up
};

class Stack {
 public:
  // `partitions`: per topic (devbroker keeps at most 5 MiB per partition: more partitions
  // hold a longer backlog). `brokers`: devbroker's broker count.
  Stack(const std::string& tag, int partitions, int brokers);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  void start_ingest();
  void start_ledger();
  void start_classification();

  const test_support::DevBroker& broker() const { return broker_; }
  const test_support::RedisServer& redis() const { return redis_; }
  const test_support::TestTokens& tokens() const { return tokens_; }
  Service& ingest() { return *ingest_; }
  Service& classification() { return *classification_; }

  // Reads the stores' own records of what they applied (offsets are stored in the
  // transaction that applies and, for classification, evaluates their records):
  // ledger caught up = its stored pos.events.v1 offsets reach `events_end` and its outbox
  // is empty (every snapshot relayed and confirmed); classification caught up = its stored
  // ledger.accounts.v1 offsets reach that topic's end offsets, read after the ledger
  // caught up. Classification writes Redis after the commit that stores the offsets, under
  // its keeper lock: `barrier()` returns once that lock was free, so after a caught-up
  // answer and a barrier every evaluated assignment is in Redis.
  Progress progress(const std::map<int32_t, int64_t>& events_end);
  // A TierService read that takes the keeper's shared lock (ExplainTier of `customer`):
  // returns once no evaluation (commit + publish) is in progress. Throws on an error.
  void barrier(const std::string& customer);
  // Every service still runs; throws naming the one that exited, with its log tail.
  void check_running();
  std::string classification_store() const { return dir_.file("classification/classification.db"); }

 private:
  std::map<std::string, std::string> common_env(const std::string& name) const;
  std::string service_dir(const std::string& name) const;

  test_support::TempDir dir_;
  test_support::DevBroker broker_;
  test_support::RedisServer redis_;
  test_support::TestTokens tokens_;
  std::unique_ptr<Service> ingest_, ledger_, classification_;
  std::optional<std::map<int32_t, int64_t>> accounts_end_;
};

// /proc/loadavg's first three figures, for the report ("1.95 1.40 0.90").
std::string load_average();

}  // namespace tierflow::e2e_bench
