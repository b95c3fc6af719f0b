// A small SMTP server for tests and benchmarks, in this process: it speaks the protocol
// for real (RFC 5321 subset: greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA with
// dot-unstuffing, RSET, NOOP, QUIT; PIPELINING and 8BITMIME advertised; no TLS, no AUTH)
// on 127.0.0.1 and a port the kernel picks, and records every message it accepted.
//
// Failure injection: fail_next(n, code) answers `code` (4xx: the sender should retry;
// 5xx: it should not) instead of 250 at the end of DATA of the next n messages; those are
// counted in rejected() and not recorded.
//
// Lifecycle: the constructor listens and returns (connections are served at once); the
// destructor closes every connection and joins its threads. Threading: thread-safe, one
// thread per connection (at most `max_connections`; more wait in the backlog). Bounded:
// at most `max_messages` recorded (older ones are dropped and counted in received()),
// lines of `max_line` bytes, messages of `max_message_bytes` (552 above it). Fast enough
// to be the baseline of a benchmark: several thousand messages/s (about 9,000/s from four
// libcurl connections on a 2-core machine).
// Errors: std::runtime_error if it cannot listen.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace tierflow::test_support {

struct SmtpMessage {
  std::string helo;
  std::string mail_from;                                     // the reverse path, without < >
  std::vector<std::string> recipients;                       // forward paths, without < >
  std::vector<std::pair<std::string, std::string>> headers;  // in order, values unfolded and trimmed
  std::string body;                                          // after the blank line, dot-unstuffed, CRLF line ends
  std::string data;                                          // the whole DATA, dot-unstuffed

  // The first header of that name (case-insensitive); "" if none.
  std::string header(std::string_view name) const;
  std::string message_id() const { return header("Message-ID"); }
};

class SmtpServer {
 public:
  struct Options {
    std::size_t max_messages = 1'000'000;
    std::size_t max_message_bytes = 1 << 20;
    std::size_t max_line = 4096;
    std::size_t max_connections = 64;
  };

  SmtpServer();
  explicit SmtpServer(Options options);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  int port() const { return port_; }
  // "smtp://127.0.0.1:<port>"
  std::string url() const;

  // Answer `code` ("451", "550"...) with `text` to the end of DATA of the next `n` messages.
  void fail_next(int n, int code, std::string text = "injected failure");

  // Messages accepted so far (including those dropped from the record by max_messages).
  std::size_t received() const { return received_.load(); }
  std::size_t rejected() const { return rejected_.load(); }
  std::size_t connections() const { return connections_.load(); }
  // A copy of the recorded messages, oldest first.
  std::vector<SmtpMessage> messages() const;
  // Blocks until received() >= n or the timeout passes; returns whether it got there.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) const;
  // Forgets the recorded messages and the counters (not the fail_next budget).
  void clear();

 private:
  struct Connection;
  void accept_loop();
  void serve(int fd);
  // The reply to the end of DATA: 250, or an injected failure.
  std::string finish_message(SmtpMessage message);
  void reap_finished();

  Options options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::deque<SmtpMessage> messages_;
  int fail_count_ = 0;
  int fail_code_ = 0;
  std::string fail_text_;
  std::list<Connection> live_;  // guarded by mu_

  std::atomic<std::size_t> received_{0};
  std::atomic<std::size_t> rejected_{0};
  std::atomic<std::size_t> connections_{0};
};

}  // namespace tierflow::test_support
