#include "tests/support/smtp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tierflow::test_support {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "<a@b> SIZE=12" -> "a@b"; nullopt without the angle brackets.
std::optional<std::string> path_argument(std::string_view arg) {
  arg = trim(arg);
  const auto open = arg.find('<');
  const auto close = arg.find('>', open == std::string_view::npos ? 0 : open);
  if (open != 0 || close == std::string_view::npos) return std::nullopt;
  return std::string(arg.substr(1, close - 1));
}

// Reads CRLF (or LF) terminated lines from a socket through a buffer, and batches the
// replies: they are written when the input buffer runs dry, so pipelined commands get
// their replies in one write.
class Wire {
 public:
  explicit Wire(int fd) : fd_(fd) {}

  // False at EOF or on an error. A line longer than `max` is consumed and reported as too long.
  bool read_line(std::string* line, std::size_t max, bool* too_long) {
    line->clear();
    *too_long = false;
    for (;;) {
      const auto nl = std::memchr(in_.data() + pos_, '\n', in_.size() - pos_);
      if (nl != nullptr) {
        const std::size_t end = static_cast<const char*>(nl) - in_.data();
        if (!*too_long) line->append(in_, pos_, end - pos_);
        pos_ = end + 1;
        if (!line->empty() && line->back() == '\r') line->pop_back();
        if (line->size() > max) *too_long = true;
        return true;
      }
      if (!*too_long) line->append(in_, pos_, std::string::npos);
      if (line->size() > max) {
        *too_long = true;
        line->clear();
      }
      in_.clear();
      pos_ = 0;
      if (!flush() || !fill()) return false;
    }
  }

  void reply(std::string_view text) {
    out_.append(text);
    out_.append("\r\n");
  }

  bool flush() {
    std::size_t done = 0;
    while (done < out_.size()) {
      const ssize_t n = ::send(fd_, out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    out_.clear();
    return true;
  }

 private:
  bool fill() {
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      in_.assign(buf, static_cast<std::size_t>(n));
      return true;
    }
  }

  int fd_;
  std::string in_;
  std::size_t pos_ = 0;
  std::string out_;
};

void parse_headers(SmtpMessage* m) {
  std::string_view data = m->data;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t end = data.find("\r\n", pos);
    if (end == std::string_view::npos) end = data.size();
    const std::string_view line = data.substr(pos, end - pos);
    pos = std::min(end + 2, data.size());
    if (line.empty()) {
      m->body = std::string(data.substr(pos));
      return;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !m->headers.empty()) {
      m->headers.back().second += " ";
      m->headers.back().second += trim(line);
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    m->headers.emplace_back(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
}

}  // namespace

std::string SmtpMessage::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return "";
}

struct SmtpServer::Connection {
  int fd = -1;
  std::thread thread;
  std::atomic<bool> done{false};
};

SmtpServer::SmtpServer() : SmtpServer(Options{}) {}

SmtpServer::SmtpServer(Options options) : options_(options) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("SmtpServer: socket() failed");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error(std::string("SmtpServer: cannot listen: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

SmtpServer::~SmtpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  ::close(listen_fd_);
  std::list<Connection> live;
  {
    std::lock_guard lock(mu_);
    live.swap(live_);
  }
  for (auto& c : live) ::shutdown(c.fd, SHUT_RDWR);
  for (auto& c : live) {
    c.thread.join();
    ::close(c.fd);
  }
}

std::string SmtpServer::url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

void SmtpServer::fail_next(int n, int code, std::string text) {
  std::lock_guard lock(mu_);
  fail_count_ = n;
  fail_code_ = code;
  fail_text_ = std::move(text);
}

std::vector<SmtpMessage> SmtpServer::messages() const {
  std::lock_guard lock(mu_);
  return {messages_.begin(), messages_.end()};
}

bool SmtpServer::wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return received_.load() >= n; });
}

void SmtpServer::clear() {
  std::lock_guard lock(mu_);
  messages_.clear();
  received_ = 0;
  rejected_ = 0;
}

void SmtpServer::reap_finished() {
  std::list<Connection> finished;
  {
    std::lock_guard lock(mu_);
    for (auto it = live_.begin(); it != live_.end();) {
      auto next = std::next(it);
      if (it->done) finished.splice(finished.end(), live_, it);
      it = next;
    }
  }
  for (auto& c : finished) {
    c.thread.join();
    ::close(c.fd);
  }
}

void SmtpServer::accept_loop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    reap_finished();
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mu_);
    if (live_.size() >= options_.max_connections) {
      static constexpr char kBusy[] = "421 4.3.2 too many connections\r\n";
      ::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL);
      ::close(fd);
      continue;
    }
    ++connections_;
    Connection& c = live_.emplace_back();
    c.fd = fd;
    c.thread = std::thread([this, &c] {
      serve(c.fd);
      ::shutdown(c.fd, SHUT_RDWR);
      c.done = true;
    });
  }
}

std::string SmtpServer::finish_message(SmtpMessage message) {
  std::lock_guard lock(mu_);
  if (fail_count_ > 0) {
    --fail_count_;
    ++rejected_;
    return std::to_string(fail_code_) + " " + fail_text_;
  }
  const std::size_t n = ++received_;
  messages_.push_back(std::move(message));
  while (messages_.size() > options_.max_messages) messages_.pop_front();
  changed_.notify_all();
  return "250 2.0.0 OK queued as " + std::to_string(n);
}

void SmtpServer::serve(int fd) {
  Wire wire(fd);
  wire.reply("220 127.0.0.1 ESMTP tierflow test server");
  std::string helo;
  std::optional<SmtpMessage> tx;  // the transaction after MAIL FROM
  std::string line;
  bool too_long = false;
  while (!stopping_ && wire.read_line(&line, options_.max_line, &too_long)) {
    if (too_long) {
      wire.reply("500 5.5.6 line too long");
      continue;
    }
    const std::string_view cmd = line;
    if (istarts_with(cmd, "EHLO ") || istarts_with(cmd, "HELO ")) {
      helo = std::string(trim(cmd.substr(5)));
      tx.reset();
      if (istarts_with(cmd, "HELO ")) {
        wire.reply("250 127.0.0.1");
      } else {
        wire.reply("250-127.0.0.1 hello " + helo);
        wire.reply("250-PIPELINING");
        wire.reply("250-8BITMIME");
        wire.reply("250-SIZE " + std::to_string(options_.max_message_bytes));
        wire.reply("250 SMTPUTF8");
      }
    } else if (istarts_with(cmd, "MAIL FROM:")) {
      if (helo.empty()) {
        wire.reply("503 5.5.1 EHLO first");
      } else if (tx) {
        wire.reply("503 5.5.1 nested MAIL command");
      } else if (auto from = path_argument(cmd.substr(10))) {
        tx.emplace();
        tx->helo = helo;
        tx->mail_from = *from;
        wire.reply("250 2.1.0 OK");
      } else {
        wire.reply("501 5.1.7 bad sender address syntax");
      }
    } else if (istarts_with(cmd, "RCPT TO:")) {
      if (!tx) {
        wire.reply("503 5.5.1 MAIL first");
      } else if (tx->recipients.size() >= 100) {
        wire.reply("452 4.5.3 too many recipients");
      } else if (auto to = path_argument(cmd.substr(8)); to && !to->empty()) {
        tx->recipients.push_back(*to);
        wire.reply("250 2.1.5 OK");
      } else {
        wire.reply("501 5.1.3 bad recipient address syntax");
      }
    } else if (iequals(cmd, "DATA")) {
      if (!tx || tx->recipients.empty()) {
        wire.reply("503 5.5.1 RCPT first");
        continue;
      }
      wire.reply("354 End data with <CR><LF>.<CR><LF>");
      bool too_big = false;
      bool ended = false;
      while (wire.read_line(&line, options_.max_message_bytes, &too_long)) {
        if (line == ".") {
          ended = true;
          break;
        }
        if (too_long || tx->data.size() + line.size() + 2 > options_.max_message_bytes) {
          too_big = true;
          continue;
        }
        // Dot-unstuffing (RFC 5321 4.5.2): a leading dot was doubled by the sender.
        tx->data.append(line, !line.empty() && line.front() == '.' ? 1 : 0);
        tx->data.append("\r\n");
      }
      if (!ended) return;  // the connection dropped mid-message: nothing was accepted
      if (too_big) {
        wire.reply("552 5.3.4 message too big");
      } else {
        parse_headers(&*tx);
        wire.reply(finish_message(std::move(*tx)));
      }
      tx.reset();
    } else if (iequals(cmd, "RSET")) {
      tx.reset();
      wire.reply("250 2.0.0 OK");
    } else if (istarts_with(cmd, "NOOP")) {
      wire.reply("250 2.0.0 OK");
    } else if (iequals(cmd, "QUIT")) {
      wire.reply("221 2.0.0 bye");
      wire.flush();
      return;
    } else if (istarts_with(cmd, "VRFY")) {
      wire.reply("252 2.5.0 cannot verify");
    } else {
      wire.reply("502 5.5.2 command not recognized");
    }
  }
}

}  // namespace tierflow::test_support
