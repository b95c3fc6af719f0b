// Access control on each real service binary, end to end through gRPC: the refusals and
// their codes, health open, rotation without a restart, the failure counter on /metrics,
// ingest's per-store check for pos tokens, and no token in the service's log.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "common/grpc/auth.h"
#include "common/grpc/client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/tokens.h"
#include "tierflow/v1/campaign.grpc.pb.h"
#include "tierflow/v1/ingest.grpc.pb.h"
#include "tierflow/v1/ledger.grpc.pb.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow {
namespace {

using namespace std::chrono_literals;
using test_support::TestTokens;
namespace v1 = tierflow::v1;

// What differs per service: how to start it, and one call of a role it lets in.
struct ServiceCase {
  std::string name;
  std::string binary;
  std::string allowed_role;  // may call `probe`
  std::string denied_role;   // may not
  std::function<grpc::Status(const std::shared_ptr<grpc::Channel>&)> probe;
  // A method served by a callback handler, when the service has one (the check must hold
  // for both kinds of handler).
  std::function<grpc::Status(const std::shared_ptr<grpc::Channel>&)> callback_probe = nullptr;
};

void PrintTo(const ServiceCase& c, std::ostream* os) { *os << c.name; }

grpc::ClientContext* with_deadline(grpc::ClientContext& c) {
  c.set_deadline(std::chrono::system_clock::now() + 10s);
  return &c;
}

std::vector<ServiceCase> cases() {
  return {
      {"ingest", TIERFLOW_BIN_INGEST, "crm", "pos",
       [](const std::shared_ptr<grpc::Channel>& ch) {
         grpc::ClientContext c;
         v1::UpsertCustomersRequest req;
         v1::UpsertCustomersResponse resp;
         return v1::PosIngest::NewStub(ch)->UpsertCustomers(with_deadline(c), req, &resp);
       }},
      {"ledger", TIERFLOW_BIN_LEDGER, "call-center", "pos",
       [](const std::shared_ptr<grpc::Channel>& ch) {
         grpc::ClientContext c;
         v1::GetAccountRequest req;
         req.set_customer_id("c-nobody");
         v1::AccountSnapshot resp;
         return v1::Ledger::NewStub(ch)->GetAccount(with_deadline(c), req, &resp);
       }},
      {"classification", TIERFLOW_BIN_CLASSIFICATION, "call-center", "crm",
       [](const std::shared_ptr<grpc::Channel>& ch) {
         grpc::ClientContext c;
         v1::GetDistributionRequest req;
         v1::Distribution resp;
         return v1::TierService::NewStub(ch)->GetDistribution(with_deadline(c), req, &resp);
       },
       [](const std::shared_ptr<grpc::Channel>& ch) {
         grpc::ClientContext c;
         v1::GetTierRequest req;
         req.set_customer_id("c-nobody");
         v1::TierAssignment resp;
         return v1::TierService::NewStub(ch)->GetTier(with_deadline(c), req, &resp);
       }},
      {"notification", TIERFLOW_BIN_NOTIFICATION, "campaign", "call-center",
       [](const std::shared_ptr<grpc::Channel>& ch) {
         grpc::ClientContext c;
         v1::ListDeliveriesRequest req;
         v1::ListDeliveriesResponse resp;
         return v1::CampaignService::NewStub(ch)->ListDeliveries(with_deadline(c), req, &resp);
       }},
  };
}

// The shared servers: one broker and one Redis for every case.
class Backends {
 public:
  static Backends& get() {
    static Backends* b = new Backends();
    return *b;
  }
  test_support::TempDir dir{"tierflow-auth-it"};
  test_support::DevBroker broker{{TIERFLOW_BIN_DEVBROKER, dir.file("broker"), 12, 1}};
  test_support::RedisServer redis{dir.path().string()};
};

// One entry per role ("it-<role>"); pos tokens may post for store s-1.
std::string tokens_yaml(const std::map<std::string, std::string>& tokens, const std::string& extra = "") {
  std::string yaml = "tokens:\n";
  for (const auto& [role, token] : tokens) {
    yaml += "  - name: it-" + role + "\n    role: " + role + "\n    sha256: " + grpcx::sha256_hex(token) + "\n";
    if (role == "pos") yaml += "    stores: [s-1]\n";
  }
  return yaml + extra;
}

class AuthIt : public ::testing::TestWithParam<ServiceCase> {
 protected:
  void SetUp() override {
    Backends& b = Backends::get();
    dir_ = std::make_unique<test_support::TempDir>("tierflow-auth-" + GetParam().name);
    for (const char* role : {"pos", "crm", "call-center", "campaign", "finance", "admin"}) {
      tokens_[role] = TestTokens::random_token();
    }
    expired_ = TestTokens::random_token();
    file_ = dir_->file("tokens.yaml");
    write_tokens(tokens_);

    test_support::ProcessOptions p;
    p.binary = GetParam().binary;
    p.args = {"--config", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/" + GetParam().name + ".yaml"};
    p.env = {{"TIERFLOW_KAFKA_BOOTSTRAP_FILE", b.broker.addr_file()},
             {"TIERFLOW_REDIS_PORT", std::to_string(b.redis.port())},
             {"TIERFLOW_GRPC_LISTEN", "127.0.0.1:0"},
             {"TIERFLOW_METRICS_LISTEN", "127.0.0.1:0"},
             {"TIERFLOW_READY_FILE", dir_->file("ready.json")},
             {"TIERFLOW_AUTH_TOKENS_FILE", file_},
             {"TIERFLOW_AUTH_RELOAD_CHECK_MS", "200"},
             {"TIERFLOW_STORE_PATH", dir_->file("store.db")},
             {"TIERFLOW_STANDARD_PATH", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml"},
             {"TIERFLOW_HOLIDAYS_PATH", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/holidays.yaml"},
             {"TIERFLOW_CHANNELS_FILE_PATH", dir_->file("messages.jsonl")},
             {"TIERFLOW_GROUP_ID", "auth-it-" + GetParam().name}};
    p.log_file = dir_->file("service.log");
    p.working_dir = dir_->path().string();
    process_.emplace(std::move(p));
    ready_ = test_support::wait_for_ready_file(dir_->file("ready.json"), *process_, 60s);
    target_ = "127.0.0.1:" + std::to_string(ready_.grpc_port());
  }

  void write_tokens(const std::map<std::string, std::string>& tokens) {
    const std::string yaml = tokens_yaml(tokens, "  - name: it-expired\n    role: " + GetParam().allowed_role +
                                                     "\n    sha256: " + grpcx::sha256_hex(expired_) +
                                                     "\n    expires: 2001-01-01T00:00:00Z\n" +
                                                     (GetParam().allowed_role == "pos" ? "    stores: [s-1]\n" : ""));
    const std::string tmp = file_ + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << yaml;
    std::filesystem::rename(tmp, file_);
  }

  std::shared_ptr<grpc::Channel> channel(const std::string& token) const {
    grpcx::ClientOptions o;
    o.token = token;
    return grpcx::make_channel(target_, o);
  }
  grpc::Status probe(const std::string& token) const { return GetParam().probe(channel(token)); }

  std::unique_ptr<test_support::TempDir> dir_;
  std::map<std::string, std::string> tokens_;
  std::string expired_, file_, target_;
  std::optional<test_support::ChildProcess> process_;
  test_support::ReadyInfo ready_;
};

bool authorized(const grpc::Status& s) {
  return s.error_code() != grpc::StatusCode::UNAUTHENTICATED && s.error_code() != grpc::StatusCode::PERMISSION_DENIED;
}

TEST_P(AuthIt, RefusesWhatItMustAndLetsTheRightRoleIn) {
  const ServiceCase& svc = GetParam();

  // Health: open, no token.
  {
    grpc::ClientContext c;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    const auto st = grpc::health::v1::Health::NewStub(channel(""))->Check(with_deadline(c), req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  auto st = probe("");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "no token: " << st.error_message();
  st = probe("not-" + tokens_.at(svc.allowed_role));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "wrong token: " << st.error_message();
  EXPECT_EQ(st.error_message(), "unknown token");
  st = probe(expired_);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "expired: " << st.error_message();
  st = probe(tokens_.at(svc.denied_role));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << "wrong role: " << st.error_message();
  st = probe(tokens_.at(svc.allowed_role));
  EXPECT_TRUE(authorized(st)) << svc.allowed_role << ": " << st.error_message();
  st = probe(tokens_.at("admin"));
  EXPECT_TRUE(authorized(st)) << "admin: " << st.error_message();
  if (svc.callback_probe) {
    EXPECT_EQ(svc.callback_probe(channel("")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(svc.callback_probe(channel(expired_)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(svc.callback_probe(channel(tokens_.at(svc.denied_role))).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    st = svc.callback_probe(channel(tokens_.at(svc.allowed_role)));
    EXPECT_TRUE(authorized(st)) << "callback handler: " << st.error_message();
  }

  // Rotation: the allowed role gets a new token; the old one stops working, the new one
  // works, without a restart. The service checks the file every 200 ms here.
  const std::string old_token = tokens_.at(svc.allowed_role);
  tokens_[svc.allowed_role] = TestTokens::random_token();
  write_tokens(tokens_);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!authorized(probe(tokens_.at(svc.allowed_role))) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  st = probe(tokens_.at(svc.allowed_role));
  EXPECT_TRUE(authorized(st)) << "rotated-in token: " << st.error_message();
  st = probe(old_token);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "rotated-out token: " << st.error_message();

  // A bad file keeps the tokens in force.
  {
    std::ofstream(file_ + ".tmp", std::ios::trunc) << "tokens:\n  - name: x\n    role: superuser\n";
    std::filesystem::rename(file_ + ".tmp", file_);
  }
  std::this_thread::sleep_for(600ms);
  st = probe(tokens_.at(svc.allowed_role));
  EXPECT_TRUE(authorized(st)) << "after a bad file: " << st.error_message();

  // Counted on /metrics by reason and method.
  const auto metrics = test_support::http_get(ready_.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("tierflow_grpc_auth_failures_total{"), std::string::npos);
  EXPECT_NE(metrics->find("reason=\"unknown_token\""), std::string::npos);
  EXPECT_NE(metrics->find("reason=\"wrong_role\""), std::string::npos);
  EXPECT_NE(metrics->find("reason=\"expired_token\""), std::string::npos);
  EXPECT_NE(metrics->find("reason=\"missing_token\""), std::string::npos);

  // The log names refusals (and the bad file) but no token, old or new.
  process_->stop(20s);
  const std::string log = test_support::read_file(dir_->file("service.log"));
  EXPECT_NE(log.find("auth: refused"), std::string::npos) << log;
  EXPECT_NE(log.find("superuser"), std::string::npos) << "the bad file is reported: " << log;
  for (const auto& [role, token] : tokens_)
    EXPECT_EQ(log.find(token), std::string::npos) << role << " token in the log";
  EXPECT_EQ(log.find(old_token), std::string::npos) << "rotated token in the log";
  EXPECT_EQ(log.find(expired_), std::string::npos) << "expired token in the log";
}

INSTANTIATE_TEST_SUITE_P(EveryService, AuthIt, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// ingest: a pos token posts for its own stores only, on every event RPC; the batch
// stream refuses no token and a wrong role like the others.
TEST(AuthItIngest, PosTokensPostForTheirOwnStoresOnly) {
  Backends& b = Backends::get();
  test_support::TempDir dir("tierflow-auth-ingest-stores");
  TestTokens tokens(dir.path().string());
  const std::string pos = TestTokens::random_token();
  const std::string crm = TestTokens::random_token();
  tokens.rewrite("tokens:\n  - name: till-1\n    role: pos\n    sha256: " + grpcx::sha256_hex(pos) +
                 "\n    stores: [s-1]\n  - name: crm-1\n    role: crm\n    sha256: " + grpcx::sha256_hex(crm) + "\n");
  test_support::ProcessOptions p;
  p.binary = TIERFLOW_BIN_INGEST;
  p.args = {"--config", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/ingest.yaml"};
  p.env = {{"TIERFLOW_KAFKA_BOOTSTRAP_FILE", b.broker.addr_file()},
           {"TIERFLOW_REDIS_PORT", std::to_string(b.redis.port())},
           {"TIERFLOW_GRPC_LISTEN", "127.0.0.1:0"},
           {"TIERFLOW_METRICS_LISTEN", "127.0.0.1:0"},
           {"TIERFLOW_READY_FILE", dir.file("ready.json")},
           {"TIERFLOW_AUTH_TOKENS_FILE", tokens.file()}};
  p.log_file = dir.file("ingest.log");
  test_support::ChildProcess ingest(std::move(p));
  const auto ready = test_support::wait_for_ready_file(dir.file("ready.json"), ingest, 60s);
  grpcx::ClientOptions o;
  o.token = pos;
  auto stub = v1::PosIngest::NewStub(grpcx::make_channel("127.0.0.1:" + std::to_string(ready.grpc_port()), o));

  auto event = [](const std::string& id, const std::string& store) {
    v1::PosEvent e;
    e.set_event_id(id);
    e.set_customer_id("c-auth-1");
    e.set_store_id(store);
    const auto now = std::chrono::system_clock::now() - 1min;
    e.mutable_event_time()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    e.mutable_sale()->mutable_total()->set_minor_units(1000);
    e.mutable_sale()->mutable_total()->set_currency("CNY");
    return e;
  };
  const std::string run = TestTokens::random_token().substr(0, 8);

  grpc::ClientContext c;
  v1::SubmitEventsRequest req;
  *req.add_events() = event("e-own-" + run, "s-1");
  *req.add_events() = event("e-other-" + run, "s-2");
  v1::SubmitEventsResponse resp;
  const auto st = stub->SubmitEvents(with_deadline(c), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.acks_size(), 2);
  EXPECT_EQ(resp.acks(0).status(), v1::ACK_STATUS_ACCEPTED) << resp.acks(0).reason();
  EXPECT_EQ(resp.acks(1).status(), v1::ACK_STATUS_REJECTED);
  EXPECT_EQ(resp.acks(1).reason(), "store_id 's-2' is not a store of token 'till-1'");

  grpc::ClientContext sc;
  sc.set_deadline(std::chrono::system_clock::now() + 10s);
  auto stream = stub->StreamEvents(&sc);
  ASSERT_TRUE(stream->Write(event("e-stream-other-" + run, "s-3")));
  v1::EventAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), v1::ACK_STATUS_REJECTED);
  EXPECT_EQ(ack.reason(), "store_id 's-3' is not a store of token 'till-1'");
  ASSERT_TRUE(stream->Write(event("e-stream-own-" + run, "s-1")));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), v1::ACK_STATUS_ACCEPTED) << ack.reason();
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  // StreamEventBatches: the store check per event of a message.
  {
    grpc::ClientContext bc;
    bc.set_deadline(std::chrono::system_clock::now() + 10s);
    auto batches = stub->StreamEventBatches(&bc);
    v1::PosEventBatch batch;
    *batch.add_events() = event("e-batch-other-" + run, "s-4");
    *batch.add_events() = event("e-batch-own-" + run, "s-1");
    ASSERT_TRUE(batches->Write(batch));
    batches->WritesDone();
    std::map<std::string, v1::EventAck> acks;
    v1::EventAckBatch got;
    while (batches->Read(&got)) {
      for (const auto& a : got.acks()) acks[a.event_id()] = a;
    }
    EXPECT_TRUE(batches->Finish().ok());
    ASSERT_EQ(acks.size(), 2u);
    EXPECT_EQ(acks["e-batch-other-" + run].status(), v1::ACK_STATUS_REJECTED);
    EXPECT_EQ(acks["e-batch-other-" + run].reason(), "store_id 's-4' is not a store of token 'till-1'");
    EXPECT_EQ(acks["e-batch-own-" + run].status(), v1::ACK_STATUS_ACCEPTED) << acks["e-batch-own-" + run].reason();
  }
  // ...and lets in no one else.
  auto batch_status = [&](const std::string& token) {
    grpcx::ClientOptions co;
    co.token = token;
    auto s = v1::PosIngest::NewStub(grpcx::make_channel("127.0.0.1:" + std::to_string(ready.grpc_port()), co));
    grpc::ClientContext bc;
    bc.set_deadline(std::chrono::system_clock::now() + 10s);
    auto batches = s->StreamEventBatches(&bc);
    v1::PosEventBatch batch;
    *batch.add_events() = event("e-batch-refused-" + run, "s-1");
    batches->Write(batch);  // may fail once the refusal arrived; the status says why
    batches->WritesDone();
    v1::EventAckBatch got;
    while (batches->Read(&got)) ADD_FAILURE() << "an ack on a refused call";
    return batches->Finish();
  };
  EXPECT_EQ(batch_status("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(batch_status("not-" + pos).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(batch_status(crm).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  ingest.stop(20s);
  const std::string log = test_support::read_file(dir.file("ingest.log"));
  EXPECT_EQ(log.find(pos), std::string::npos);
  EXPECT_EQ(log.find(crm), std::string::npos);
}

// Without TLS a service refuses to listen beyond loopback, saying why.
TEST(AuthItListen, NonLoopbackWithoutTlsIsAStartupError) {
  Backends& b = Backends::get();
  test_support::TempDir dir("tierflow-auth-listen");
  TestTokens tokens(dir.path().string());
  test_support::ProcessOptions p;
  p.binary = TIERFLOW_BIN_LEDGER;
  p.args = {"--config", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/ledger.yaml"};
  p.env = {{"TIERFLOW_KAFKA_BOOTSTRAP_FILE", b.broker.addr_file()},
           {"TIERFLOW_GRPC_LISTEN", "0.0.0.0:0"},
           {"TIERFLOW_METRICS_LISTEN", "127.0.0.1:0"},
           {"TIERFLOW_STORE_PATH", dir.file("ledger.db")},
           {"TIERFLOW_AUTH_TOKENS_FILE", tokens.file()}};
  p.log_file = dir.file("ledger.log");
  test_support::ChildProcess ledger(std::move(p));
  const auto exit = ledger.wait_exit(30s);
  ASSERT_TRUE(exit) << "the ledger kept running";
  EXPECT_FALSE(exit->ok());
  EXPECT_NE(ledger.log_tail().find("is not a loopback address"), std::string::npos) << ledger.log_tail();
}

// Without a tokens file a service does not start.
TEST(AuthItListen, NoTokensFileIsAStartupError) {
  Backends& b = Backends::get();
  test_support::TempDir dir("tierflow-auth-notokens");
  test_support::ProcessOptions p;
  p.binary = TIERFLOW_BIN_LEDGER;
  p.args = {"--config", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/ledger.yaml"};
  p.env = {{"TIERFLOW_KAFKA_BOOTSTRAP_FILE", b.broker.addr_file()},
           {"TIERFLOW_GRPC_LISTEN", "127.0.0.1:0"},
           {"TIERFLOW_METRICS_LISTEN", "127.0.0.1:0"},
           {"TIERFLOW_STORE_PATH", dir.file("ledger.db")},
           {"TIERFLOW_AUTH_TOKENS_FILE", dir.file("missing.yaml")}};
  p.log_file = dir.file("ledger.log");
  test_support::ChildProcess ledger(std::move(p));
  const auto exit = ledger.wait_exit(30s);
  ASSERT_TRUE(exit) << "the ledger kept running";
  EXPECT_FALSE(exit->ok());
  EXPECT_NE(ledger.log_tail().find("cannot read the tokens file"), std::string::npos) << ledger.log_tail();
}

// With TLS a service may listen beyond loopback; with a client CA it requires client
// certificates; tokens are checked the same way over TLS.
TEST(AuthItTls, TlsWithClientCertificatesAndTokens) {
  Backends& b = Backends::get();
  test_support::TempDir dir("tierflow-auth-tls");
  const std::string d = dir.path().string();
  const std::string script =
      "cd '" + d +
      "' && exec >openssl.log 2>&1 && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=tierflow-test-ca && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost && "
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' >san.ext && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile san.ext && "
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=tierflow-test-client && "
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2";
  ASSERT_EQ(std::system(("bash -c \"" + script + "\"").c_str()), 0) << test_support::read_file(d + "/openssl.log");
  TestTokens tokens(d);
  test_support::ProcessOptions p;
  p.binary = TIERFLOW_BIN_LEDGER;
  p.args = {"--config", std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/ledger.yaml"};
  p.env = {{"TIERFLOW_KAFKA_BOOTSTRAP_FILE", b.broker.addr_file()},
           {"TIERFLOW_GRPC_LISTEN", "0.0.0.0:0"},  // allowed with TLS
           {"TIERFLOW_METRICS_LISTEN", "127.0.0.1:0"},
           {"TIERFLOW_READY_FILE", dir.file("ready.json")},
           {"TIERFLOW_STORE_PATH", dir.file("ledger.db")},
           {"TIERFLOW_AUTH_TOKENS_FILE", tokens.file()},
           {"TIERFLOW_TLS_CERT_FILE", dir.file("server.pem")},
           {"TIERFLOW_TLS_KEY_FILE", dir.file("server.key")},
           {"TIERFLOW_TLS_CLIENT_CA_FILE", dir.file("ca.pem")}};
  p.log_file = dir.file("ledger.log");
  test_support::ChildProcess ledger(std::move(p));
  const auto ready = test_support::wait_for_ready_file(dir.file("ready.json"), ledger, 60s);
  const std::string target = "127.0.0.1:" + std::to_string(ready.grpc_port());

  auto get_account = [&](const grpcx::ClientOptions& o) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::GetAccountRequest req;
    req.set_customer_id("c-nobody");
    v1::AccountSnapshot resp;
    return v1::Ledger::NewStub(grpcx::make_channel(target, o))->GetAccount(&c, req, &resp);
  };
  grpcx::ClientOptions full;
  full.token = tokens.token("call-center");
  full.tls_ca_file = dir.file("ca.pem");
  full.tls_cert_file = dir.file("client.pem");
  full.tls_key_file = dir.file("client.key");
  full.tls_server_name = "localhost";
  auto st = get_account(full);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << "TLS, client certificate, token: " << st.error_message();

  grpcx::ClientOptions no_token = full;
  no_token.token.clear();
  EXPECT_EQ(get_account(no_token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpcx::ClientOptions wrong_role = full;
  wrong_role.token = tokens.token("pos");
  EXPECT_EQ(get_account(wrong_role).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  grpcx::ClientOptions no_cert = full;
  no_cert.tls_cert_file.clear();
  no_cert.tls_key_file.clear();
  st = get_account(no_cert);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << "no client certificate: " << st.error_message();
  grpcx::ClientOptions plaintext;
  plaintext.token = tokens.token("call-center");
  st = get_account(plaintext);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << "plaintext: " << st.error_message();
  ledger.stop(20s);
  EXPECT_EQ(test_support::read_file(dir.file("ledger.log")).find(tokens.token("call-center")), std::string::npos);
}

}  // namespace
}  // namespace tierflow
