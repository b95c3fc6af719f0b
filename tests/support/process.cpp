#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace tierflow::test_support {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string errno_text(int err) { return std::strerror(err); }

// Closes an fd on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string binary_name(const ProcessOptions& o) { return std::filesystem::path(o.binary).filename().string(); }

[[noreturn]] void fail_with_log(const ChildProcess& child, const std::string& what) {
  std::string msg = binary_name(child.options()) + " (pid " + std::to_string(child.pid()) + "): " + what;
  const std::string tail = child.log_tail();
  if (!tail.empty()) msg += "\n--- last lines of " + child.options().log_file + " ---\n" + tail;
  throw std::runtime_error(msg);
}

}  // namespace

// --- TempDir ------------------------------------------------------------------------

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp " + templ + ": " + errno_text(errno));
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (std::getenv("TIERFLOW_KEEP_TEST_DIRS") != nullptr) {
    std::cerr << "keeping test directory " << path_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// --- ExitStatus ---------------------------------------------------------------------

std::string ExitStatus::describe() const {
  if (code) return "exit code " + std::to_string(*code);
  if (signal) return "killed by signal " + std::to_string(*signal) + " (" + ::strsignal(*signal) + ")";
  return "unknown";
}

// --- ChildProcess -------------------------------------------------------------------

ChildProcess::ChildProcess(ProcessOptions options) : options_(std::move(options)) {
  // Everything the child needs is prepared here: between fork and exec only
  // async-signal-safe calls are allowed (the test process has other threads).
  std::vector<std::string> argv_store;
  argv_store.push_back(options_.binary);
  for (const auto& a : options_.args) argv_store.push_back(a);
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : options_.env) env[k] = v;
  std::vector<std::string> env_store;
  for (const auto& [k, v] : env) env_store.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& s : argv_store) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);

  Fd log_fd(::open(options_.log_file.empty() ? "/dev/null" : options_.log_file.c_str(),
                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log_fd.fd < 0) throw std::runtime_error("cannot open log file " + options_.log_file + ": " + errno_text(errno));
  Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + errno_text(errno));
  Fd err_read(pipe_fds[0]);
  Fd err_write(pipe_fds[1]);
  const pid_t parent = ::getpid();
  const char* cwd = options_.working_dir.empty() ? nullptr : options_.working_dir.c_str();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + errno_text(errno));
  if (pid == 0) {
    // Child: die with the test (see the header on threads), default signal handling, an
    // empty signal mask (the services block SIGTERM themselves and wait for it).
    // A failing setup call is reported through the pipe like a failed exec (its errno),
    // so the test sees why instead of a service started half-configured.
    int err = 0;
    auto failed = [&err](bool bad) {
      if (bad && err == 0) err = errno != 0 ? errno : EINVAL;
      return bad;
    };
    if (failed(::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)) {
      // reported below
    } else if (::getppid() != parent) {
      ::_exit(126);
    }
    sigset_t none;
    failed(sigemptyset(&none) != 0 || ::sigprocmask(SIG_SETMASK, &none, nullptr) != 0);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) failed(::signal(s, SIG_DFL) == SIG_ERR);
    failed(::dup2(null_fd.fd, STDIN_FILENO) < 0 || ::dup2(log_fd.fd, STDOUT_FILENO) < 0 ||
           ::dup2(log_fd.fd, STDERR_FILENO) < 0);
    // Descriptors the test opened without O_CLOEXEC must not leak into the service.
    failed(::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0);
    if (err != 0) {
      // setup failed: report it
    } else if (cwd != nullptr && ::chdir(cwd) != 0) {
      err = errno;
    } else {
      ::execve(argv[0], argv.data(), envp.data());
      err = errno;
    }
    // Nothing more can be done in the child when this write fails: the parent then sees
    // the exit status 127 instead of the errno.
    [[maybe_unused]] auto n = ::write(err_write.fd, &err, sizeof err);
    ::_exit(127);
  }
  pid_ = pid;
  ::close(err_write.fd);
  err_write.fd = -1;
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_read.fd, &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    reap(/*block=*/true);
    pid_ = -1;
    throw std::runtime_error("cannot execute " + options_.binary + ": " + errno_text(child_errno));
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) kill_now();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : options_(std::move(other.options_)), pid_(other.pid_), status_(std::move(other.status_)) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) kill_now();
    options_ = std::move(other.options_);
    pid_ = other.pid_;
    status_ = std::move(other.status_);
    other.pid_ = -1;
  }
  return *this;
}

void ChildProcess::reap(bool block) {
  if (pid_ <= 0 || status_) return;
  int wstatus = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wstatus, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    ExitStatus s;
    if (WIFEXITED(wstatus)) s.code = WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) s.signal = WTERMSIG(wstatus);
    status_ = s;
  } else if (r < 0) {
    status_ = ExitStatus{};  // not our child any more (ECHILD): treat as gone
  }
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  reap(/*block=*/false);
  return !status_;
}

void ChildProcess::kill_now() {
  if (!running()) return;
  // ESRCH only: it exited meanwhile, and reap() collects it either way.
  if (::kill(pid_, SIGKILL) != 0 && errno != ESRCH) {
    std::cerr << binary_name(options_) << " (pid " << pid_ << "): SIGKILL failed: " << errno_text(errno) << "\n";
    return;
  }
  reap(/*block=*/true);
}

std::optional<ExitStatus> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
  return status_;
}

ExitStatus ChildProcess::stop(std::chrono::milliseconds grace) {
  if (running()) {
    if (::kill(pid_, SIGTERM) != 0 && errno != ESRCH) {
      std::cerr << binary_name(options_) << " (pid " << pid_ << "): SIGTERM failed: " << errno_text(errno) << "\n";
    }
    if (!wait_exit(grace)) {
      std::cerr << binary_name(options_) << " (pid " << pid_ << ") did not stop within " << grace.count()
                << " ms of SIGTERM: killing\n";
      kill_now();
    }
  }
  return status_.value_or(ExitStatus{});
}

std::string ChildProcess::log_tail(size_t max_bytes) const {
  if (options_.log_file.empty()) return "";
  std::ifstream in(options_.log_file, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = size > static_cast<std::streamoff>(max_bytes) ? size - static_cast<std::streamoff>(max_bytes) : 0;
  in.seekg(from);
  std::string out(static_cast<size_t>(size - from), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

// --- ready files --------------------------------------------------------------------

int ReadyInfo::port(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) throw std::runtime_error("ready file has no \"" + name + "\" port");
  return static_cast<int>(it->second);
}

pid_t ReadyInfo::pid() const {
  auto it = values.find("pid");
  return it == values.end() ? 0 : static_cast<pid_t>(it->second);
}

ReadyInfo parse_ready_file(const std::string& text) {
  const std::string t = trim(text);
  if (t.size() < 2 || t.front() != '{' || t.back() != '}') {
    throw std::runtime_error("ready file is not a JSON object: '" + t + "'");
  }
  ReadyInfo info;
  std::string_view body(t);
  body = body.substr(1, body.size() - 2);
  while (!trim(body).empty()) {
    const size_t comma = body.find(',');
    const std::string member = trim(body.substr(0, comma));
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
    const size_t colon = member.find(':');
    if (colon == std::string::npos || member.front() != '"') {
      throw std::runtime_error("ready file member is not \"name\": number: '" + member + "'");
    }
    std::string name = trim(std::string_view(member).substr(0, colon));
    if (name.size() < 2 || name.back() != '"') throw std::runtime_error("ready file: bad name in '" + member + "'");
    name = name.substr(1, name.size() - 2);
    const std::string value = trim(std::string_view(member).substr(colon + 1));
    int64_t v = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || p != value.data() + value.size()) {
      throw std::runtime_error("ready file: \"" + name + "\" is not an integer: '" + value + "'");
    }
    info.values[name] = v;
  }
  return info;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ReadyInfo wait_for_ready_file(const std::string& path, ChildProcess& child, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string text = read_file(path);
    if (!text.empty()) {
      ReadyInfo info = parse_ready_file(text);  // written by rename: complete when present
      if (info.pid() == 0 || info.pid() == child.pid()) return info;
    }
    if (!child.running()) fail_with_log(child, "exited (" + child.status()->describe() + ") before writing " + path);
    if (std::chrono::steady_clock::now() >= deadline) {
      fail_with_log(child, "no ready file " + path + " within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string wait_for_file_line(const std::string& path, ChildProcess& child, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string text = read_file(path);
    if (!text.empty()) return trim(text.substr(0, text.find('\n')));
    if (!child.running()) fail_with_log(child, "exited (" + child.status()->describe() + ") before writing " + path);
    if (std::chrono::steady_clock::now() >= deadline) {
      fail_with_log(child, "no " + path + " within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// --- metrics ------------------------------------------------------------------------

std::optional<std::string> http_get(int port, const std::string& path) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.fd < 0) return std::nullopt;
  timeval tv{2, 0};
  ::setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(sock.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return std::nullopt;
  }
  std::string response;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;  // timeout or reset
    }
    response.append(buf, static_cast<size_t>(n));
  }
  const size_t line_end = response.find("\r\n");
  if (line_end == std::string::npos || response.substr(0, line_end).find(" 200") == std::string::npos) {
    return std::nullopt;
  }
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

std::optional<double> metric_value(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      try {
        return std::stod(line.substr(series.size() + 1));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace tierflow::test_support
