// Child processes for integration and e2e tests: start a real binary with extra
// environment, wait for its ready file, read the ports it bound, kill it with SIGKILL (a
// crash) or stop it gracefully with SIGTERM. Also a temporary directory and a tiny
// Prometheus scrape, the other things such tests need around a process.
//
// Contracts:
// - A ChildProcess owns its process: the destructor SIGKILLs and reaps it if it still
//   runs, so a failing test (an ASSERT that returns early, an exception) leaves nothing
//   behind. If the test process itself dies (crash, ctest timeout), the kernel sends the
//   child SIGKILL too (PR_SET_PDEATHSIG). Linux ties that signal to the THREAD that
//   started the child: start children from a thread that outlives them (the test's main
//   thread), never from a short-lived worker.
// - Threading: a ChildProcess is thread-compatible (one thread at a time); the free
//   functions are thread-safe.
// - Errors: failures to start, a child that exits before it is ready, and deadlines that
//   pass throw std::runtime_error with a message that names the binary and quotes the tail
//   of its log.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tierflow::test_support {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction
// unless TIERFLOW_KEEP_TEST_DIRS is set (then its path is printed, for a post-mortem).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "tierflow-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct ProcessOptions {
  std::string binary;                       // absolute path of the executable
  std::vector<std::string> args;            // argv[1..]
  std::map<std::string, std::string> env;   // added to (and overriding) the test's environment
  std::string log_file;                     // stdout and stderr, appended; empty: /dev/null
  std::string working_dir;                  // empty: the test's
};

// How a child ended: exit code, or the signal that killed it.
struct ExitStatus {
  std::optional<int> code;
  std::optional<int> signal;
  bool ok() const { return code && *code == 0; }
  std::string describe() const;  // "exit code 0", "killed by signal 9"
};

class ChildProcess {
 public:
  // fork + execve. Throws std::runtime_error when the binary cannot be executed (the
  // exec error is reported back through a close-on-exec pipe, so this is known at once).
  explicit ChildProcess(ProcessOptions options);
  ~ChildProcess();  // kill_now() if still running
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const ProcessOptions& options() const { return options_; }
  // Reaps without blocking; false once the child has exited (status() then says how).
  bool running();
  const std::optional<ExitStatus>& status() const { return status_; }

  // SIGKILL and reap: the crash. Returns once the process is gone. No-op when not running.
  void kill_now();
  // SIGTERM, then waits up to `grace` for the exit; SIGKILL after that. Returns how it
  // ended (a graceful stop is ExitStatus::ok()).
  ExitStatus stop(std::chrono::milliseconds grace = std::chrono::seconds(15));
  // Waits up to `timeout` for the child to exit on its own; nullopt if it still runs.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);

  // The last `max_bytes` of the child's log file ("" without one): for failure messages.
  std::string log_tail(size_t max_bytes = 4000) const;

 private:
  void reap(bool block);
  ProcessOptions options_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

// The ready file services write once every listener is bound: {"grpc": 41234,
// "metrics": 39123, "pid": 77}. Every integer member is kept by name.
struct ReadyInfo {
  std::map<std::string, int64_t> values;
  int port(const std::string& name) const;  // throws when absent
  int grpc_port() const { return port("grpc"); }
  int metrics_port() const { return port("metrics"); }
  pid_t pid() const;  // 0 when absent
};

// Parses the flat JSON object of a ready file; throws std::runtime_error on anything else.
ReadyInfo parse_ready_file(const std::string& text);

// Polls `path` until it holds a complete ready file whose pid is the child's (a file left
// by an earlier incarnation is ignored), or throws: the child exited, or `timeout` passed.
// Delete the old file before restarting a service so the wait is unambiguous.
ReadyInfo wait_for_ready_file(const std::string& path, ChildProcess& child,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Polls until `path` exists and is not empty (a file written atomically by a child, e.g.
// devbroker's address file), then returns its first line. Throws like wait_for_ready_file.
std::string wait_for_file_line(const std::string& path, ChildProcess& child,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

// GET http://127.0.0.1:<port><path> with a short timeout (2 s); the body, or nullopt when
// the server could not be reached or answered other than 200.
std::optional<std::string> http_get(int port, const std::string& path);

// The value of one sample in Prometheus text format, matched by its full series text as
// it appears before the value: `tierflow_ledger_events_total{outcome="applied"}` or
// `tierflow_ledger_batch_seconds_count`. nullopt when absent.
std::optional<double> metric_value(const std::string& exposition, const std::string& series);

// Reads a whole small text file; "" when missing.
std::string read_file(const std::string& path);

// A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, close).
// Another process may take it before the caller binds; servers that can, retry.
int pick_free_port();

}  // namespace tierflow::test_support
