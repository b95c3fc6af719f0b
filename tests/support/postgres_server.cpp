#include "tests/support/postgres_server.h"

#include <cstdio>
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/process.h"  // pick_free_port

namespace tierflow::test {
namespace {

constexpr const char* kDefaultBinDir = "/usr/lib/postgresql/15/bin";
constexpr const char* kUser = "tierflow-test";

struct Account {
  uid_t uid;
  gid_t gid;
};

// Runs `argv` and waits; the exit status (or -1 when it could not be started).
int run_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0) _exit(124);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (r != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The account the server runs as when we are root: tierflow-test, created when missing.
Account server_account() {
  if (getpwnam(kUser) == nullptr) {
    run_and_wait({"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", kUser});
  }
  const passwd* pw = getpwnam(kUser);
  if (pw == nullptr) pw = getpwnam("nobody");
  if (pw == nullptr) throw std::runtime_error("postgres_server: no unprivileged user to run as");
  return {pw->pw_uid, pw->pw_gid};
}

// Forks and execs `argv` with stdout/stderr appended to `log`, as `account` when given.
// With `tie_to_parent`, the child gets SIGQUIT (PostgreSQL's immediate shutdown) when this
// process dies. Only async-signal-safe calls happen in the child.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log,
            const std::optional<Account>& account, const std::filesystem::path& cwd,
            bool tie_to_parent) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string log_path = log.string();
  const std::string cwd_path = cwd.string();
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("postgres_server: fork failed");
  if (pid == 0) {
    // Exit codes 120-127 name the setup step that failed (only async-signal-safe calls).
    if (tie_to_parent) {
      if (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0) _exit(122);
      if (getppid() != parent) _exit(1);
    }
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(123);
    if (account) {
      if (setgroups(0, nullptr) != 0 || setgid(account->gid) != 0 || setuid(account->uid) != 0) {
        _exit(126);
      }
    }
    if (chdir(cwd_path.c_str()) != 0) _exit(125);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

std::string tail_of(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

}  // namespace

std::string PostgresServer::find_binaries(const std::string& bin_dir) {
  std::string dir = bin_dir;
  if (dir.empty()) {
    const char* env = std::getenv("TIERFLOW_PG_BIN");
    dir = env != nullptr && *env != '\0' ? env : kDefaultBinDir;
  }
  namespace fs = std::filesystem;
  if (access((fs::path(dir) / "initdb").c_str(), X_OK) == 0 &&
      access((fs::path(dir) / "postgres").c_str(), X_OK) == 0) {
    return dir;
  }
  return {};
}

std::optional<std::string> PostgresServer::unavailable() {
  if (find_binaries().empty()) {
    return "PostgreSQL 15 binaries not found (install Debian's postgresql, or set TIERFLOW_PG_BIN)";
  }
  if (geteuid() != 0) return std::nullopt;
  namespace fs = std::filesystem;
  for (fs::path p = fs::temp_directory_path(); ; p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return "running as root, PostgreSQL must run as an unprivileged user, but " + p.string() + " is mode " +
             mode + ": other users cannot reach " + fs::temp_directory_path().string();
    }
    if (p == p.parent_path()) break;
  }
  return std::nullopt;
}

PostgresServer::PostgresServer(Options options) {
  namespace fs = std::filesystem;
  bin_dir_ = find_binaries(options.bin_dir);
  if (bin_dir_.empty()) throw std::runtime_error("postgres_server: PostgreSQL binaries not found");

  std::string templ = (fs::temp_directory_path() / "tierflow-pg-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("postgres_server: mkdtemp failed");
  dir_ = templ;
  try {
    std::optional<Account> account;
    if (geteuid() == 0) {
      account = server_account();
      if (chown(dir_.c_str(), account->uid, account->gid) != 0) {
        throw std::runtime_error("postgres_server: chown of " + dir_.string() + " failed");
      }
    }
    const fs::path log = dir_ / "server.log";
    const std::string data = (dir_ / "data").string();
    pid_t init = spawn({bin_dir_ + "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-N",
                        "-E", "UTF8", "--locale=C"},
                       log, account, dir_, /*tie_to_parent=*/true);
    int status = 0;
    pid_t waited;
    while ((waited = waitpid(init, &status, 0)) < 0 && errno == EINTR) {
    }
    if (waited != init) throw std::runtime_error("postgres_server: lost track of initdb (waitpid failed)");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      // 122: prctl, 123: the log file, 125: chdir, 126: setuid/setgid, 127: exec failed in
      // the child (before initdb ran).
      const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                                : "signal " + std::to_string(WTERMSIG(status));
      throw std::runtime_error("postgres_server: initdb failed (" + how + ", as uid " +
                               std::to_string(account ? account->uid : geteuid()) + "):\n" + tail_of(log));
    }

    // The port may be taken between pick_free_port() and the server's bind: try a few.
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
      port_ = test_support::pick_free_port();
      std::vector<std::string> argv{bin_dir_ + "/postgres", "-D", data, "-p",
                                    std::to_string(port_), "-k", dir_.string(), "-c",
                                    "listen_addresses=127.0.0.1", "-c", "max_connections=30"};
      if (!options.fsync) {
        for (const char* c : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
          argv.insert(argv.end(), {"-c", c});
        }
      }
      pid_t pid = spawn(argv, log, account, dir_, /*tie_to_parent=*/true);
      const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port_) +
                                   " user=postgres dbname=postgres connect_timeout=2";
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      bool exited = false;
      while (std::chrono::steady_clock::now() < deadline) {
        if (PQping(conninfo.c_str()) == PQPING_OK) {
          pid_ = pid;
          break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
          exited = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling readiness
      }
      if (pid_ < 0 && !exited) {
        (void)kill(pid, SIGKILL);  // our child: fails only when already gone
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        throw std::runtime_error("postgres_server: not ready within 60 s:\n" + tail_of(log));
      }
    }
    if (pid_ < 0) throw std::runtime_error("postgres_server: postgres did not start:\n" + tail_of(log));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

PostgresServer::~PostgresServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void PostgresServer::stop() noexcept {
  if (pid_ < 0) return;
  // kill() fails only with ESRCH here (the server is our child): it is gone, and waitpid
  // below collects it. waitpid() < 0 (ECHILD: already collected) ends the wait too.
  (void)kill(pid_, SIGINT);  // fast shutdown: disconnects clients, no checkpoint wait for them
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      (void)kill(pid_, SIGKILL);
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
}

std::string PostgresServer::url(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PostgresServer::create_database(const std::string& name) {
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      throw std::invalid_argument("postgres_server: database name must be [a-z0-9_]: " + name);
    }
  }
  pqxx::connection c(url());
  pqxx::nontransaction n(c);
  n.exec("CREATE DATABASE " + name);
  return url(name);
}

}  // namespace tierflow::test
