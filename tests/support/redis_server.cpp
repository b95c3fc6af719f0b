#include "tests/support/redis_server.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "common/redis/mux.h"

namespace tierflow::test_support {
namespace {

std::string find_on_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= rest.size()) {
    const size_t end = rest.find(':', start);
    const std::string dir = rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    if (end == std::string::npos) break;
    start = end + 1;
  }
  throw std::runtime_error(name + " not found on PATH (install redis-server)");
}

}  // namespace

RedisServer::RedisServer(std::string dir, std::string binary)
    : dir_(std::move(dir)), binary_(find_on_path(binary)), socket_(dir_ + "/redis.sock"), port_(pick_free_port()) {
  start();
}

RedisServer::~RedisServer() {
  if (process_) process_->stop(std::chrono::seconds(5));
}

config::RedisConfig RedisServer::config() const {
  config::RedisConfig c;
  c.host = "127.0.0.1";
  c.port = port_;
  c.unix_socket = socket_;
  c.timeout = std::chrono::milliseconds(2000);
  return c;
}

void RedisServer::start() {
  std::filesystem::remove(socket_);
  ProcessOptions o;
  o.binary = binary_;
  o.args = {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--unixsocket", socket_, "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", dir_, "--daemonize", "no"};
  o.log_file = dir_ + "/redis.log";
  process_ = std::make_unique<ChildProcess>(o);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    if (!process_->running()) {
      throw std::runtime_error(binary_ + " exited before it was ready: " + process_->log_tail());
    }
    if (std::filesystem::exists(socket_)) {
      try {
        redis::Mux mux(config());
        if (mux.call({"PING"}, std::chrono::seconds(2)).str == "PONG") return;
      } catch (const std::exception&) {
        // not accepting yet
      }
    }
    if (std::chrono::steady_clock::now() > give_up) {
      throw std::runtime_error(binary_ + " did not answer PING within 10 s: " + process_->log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RedisServer::restart() {
  if (process_) process_->stop(std::chrono::seconds(5));
  process_.reset();
  start();
}

}  // namespace tierflow::test_support
