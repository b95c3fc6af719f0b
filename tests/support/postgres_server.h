// A real PostgreSQL server for tests and benchmarks, started from Debian's binaries
// (initdb + postgres) under a fresh temporary directory, listening on 127.0.0.1 at a free
// port. As root it runs as the unprivileged system user `tierflow-test` (created with
// useradd when missing; `nobody` if that fails), since PostgreSQL refuses to run as root.
//
// Lifecycle: the constructor returns once the server accepts connections (or throws
// std::runtime_error with the tail of the server log). The destructor stops the server
// (fast shutdown, then SIGKILL after 10 s) and removes the directory. The server is also
// told to quit (SIGQUIT, via PR_SET_PDEATHSIG) if the process that started it dies.
// Threading: not thread-safe; one thread owns it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace tierflow::test {

class PostgresServer {
 public:
  struct Options {
    std::string bin_dir;  // empty: $TIERFLOW_PG_BIN, else /usr/lib/postgresql/15/bin
    // Off in tests (faster, nothing to survive); on for benchmarks that must measure the
    // real cost of a durable commit.
    bool fsync = false;
  };

  // The directory holding initdb and postgres, or "" when they are not installed.
  static std::string find_binaries(const std::string& bin_dir = {});
  // Why a server cannot be started here, or nullopt when it can: the binaries are
  // missing, or we are root (PostgreSQL refuses to run as root, so the server runs as an
  // unprivileged user) and a directory above the temporary directory is closed to other
  // users (a chroot whose "/" is mode 0700, say), so that user could not reach its data.
  static std::optional<std::string> unavailable();

  PostgresServer() : PostgresServer(Options{}) {}
  explicit PostgresServer(Options options);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  const std::string& bin_dir() const { return bin_dir_; }
  // postgresql://postgres@127.0.0.1:<port>/<database>
  std::string url(const std::string& database = "postgres") const;
  // Creates the database (name: [a-z0-9_]) and returns its URL.
  std::string create_database(const std::string& name);

 private:
  void stop() noexcept;

  std::string bin_dir_;
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tierflow::test

// In a gtest test or SetUp(): skips the test when no server can be started here.
#define TIERFLOW_SKIP_WITHOUT_POSTGRES()                                                     \
  do {                                                                                      \
    if (auto why = ::tierflow::test::PostgresServer::unavailable()) GTEST_SKIP() << *why;  \
  } while (0)
