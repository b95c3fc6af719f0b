#include "stack.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <stdexcept>

#include "common/kafka/topics.h"
#include "tests/support/service_store.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::e2e_bench {
namespace {

using test_support::behind;
using test_support::count_rows;
using test_support::stored_offsets;

test_support::ProcessOptions options_for(const std::string& name, const std::string& binary, const std::string& dir,
                                         std::map<std::string, std::string> env) {
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir + "/ready.json");
  test_support::ProcessOptions o;
  o.binary = binary;
  o.args = {"--config", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/" + name + ".yaml"};
  o.env = std::move(env);
  o.env["TIERFLOW_READY_FILE"] = dir + "/ready.json";
  o.log_file = dir + "/" + name + ".log";
  o.working_dir = dir;
  return o;
}

}  // namespace

Service::Service(std::string name, std::string binary, std::string dir, std::map<std::string, std::string> env)
    : process_(options_for(name, binary, dir, std::move(env))) {
  ready_ = test_support::wait_for_ready_file(dir + "/ready.json", process_, std::chrono::seconds(60));
}

Service::~Service() { process_.stop(std::chrono::seconds(20)); }

Stack::Stack(const std::string& tag, int partitions, int brokers)
    : dir_("tf-e2e-bench-" + tag),
      broker_({TIERFLOW_DEVBROKER, dir_.file("broker"), partitions, brokers}),
      redis_(service_dir("redis")),
      tokens_(dir_.path().string()) {}

Stack::~Stack() {
  // The services before the broker and Redis they use (members, destroyed after this
  // body), so each shuts down in its own phases instead of timing out on a dead peer.
  ingest_.reset();
  classification_.reset();
  ledger_.reset();
}

std::string Stack::service_dir(const std::string& name) const {
  std::filesystem::create_directories(dir_.file(name));
  return dir_.file(name);
}

std::map<std::string, std::string> Stack::common_env(const std::string& name) const {
  return {{"TIERFLOW_KAFKA_BOOTSTRAP_FILE", broker_.addr_file()},
          {"TIERFLOW_GRPC_LISTEN", "127.0.0.1:0"},
          {"TIERFLOW_METRICS_LISTEN", "127.0.0.1:0"},
          {"TIERFLOW_AUTH_TOKENS_FILE", tokens_.file()},
          {"TIERFLOW_LOG_LEVEL", "info"},
          {"TIERFLOW_INSTANCE_ID", name}};
}

void Stack::start_ingest() {
  auto env = common_env("ingest");
  env.erase("TIERFLOW_INSTANCE_ID");
  env["TIERFLOW_REDIS_PORT"] = std::to_string(redis_.port());
  env["TIERFLOW_DEDUPE_ENABLED"] = "true";
  ingest_ = std::make_unique<Service>("ingest", TIERFLOW_INGEST_BIN, service_dir("ingest"), std::move(env));
}

void Stack::start_ledger() {
  auto env = common_env("ledger");
  env.erase("TIERFLOW_INSTANCE_ID");
  env["TIERFLOW_STORE_BACKEND"] = "sqlite";
  env["TIERFLOW_STORE_PATH"] = service_dir("ledger") + "/ledger.db";
  // The bench's event times are laid out for one day of lateness (e2e_bench.cpp, kLoadStart).
  env["TIERFLOW_ALLOWED_LATENESS_S"] = "86400";
  ledger_ = std::make_unique<Service>("ledger", TIERFLOW_LEDGER_BIN, service_dir("ledger"), std::move(env));
}

void Stack::start_classification() {
  auto env = common_env("classification");
  env["TIERFLOW_REDIS_PORT"] = std::to_string(redis_.port());
  env["TIERFLOW_STORE_PATH"] = classification_store();
  env["TIERFLOW_STANDARD_PATH"] = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
  // Set here, not inherited from the default: decisions between the day ends of event
  // time are provisional and published at once, which is what a lookup reads.
  env["TIERFLOW_CLOCK"] = "events";
  env["TIERFLOW_EVALUATION_POINTS"] = "watermarks";
  classification_ = std::make_unique<Service>("classification", TIERFLOW_CLASSIFICATION_BIN,
                                              service_dir("classification"), std::move(env));
}

Progress Stack::progress(const std::map<int32_t, int64_t>& events_end) {
  Progress p;
  const std::string ledger_db = dir_.file("ledger/ledger.db");
  const std::string lag = behind(stored_offsets(ledger_db, topics::kPosEvents), events_end);
  if (!lag.empty()) {
    p.behind = "ledger" + lag;
    accounts_end_.reset();
    return p;
  }
  if (const int64_t rows = count_rows(ledger_db, "outbox"); rows > 0) {
    p.behind = fmt::format("ledger outbox {} rows", rows);
    accounts_end_.reset();
    return p;
  }
  p.ledger_caught_up = true;
  // Nothing more reaches ledger.accounts.v1 once the ledger applied every input and
  // relayed its outbox: its end offsets are read once per catch-up.
  if (!accounts_end_) {
    accounts_end_ = test_support::end_offsets(broker_.bootstrap(), std::string(topics::kAccounts));
  }
  const std::string cls_lag = behind(stored_offsets(classification_store(), topics::kAccounts), *accounts_end_);
  if (!cls_lag.empty()) {
    p.behind = "classification" + cls_lag;
    return p;
  }
  p.classification_caught_up = true;
  return p;
}

void Stack::barrier(const std::string& customer) {
  auto stub = v1::TierService::NewStub(tokens_.channel(classification_->grpc_target(), "call-center"));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::ExplainTierRequest req;
  req.set_customer_id(customer);
  v1::Explanation resp;
  const grpc::Status st = stub->ExplainTier(&ctx, req, &resp);
  if (!st.ok()) throw std::runtime_error("ExplainTier " + customer + ": " + st.error_message());
}

void Stack::check_running() {
  for (auto* s : {ingest_.get(), ledger_.get(), classification_.get()}) {
    if (s != nullptr && !s->running()) throw std::runtime_error("a service exited:\n" + s->log_tail());
  }
}

std::string load_average() {
  std::string s = test_support::read_file("/proc/loadavg");
  int fields = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ' && ++fields == 3) return s.substr(0, i);
  }
  return s;
}

}  // namespace tierflow::e2e_bench
