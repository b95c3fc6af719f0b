#include "ledger_harness.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/kafka/topics.h"
#include "tests/support/postgres_server.h"
#include "tests/support/tokens.h"

namespace tierflow::ledger_test {
namespace {

constexpr auto kRpcDeadline = std::chrono::seconds(10);

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Runs fn(i) for i in [0, n) on `threads` threads; the first exception is rethrown.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::exception_ptr failure;
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) {
        try {
          fn(i);
        } catch (...) {
          std::lock_guard lock(mu);
          if (!failure) failure = std::current_exception();
          next = n;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
}

void set_deadline(grpc::ClientContext& ctx) { ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline); }

}  // namespace

std::optional<std::string> backend_unavailable(const std::string& name) {
  if (name == "sqlite") return std::nullopt;
  if (name == "postgres") {
    return test::PostgresServer::unavailable();
  }
  return "unknown store backend '" + name + "'";
}

StoreBackend make_backend(const std::string& name, const std::string& dir) {
  StoreBackend b;
  b.name = name;
  if (name == "sqlite") {
    b.env["TIERFLOW_STORE_PATH"] = dir + "/ledger.db";
  } else if (name == "postgres") {
    auto server = std::make_shared<test::PostgresServer>();
    b.env["TIERFLOW_STORE_BACKEND"] = "postgres";
    b.env["TIERFLOW_STORE_POSTGRES_URL"] = server->create_database("ledger_process_test");
    b.fallback_file = dir + "/fell-back-to-sqlite.db";
    b.env["TIERFLOW_STORE_PATH"] = b.fallback_file;
    b.owned = std::move(server);
  } else {
    throw std::invalid_argument("unknown store backend '" + name + "'");
  }
  return b;
}

std::string ledger_binary() { return env_or("TIERFLOW_TEST_LEDGER_BIN", TIERFLOW_LEDGER_BIN); }
std::string devbroker_binary() { return env_or("TIERFLOW_TEST_DEVBROKER_BIN", TIERFLOW_DEVBROKER_BIN); }
std::string ledger_config() { return TIERFLOW_LEDGER_CONFIG; }

// --- LedgerProcess --------------------------------------------------------------------

LedgerProcess::LedgerProcess(LedgerOptions options)
    : options_(std::move(options)),
      ready_file_(options_.dir + "/ledger.ready"),
      log_file_(options_.dir + "/ledger.log") {}

LedgerProcess::~LedgerProcess() { kill(); }

void LedgerProcess::start(std::chrono::milliseconds timeout) {
  if (running()) throw std::logic_error("LedgerProcess::start: the ledger is already running");
  std::filesystem::remove(ready_file_);  // so the wait below sees this process's file only
  test_support::ProcessOptions p;
  p.binary = ledger_binary();
  p.args = {"--config", ledger_config()};
  p.env = options_.backend.env;
  p.env["TIERFLOW_KAFKA_BOOTSTRAP_FILE"] = options_.bootstrap_file;
  p.env["TIERFLOW_KAFKA_SESSION_TIMEOUT_MS"] = std::to_string(options_.session_timeout.count());
  p.env["TIERFLOW_GRPC_LISTEN"] = "127.0.0.1:0";
  p.env["TIERFLOW_METRICS_LISTEN"] = "127.0.0.1:0";
  p.env["TIERFLOW_READY_FILE"] = ready_file_;
  p.env["TIERFLOW_LOG_LEVEL"] = options_.log_level;
  p.env["TIERFLOW_AUTH_TOKENS_FILE"] = test_support::shared_tokens().file();
  p.log_file = log_file_;
  p.working_dir = options_.dir;
  std::error_code ec;
  const auto size = std::filesystem::file_size(log_file_, ec);
  log_offset_ = ec ? 0 : static_cast<size_t>(size);
  process_.emplace(std::move(p));
  ++starts_;
  ready_ = test_support::wait_for_ready_file(ready_file_, *process_, timeout);
  channel_ = test_support::shared_tokens().channel(grpc_target(), "finance");
  stub_ = v1::Ledger::NewStub(channel_);
}

bool LedgerProcess::fell_back_to_sqlite() const {
  return !options_.backend.fallback_file.empty() && std::filesystem::exists(options_.backend.fallback_file);
}

void LedgerProcess::kill() {
  if (process_) process_->kill_now();
}

test_support::ExitStatus LedgerProcess::stop(std::chrono::milliseconds grace) {
  if (!process_) return {};
  return process_->stop(grace);
}

bool LedgerProcess::running() { return process_ && process_->running(); }

std::string LedgerProcess::grpc_target() const { return "127.0.0.1:" + std::to_string(ready_.grpc_port()); }

std::optional<double> LedgerProcess::metric(const std::string& series) const {
  auto body = test_support::http_get(ready_.metrics_port(), "/metrics");
  if (!body) return std::nullopt;
  return test_support::metric_value(*body, series);
}

bool LedgerProcess::assigned_this_life() const {
  const std::string log = test_support::read_file(log_file_);
  return log.size() > log_offset_ && log.find("kafka: assigned", log_offset_) != std::string::npos;
}

std::string LedgerProcess::log_tail() const { return process_ ? process_->log_tail() : ""; }

// --- Kafka ----------------------------------------------------------------------------

void produce_event(kafka::Producer& producer, const std::string& key, const std::string& value,
                   kafka::Producer::DeliveryFn on_delivery) {
  producer.produce(topics::kPosEvents, key, value, {{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}},
                   std::move(on_delivery));
}

std::vector<std::string> produce_partition_markers(kafka::Producer& producer, int partitions,
                                                   const std::string& tag) {
  std::set<int32_t> covered;
  std::vector<std::string> markers;
  for (int n = 0; static_cast<int>(covered.size()) < partitions; ++n) {
    if (n > 100 * partitions) throw std::runtime_error("markers: could not reach every partition");
    v1::PosEvent ev;
    ev.set_event_id("marker-" + tag + "-" + std::to_string(n));
    ev.set_customer_id("zz-marker-" + tag + "-" + std::to_string(n));
    ev.mutable_event_time()->set_seconds(1'700'000'000);
    ev.mutable_feedback()->set_score(5);
    const auto report = kafka::produce_sync(producer, topics::kPosEvents, ev.customer_id(), ev.SerializeAsString(),
                                            {{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}},
                                            std::chrono::seconds(30));
    if (!report.ok) throw std::runtime_error("marker not delivered: " + report.error);
    covered.insert(report.partition);
    markers.push_back(ev.customer_id());
  }
  return markers;
}

void wait_for_markers(LedgerProcess& ledger, const std::vector<std::string>& markers,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> missing = markers;
  while (!missing.empty()) {
    if (!ledger.running()) {
      throw std::runtime_error("the ledger exited while catching up\n" + ledger.log_tail());
    }
    std::vector<std::string> still;
    for (const auto& id : missing) {
      grpc::ClientContext ctx;
      set_deadline(ctx);
      v1::GetAccountRequest req;
      req.set_customer_id(id);
      v1::AccountSnapshot snap;
      const grpc::Status st = ledger.stub().GetAccount(&ctx, req, &snap);
      if (!st.ok()) still.push_back(id);
    }
    missing = std::move(still);
    if (missing.empty()) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the ledger did not catch up within " + std::to_string(timeout.count()) + " ms: " +
                               std::to_string(missing.size()) + " partition markers not applied, e.g. " +
                               missing.front() + "\n" + ledger.log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// --- gRPC reads -----------------------------------------------------------------------

std::unordered_map<std::string, std::optional<v1::AccountSnapshot>> fetch_accounts(
    const std::string& target, const std::vector<std::string>& ids, int threads) {
  auto channel = test_support::shared_tokens().channel(target, "finance");
  auto stub = v1::Ledger::NewStub(channel);
  std::vector<std::optional<v1::AccountSnapshot>> results(ids.size());
  parallel_for(ids.size(), threads, [&](size_t i) {
    grpc::ClientContext ctx;
    set_deadline(ctx);
    v1::GetAccountRequest req;
    req.set_customer_id(ids[i]);
    v1::AccountSnapshot snap;
    const grpc::Status st = stub->GetAccount(&ctx, req, &snap);
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) return;
    if (!st.ok()) throw std::runtime_error("GetAccount " + ids[i] + ": " + st.error_message());
    results[i] = std::move(snap);
  });
  std::unordered_map<std::string, std::optional<v1::AccountSnapshot>> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out.emplace(ids[i], std::move(results[i]));
  return out;
}

std::unordered_map<std::string, std::vector<std::string>> fetch_posted_event_ids(
    const std::string& target, const std::vector<std::string>& ids, int threads) {
  auto channel = test_support::shared_tokens().channel(target, "finance");
  auto stub = v1::Ledger::NewStub(channel);
  std::vector<std::vector<std::string>> results(ids.size());
  parallel_for(ids.size(), threads, [&](size_t i) {
    std::string token;
    do {
      grpc::ClientContext ctx;
      set_deadline(ctx);
      v1::GetStatementRequest req;
      req.set_customer_id(ids[i]);
      req.mutable_page()->set_page_size(1000);
      req.mutable_page()->set_page_token(token);
      v1::GetStatementResponse resp;
      const grpc::Status st = stub->GetStatement(&ctx, req, &resp);
      if (st.error_code() == grpc::StatusCode::NOT_FOUND) return;
      if (!st.ok()) throw std::runtime_error("GetStatement " + ids[i] + ": " + st.error_message());
      for (const auto& e : resp.entries()) results[i].push_back(e.event_id());
      token = resp.next_page_token();
    } while (!token.empty());
  });
  std::unordered_map<std::string, std::vector<std::string>> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out.emplace(ids[i], std::move(results[i]));
  return out;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace tierflow::ledger_test
