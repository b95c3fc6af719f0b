#include "tests/support/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <stdexcept>

namespace tierflow::test_support {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string HttpRequestRecord::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return "";
}

HttpServer::HttpServer() : HttpServer(Options{}) {}

HttpServer::HttpServer(Options options) : options_(options), server_(std::make_unique<httplib::Server>()) {
  const std::size_t threads = std::max<std::size_t>(1, options_.threads);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_keep_alive_max_count(1'000'000);
  server_->set_keep_alive_timeout(5);
  server_->set_tcp_nodelay(true);
  server_->set_payload_max_length(options_.max_body);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    HttpRequestRecord r;
    r.method = req.method;
    r.path = req.path;
    r.target = req.target;
    r.headers.assign(req.headers.begin(), req.headers.end());
    r.body = req.body;
    res.status = record(std::move(r));
    res.set_content(res.status / 100 == 2 ? R"({"ok":true})" : R"({"error":"injected"})", "application/json");
  };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Patch(".*", handler);
  server_->Delete(".*", handler);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("HttpServer: cannot listen on 127.0.0.1");
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  // The socket already listens (bind_to_any_port), so connections queue in its backlog;
  // waiting for the accept loop only makes stop() safe if the test ends at once.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

HttpServer::~HttpServer() {
  server_->stop();
  listener_.join();
}

std::string HttpServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void HttpServer::respond_next(int n, int status) {
  std::lock_guard lock(mu_);
  override_count_ = n;
  override_status_ = status;
}

int HttpServer::record(HttpRequestRecord r) {
  std::lock_guard lock(mu_);
  if (override_count_ > 0) {
    --override_count_;
    r.status = override_status_;
    ++rejected_;
  } else {
    r.status = options_.default_status;
    if (r.status / 100 == 2) ++received_;
  }
  const int status = r.status;
  records_.push_back(std::move(r));
  while (records_.size() > options_.max_records) records_.pop_front();
  changed_.notify_all();
  return status;
}

std::vector<HttpRequestRecord> HttpServer::requests() const {
  std::lock_guard lock(mu_);
  return {records_.begin(), records_.end()};
}

bool HttpServer::wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return received_.load() >= n; });
}

void HttpServer::clear() {
  std::lock_guard lock(mu_);
  records_.clear();
  received_ = 0;
  rejected_ = 0;
}

}  // namespace tierflow::test_support
