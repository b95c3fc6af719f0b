// What the ledger's process-level tests share: the real tierflow-ledger binary as a child
// process on a chosen store backend, a producer that writes pos.events.v1 as ingest does,
// a bounded wait for the ledger to catch up, and parallel gRPC reads of every account.
//
// Threading: LedgerProcess is driven by one thread (start it from the test's main thread,
// see tests/support/process.h); the fetch_* functions are thread-safe and use their own
// worker threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/kafka/kafka.h"
#include "tests/support/process.h"
#include "tierflow/v1/events.pb.h"
#include "tierflow/v1/ledger.grpc.pb.h"

namespace tierflow::ledger_test {

// The store a ledger runs on, as the environment the binary gets. The test bodies do not
// know which one it is: a backend is a test parameter ("sqlite", "postgres").
struct StoreBackend {
  std::string name;                         // "sqlite" or "postgres"
  std::map<std::string, std::string> env;   // added to the ledger's environment
  std::shared_ptr<void> owned;              // keeps a backing server alive, if any
  // Non-SQLite backends also point TIERFLOW_STORE_PATH here: if this file appears, the
  // binary ignored TIERFLOW_STORE_BACKEND and fell back to SQLite.
  std::string fallback_file;
};

// Why `name` cannot run on this machine (e.g. PostgreSQL binaries missing), or nullopt.
std::optional<std::string> backend_unavailable(const std::string& name);

// A fresh store of backend `name` for one test; `dir` is the test's directory.
// - sqlite: dir/ledger.db.
// - postgres: a PostgreSQL server of its own (tests/support/postgres_server.h) with a
//   fresh database; the ledger gets TIERFLOW_STORE_BACKEND=postgres and
//   TIERFLOW_STORE_POSTGRES_URL=<its URL>.
StoreBackend make_backend(const std::string& name, const std::string& dir);

// Where the binaries are: compiled in from CMake ($<TARGET_FILE:...>); the environment
// (TIERFLOW_TEST_LEDGER_BIN, TIERFLOW_TEST_DEVBROKER_BIN) may point elsewhere, e.g. to
// run these tests against another build.
std::string ledger_binary();
std::string devbroker_binary();
// deploy/local/ledger.yaml of the source tree: the config the stack uses; the tests
// override what they need through TIERFLOW_* variables.
std::string ledger_config();

struct LedgerOptions {
  std::string dir;             // working directory, ready file, log
  std::string bootstrap_file;  // devbroker's address file
  StoreBackend backend;
  // Short: a restarted member waits this long for the killed one to leave the group.
  std::chrono::milliseconds session_timeout{3000};
  std::string log_level = "info";
};

// The ledger binary, restartable. Each start() is a new process on the same store.
class LedgerProcess {
 public:
  explicit LedgerProcess(LedgerOptions options);
  ~LedgerProcess();  // kills a running ledger

  // Starts a new process and waits (up to `timeout`) for its ready file; then gRPC and
  // metrics are up. Throws std::runtime_error with the log tail when it does not come up.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // SIGKILL: the crash.
  void kill();
  // SIGTERM and wait: the graceful stop; returns how the process ended.
  test_support::ExitStatus stop(std::chrono::milliseconds grace = std::chrono::seconds(20));
  bool running();
  int starts() const { return starts_; }
  // True when the backend's fallback_file exists: the binary used SQLite instead.
  bool fell_back_to_sqlite() const;

  std::string grpc_target() const;  // "127.0.0.1:<port>" of the current process
  v1::Ledger::Stub& stub() { return *stub_; }
  // True once the current process logged that the consumer got its partitions (the
  // ledger's "kafka: assigned" log line; false if the line's text ever changes, so callers
  // must bound their wait).
  bool assigned_this_life() const;
  // One series of the current process's /metrics; nullopt when absent or unreachable.
  std::optional<double> metric(const std::string& series) const;
  std::string log_tail() const;
  const std::string& log_file() const { return log_file_; }

 private:
  LedgerOptions options_;
  std::string ready_file_, log_file_;
  std::optional<test_support::ChildProcess> process_;
  test_support::ReadyInfo ready_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ledger::Stub> stub_;
  int starts_ = 0;
  size_t log_offset_ = 0;  // size of the log when the current process started
};

// Produces a PosEvent record as ingest does: keyed by customer id, with the type header.
// Records that are not valid events are produced the same way (the bytes as given).
void produce_event(kafka::Producer& producer, const std::string& key, const std::string& value,
                   kafka::Producer::DeliveryFn on_delivery);

// Writes one marker event (feedback of a customer "zz-marker-<tag>-<n>") to every partition
// of pos.events.v1, trying new keys until each of `partitions` partitions got one, and
// returns the marker customers. Produce markers after everything else was delivered: a
// partition's records are applied in order, so once the ledger has every marker account,
// it has applied every record written before the markers.
std::vector<std::string> produce_partition_markers(kafka::Producer& producer, int partitions,
                                                   const std::string& tag);

// Polls GetAccount until every marker customer exists, or throws after `timeout`.
void wait_for_markers(LedgerProcess& ledger, const std::vector<std::string>& markers,
                      std::chrono::milliseconds timeout);

// GetAccount for every id over `threads` parallel callers. nullopt for NOT_FOUND; any
// other error throws std::runtime_error naming the customer.
std::unordered_map<std::string, std::optional<v1::AccountSnapshot>> fetch_accounts(
    const std::string& target, const std::vector<std::string>& ids, int threads = 4);

// The event ids of every journal entry of each customer (GetStatement, all pages), in
// posting order. Unknown customers get an empty list.
std::unordered_map<std::string, std::vector<std::string>> fetch_posted_event_ids(
    const std::string& target, const std::vector<std::string>& ids, int threads = 4);

// "1,234,567".
std::string with_commas(int64_t n);

}  // namespace tierflow::ledger_test
