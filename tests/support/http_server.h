// A small HTTP/1.1 server for tests and benchmarks, in this process, on 127.0.0.1 and a
// port the kernel picks (cpp-httplib, Debian's libcpp-httplib-dev). It stands in for an
// SMS gateway or a webhook receiver: it answers every GET/POST/PUT/PATCH/DELETE on any
// path, keeps connections alive, and records what it received.
//
// Answers: `default_status` (200) with body {"ok":true}, or, for the next n requests after
// respond_next(n, status), that status (429, 500, 400...) with {"error":"injected"}; those
// are counted in rejected() and recorded with their status too.
//
// Lifecycle: the constructor returns once the server accepts connections; the destructor
// stops it and joins its threads. Threading: thread-safe; `threads` workers, each serving
// one kept-alive connection at a time (more connections wait their turn). Bounded: at most
// `max_records` requests recorded (older ones dropped, still counted), bodies of at most
// `max_body` bytes (413 above). Fast enough to be a benchmark's baseline.
// Errors: std::runtime_error if it cannot listen.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace tierflow::test_support {

struct HttpRequestRecord {
  std::string method;
  std::string path;    // without the query
  std::string target;  // path and query as sent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int status = 0;  // what the server answered

  // The first header of that name (case-insensitive); "" if none.
  std::string header(std::string_view name) const;
};

class HttpServer {
 public:
  struct Options {
    std::size_t threads = 32;
    std::size_t max_records = 1'000'000;
    std::size_t max_body = 1 << 20;
    int default_status = 200;
  };

  HttpServer();
  explicit HttpServer(Options options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>"
  std::string url() const;

  // Answer `status` to the next `n` requests.
  void respond_next(int n, int status);

  // Requests answered with a 2xx (including those dropped from the record).
  std::size_t received() const { return received_.load(); }
  // Requests answered with an injected status.
  std::size_t rejected() const { return rejected_.load(); }
  std::vector<HttpRequestRecord> requests() const;
  // Blocks until received() >= n or the timeout passes; returns whether it got there.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) const;
  void clear();

 private:
  int record(HttpRequestRecord r);

  Options options_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread listener_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::deque<HttpRequestRecord> records_;
  int override_count_ = 0;
  int override_status_ = 0;
  std::atomic<std::size_t> received_{0};
  std::atomic<std::size_t> rejected_{0};
};

}  // namespace tierflow::test_support
