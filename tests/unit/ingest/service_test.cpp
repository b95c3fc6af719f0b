// IngestService through tests/support/fake_kafka.h's FakeProducer, with Redis unreachable
// (its Mux points at a closed port): the ack rules without a broker. ACCEPTED only after
// the delivery report; a copy that arrives while the first copy is in flight waits for
// its outcome (DUPLICATE if stored, RETRY if not); a produce that throws is a RETRY and
// frees the id; with Redis down the in-flight check still holds.
#include "src/service.h"
#include "src/stream.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/redis/mux.h"
#include "common/time/time.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/redis_server.h"

namespace tierflow::ingest {
namespace {

using testing::FakeProducer;
constexpr auto kWait = std::chrono::seconds(10);  // bound on every wait

v1::PosEvent sale(const std::string& id, const std::string& customer = "c-1") {
  v1::PosEvent e;
  e.set_event_id(id);
  e.set_customer_id(customer);
  timeutil::to_proto(absl::Now() - absl::Hours(1), e.mutable_event_time());
  e.mutable_sale()->mutable_total()->set_minor_units(1000);
  e.mutable_sale()->mutable_total()->set_currency("CNY");
  return e;
}

// Polls `done` until it holds (a state another thread reaches), bounded.
template <class F>
bool eventually(F done) {
  const auto give_up = std::chrono::steady_clock::now() + kWait;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// An in-process server for a test's service and a stub on it. The streams below hold one
// as their first member, so their call (cancelled by its context if a failed assertion
// left it open) is gone before the server shuts down.
class InProcessServer {
 public:
  explicit InProcessServer(IngestService& service) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server_ = builder.BuildAndStart();
    if (!server_) throw std::runtime_error("the in-process server did not start");
    stub_ = v1::PosIngest::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  ~InProcessServer() { server_->Shutdown(); }
  v1::PosIngest::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::PosIngest::Stub> stub_;
};

// One bidi call (the messages written, the messages read) through an
// in-process server, with kWait as its deadline.
template <class Written, class Read>
class InProcessCall {
 public:
  template <class Start>  // (v1::PosIngest::Stub&, grpc::ClientContext*) -> the call
  InProcessCall(IngestService& service, Start start) : server_(service) {
    ctx_.set_deadline(std::chrono::system_clock::now() + kWait);
    stream_ = start(server_.stub(), &ctx_);
  }
  grpc::ClientReaderWriter<Written, Read>& stream() { return *stream_; }
  // Ends the call (every message read first); it must end OK.
  void end() {
    const grpc::Status st = stream_->Finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  }

 private:
  InProcessServer server_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<Written, Read>> stream_;
};

// StreamEvents within kWait: write events, read acks one by one, close, finish.
class SingleStream {
 public:
  explicit SingleStream(IngestService& service)
      : call_(service, [](v1::PosIngest::Stub& stub, grpc::ClientContext* ctx) { return stub.StreamEvents(ctx); }) {}
  bool write(const v1::PosEvent& event) { return call_.stream().Write(event); }
  bool read(v1::EventAck& ack) { return call_.stream().Read(&ack); }
  // Closes the writing side; the acks still owed come all the same.
  void close() {
    if (closed_) return;
    closed_ = true;
    call_.stream().WritesDone();
  }
  // Closes (if not yet) and reads every ack left, in order; the call must end OK.
  std::vector<v1::EventAck> finish() {
    close();
    std::vector<v1::EventAck> acks;
    for (v1::EventAck ack; read(ack);) acks.push_back(ack);
    call_.end();
    return acks;
  }

 private:
  InProcessCall<v1::PosEvent, v1::EventAck> call_;
  bool closed_ = false;
};

// StreamEventBatches within kWait: write the messages, close, read every ack (of any
// message) until the call ends.
class BatchStream {
 public:
  explicit BatchStream(IngestService& service)
      : call_(service,
              [](v1::PosIngest::Stub& stub, grpc::ClientContext* ctx) { return stub.StreamEventBatches(ctx); }) {}
  bool write(const std::vector<v1::PosEvent>& events) {
    v1::PosEventBatch batch;
    for (const auto& e : events) *batch.add_events() = e;
    return call_.stream().Write(batch);
  }
  // One message's acks (false at the end of the call).
  bool read(std::vector<v1::EventAck>& into) {
    v1::EventAckBatch batch;
    if (!call_.stream().Read(&batch)) return false;
    EXPECT_GT(batch.acks_size(), 0) << "an empty ack message";
    into.insert(into.end(), batch.acks().begin(), batch.acks().end());
    return true;
  }
  // Closes the writing side and reads what is left; the call must end OK.
  std::vector<v1::EventAck> finish(std::vector<v1::EventAck> acks = {}) {
    call_.stream().WritesDone();
    while (read(acks)) {
    }
    call_.end();
    return acks;
  }

 private:
  InProcessCall<v1::PosEventBatch, v1::EventAckBatch> call_;
};

class IngestServiceTest : public ::testing::Test {
 protected:
  explicit IngestServiceTest(FakeProducer::Mode mode = FakeProducer::Mode::manual, Config cfg = config())
      : cfg_(std::move(cfg)), producer_(mode) {}

  static Config config() {
    Config c;
    c.redis.port = test_support::pick_free_port();  // nothing listens: the duplicate check degrades
    c.redis.timeout = std::chrono::milliseconds(200);
    c.dedupe.backoff = std::chrono::milliseconds(0);
    c.limits.ack_timeout = std::chrono::milliseconds(500);
    return c;
  }

  // SubmitEvents on a thread of its own: it returns only once every event is answered.
  std::future<v1::SubmitEventsResponse> submit(std::vector<v1::PosEvent> events) {
    return std::async(std::launch::async, [this, events = std::move(events)] {
      v1::SubmitEventsRequest req;
      for (const auto& e : events) *req.add_events() = e;
      v1::SubmitEventsResponse resp;
      const grpc::Status s = service_.SubmitEvents(nullptr, &req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      return resp;
    });
  }

  Config cfg_;
  FakeProducer producer_;
  redis::Mux mux_{cfg_.redis};
  prometheus::Registry registry_;
  IngestService service_{cfg_, producer_, mux_, registry_};
};

class ImmediateDelivery : public IngestServiceTest {
 protected:
  ImmediateDelivery() : IngestServiceTest(FakeProducer::Mode::immediate) {}
};

TEST_F(IngestServiceTest, AcceptedOnlyAfterTheDeliveryReport) {
  auto call = submit({sale("e-1")});
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 1; }));
  EXPECT_EQ(call.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);  // no ack yet
  producer_.deliver();
  ASSERT_EQ(call.wait_for(kWait), std::future_status::ready);
  const auto resp = call.get();
  ASSERT_EQ(resp.acks_size(), 1);
  EXPECT_EQ(resp.acks(0).status(), v1::ACK_STATUS_ACCEPTED);
  const auto stored = producer_.stored(topics::kPosEvents);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].key, "c-1");
  EXPECT_EQ(stored[0].header(kafka::kTypeHeader), "tierflow.v1.PosEvent");
  v1::PosEvent written;
  ASSERT_TRUE(written.ParseFromString(stored[0].value));
  EXPECT_TRUE(written.has_received_time());
}

TEST_F(IngestServiceTest, ACopyWhileTheFirstIsInFlightIsDuplicateOnceTheFirstIsStored) {
  auto first = submit({sale("e-1")});
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 1; }));
  auto copy = submit({sale("e-1")});
  ASSERT_TRUE(eventually([&] { return service_.deduper().waiting() == 1; }));
  EXPECT_EQ(copy.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);  // waits for the first
  producer_.deliver();
  EXPECT_EQ(first.get().acks(0).status(), v1::ACK_STATUS_ACCEPTED);
  const auto c = copy.get();
  EXPECT_EQ(c.acks(0).status(), v1::ACK_STATUS_DUPLICATE);
  EXPECT_EQ(c.acks(0).reason(), "event already stored");
  EXPECT_EQ(producer_.attempts(), 1u);  // the copy was never written
}

TEST_F(IngestServiceTest, ACopyWhileTheFirstIsInFlightIsRetryWhenTheFirstFails) {
  producer_.fail_deliveries(1);
  auto first = submit({sale("e-1")});
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 1; }));
  auto copy = submit({sale("e-1")});
  ASSERT_TRUE(eventually([&] { return service_.deduper().waiting() == 1; }));
  producer_.deliver();
  const auto f = first.get();
  EXPECT_EQ(f.acks(0).status(), v1::ACK_STATUS_RETRY);
  EXPECT_EQ(f.acks(0).reason(), "not stored: fake producer: broker unavailable");
  const auto c = copy.get();
  EXPECT_EQ(c.acks(0).status(), v1::ACK_STATUS_RETRY);
  EXPECT_NE(c.acks(0).reason().find("send it again"), std::string::npos) << c.acks(0).reason();
  EXPECT_TRUE(producer_.stored().empty());
  // The id is free again: the resend is written.
  auto resend = submit({sale("e-1")});
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 1; }));
  producer_.deliver();
  EXPECT_EQ(resend.get().acks(0).status(), v1::ACK_STATUS_ACCEPTED);
}

TEST_F(ImmediateDelivery, AThrowingProduceIsRetryAndFreesTheId) {
  producer_.throw_on_produce(1);
  auto r = submit({sale("e-1")}).get();
  EXPECT_EQ(r.acks(0).status(), v1::ACK_STATUS_RETRY);
  EXPECT_EQ(r.acks(0).reason(), "not stored: fake producer: local queue full");
  EXPECT_EQ(service_.deduper().in_flight(), 0u);
  EXPECT_EQ(submit({sale("e-1")}).get().acks(0).status(), v1::ACK_STATUS_ACCEPTED);
}

TEST_F(ImmediateDelivery, ABatchIsAnsweredInOrderWithItsOwnCopiesAndRejections) {
  v1::PosEvent bad = sale("e-3");
  bad.clear_customer_id();
  const auto r = submit({sale("e-1"), sale("e-2"), sale("e-1"), bad}).get();
  ASSERT_EQ(r.acks_size(), 4);
  EXPECT_EQ(r.acks(0).status(), v1::ACK_STATUS_ACCEPTED);
  EXPECT_EQ(r.acks(1).status(), v1::ACK_STATUS_ACCEPTED);
  EXPECT_EQ(r.acks(2).status(), v1::ACK_STATUS_ACCEPTED);  // keyed by id: the first copy's ack
  EXPECT_EQ(r.acks(3).status(), v1::ACK_STATUS_REJECTED);
  EXPECT_NE(r.acks(3).reason().find("customer_id"), std::string::npos) << r.acks(3).reason();
  EXPECT_EQ(producer_.stored(topics::kPosEvents).size(), 2u);  // e-1 once, e-2; never the rejected one
}

TEST_F(ImmediateDelivery, WithRedisDownAResendAfterTheFirstLeftIsWrittenAgainForTheLedgerToDedupe) {
  ASSERT_EQ(submit({sale("e-1")}).get().acks(0).status(), v1::ACK_STATUS_ACCEPTED);
  // The mark could not reach Redis; once it failed the id leaves the in-flight map.
  ASSERT_TRUE(eventually([&] { return service_.deduper().in_flight() == 0; }));
  EXPECT_EQ(submit({sale("e-1")}).get().acks(0).status(), v1::ACK_STATUS_ACCEPTED);
  EXPECT_EQ(producer_.stored(topics::kPosEvents).size(), 2u);
}

TEST_F(IngestServiceTest, StreamAcksACopyWithTheFirstCopysOutcome) {
  SingleStream stream(service_);
  ASSERT_TRUE(stream.write(sale("e-1")));
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 1; }));
  ASSERT_TRUE(stream.write(sale("e-1")));
  ASSERT_TRUE(eventually([&] { return service_.deduper().waiting() == 1; }));
  ASSERT_TRUE(stream.write(sale("e-2")));
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 2; }));
  stream.close();
  producer_.deliver();
  std::vector<std::pair<std::string, v1::AckStatus>> acks;
  for (const auto& ack : stream.finish()) acks.emplace_back(ack.event_id(), ack.status());
  // The first copy's report answers it and then its waiting copy, then e-2's report.
  EXPECT_EQ(acks, (std::vector<std::pair<std::string, v1::AckStatus>>{{"e-1", v1::ACK_STATUS_DUPLICATE},
                                                                      {"e-1", v1::ACK_STATUS_ACCEPTED},
                                                                      {"e-2", v1::ACK_STATUS_ACCEPTED}}));
}

TEST_F(ImmediateDelivery, UpsertCustomersAcksAfterDeliveryAndRetriesAThrowingProduce) {
  v1::UpsertCustomersRequest req;
  for (const char* id : {"c-1", "c-2"}) req.add_customers()->set_customer_id(id);
  producer_.throw_on_produce(1);
  v1::UpsertCustomersResponse resp;
  ASSERT_TRUE(service_.UpsertCustomers(nullptr, &req, &resp).ok());
  ASSERT_EQ(resp.acks_size(), 2);
  EXPECT_EQ(resp.acks(0).status(), v1::ACK_STATUS_RETRY);
  EXPECT_EQ(resp.acks(0).reason(), "not stored: fake producer: local queue full");
  EXPECT_EQ(resp.acks(1).status(), v1::ACK_STATUS_ACCEPTED);
  const auto stored = producer_.stored(topics::kCustomers);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].key, "c-2");
}

TEST_F(IngestServiceTest, AnEventKafkaDoesNotConfirmWithinTheBoundIsRetryAndALateReportIsHarmless) {
  const auto started = std::chrono::steady_clock::now();
  auto call = submit({sale("e-1")});
  ASSERT_EQ(call.wait_for(kWait), std::future_status::ready);
  const auto took = std::chrono::steady_clock::now() - started;
  const auto resp = call.get();
  ASSERT_EQ(resp.acks_size(), 1);
  EXPECT_EQ(resp.acks(0).status(), v1::ACK_STATUS_RETRY);
  EXPECT_EQ(resp.acks(0).reason(), "not confirmed by Kafka within 500 ms; send it again");
  EXPECT_GE(took, std::chrono::milliseconds(450));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  EXPECT_EQ(service_.pipeline().in_flight(), 0);
  // The till resends while the first write is still in Kafka's hands; that write lands
  // after all: the resend is a DUPLICATE (with Redis up, later resends are too).
  auto resend = submit({sale("e-1")});
  ASSERT_TRUE(eventually([&] { return service_.deduper().waiting() == 1; }));
  producer_.deliver();
  EXPECT_EQ(resend.get().acks(0).status(), v1::ACK_STATUS_DUPLICATE);
  EXPECT_EQ(producer_.stored(topics::kPosEvents).size(), 1u);
}

TEST_F(IngestServiceTest, AStreamIsAnsweredWithinTheBoundWhenKafkaNeverConfirms) {
  SingleStream stream(service_);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(stream.write(sale("e-" + std::to_string(i))));
  int retry = 0;
  for (const auto& ack : stream.finish()) retry += ack.status() == v1::ACK_STATUS_RETRY ? 1 : 0;
  EXPECT_EQ(retry, 100);
  producer_.deliver();
}

std::map<std::string, std::vector<std::pair<v1::AckStatus, std::string>>> by_id(const std::vector<v1::EventAck>& acks) {
  std::map<std::string, std::vector<std::pair<v1::AckStatus, std::string>>> out;
  for (const auto& a : acks) out[a.event_id()].emplace_back(a.status(), a.reason());
  return out;
}

TEST_F(IngestServiceTest, BatchStreamKeepsTheReasonsCopiesAndAcceptsOnlyAfterTheReport) {
  BatchStream stream(service_);
  v1::PosEvent no_customer = sale("e-3");
  no_customer.clear_customer_id();
  v1::PosEvent negative = sale("e-4");
  negative.mutable_sale()->mutable_total()->set_minor_units(-5);
  ASSERT_TRUE(stream.write({sale("e-1"), no_customer, sale("e-2")}));
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 2; }));
  // The copy in a later message waits for the first copy's report.
  ASSERT_TRUE(stream.write({sale("e-1"), negative}));
  ASSERT_TRUE(eventually([&] { return service_.deduper().waiting() == 1; }));
  // Only the rejections are answered before Kafka confirmed anything.
  std::vector<v1::EventAck> acks;
  while (acks.size() < 2) ASSERT_TRUE(stream.read(acks));
  for (const auto& a : acks) EXPECT_EQ(a.status(), v1::ACK_STATUS_REJECTED) << a.event_id();
  producer_.deliver();
  const auto got = by_id(stream.finish(std::move(acks)));
  using Answers = std::vector<std::pair<v1::AckStatus, std::string>>;
  EXPECT_EQ(got.at("e-1"),
            (Answers{{v1::ACK_STATUS_DUPLICATE, "event already stored"}, {v1::ACK_STATUS_ACCEPTED, ""}}));
  EXPECT_EQ(got.at("e-2"), (Answers{{v1::ACK_STATUS_ACCEPTED, ""}}));
  EXPECT_EQ(got.at("e-3"), (Answers{{v1::ACK_STATUS_REJECTED, "customer_id is missing"}}));
  EXPECT_EQ(got.at("e-4"), (Answers{{v1::ACK_STATUS_REJECTED, "sale.total is negative (-5)"}}));
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(producer_.stored(topics::kPosEvents).size(), 2u);  // e-1 once, e-2
  EXPECT_EQ(service_.pipeline().in_flight(), 0);
}

TEST_F(IngestServiceTest, ABatchStreamIsAnsweredRetryWithinTheBoundWhenKafkaNeverConfirms) {
  BatchStream stream(service_);
  for (int m = 0; m < 4; ++m) {
    std::vector<v1::PosEvent> events;
    for (int i = 0; i < 25; ++i) events.push_back(sale("e-" + std::to_string(m * 25 + i)));
    ASSERT_TRUE(stream.write(events));
  }
  const auto acks = stream.finish();
  ASSERT_EQ(acks.size(), 100u);
  for (const auto& a : acks) {
    EXPECT_EQ(a.status(), v1::ACK_STATUS_RETRY) << a.event_id();
    EXPECT_EQ(a.reason(), "not confirmed by Kafka within 500 ms; send it again");
  }
  EXPECT_EQ(by_id(acks).size(), 100u);
  EXPECT_EQ(service_.pipeline().in_flight(), 0);
  producer_.deliver();
}

TEST_F(ImmediateDelivery, ABatchStreamAnswersAFailedWriteRetryAndFreesTheId) {
  producer_.throw_on_produce(1);
  BatchStream stream(service_);
  ASSERT_TRUE(stream.write({sale("e-1")}));
  std::vector<v1::EventAck> acks;
  ASSERT_TRUE(stream.read(acks));
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].status(), v1::ACK_STATUS_RETRY);
  EXPECT_EQ(acks[0].reason(), "not stored: fake producer: local queue full");
  ASSERT_TRUE(stream.write({sale("e-1")}));  // the till's resend
  const auto rest = stream.finish();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].status(), v1::ACK_STATUS_ACCEPTED);
}

TEST_F(ImmediateDelivery, EventsBeyondAMessagesLimitAreRejectedTheRestGoOn) {
  BatchStream stream(service_);
  std::vector<v1::PosEvent> events;
  for (int i = 0; i <= kMaxEventsPerMessage; ++i) events.push_back(sale("e-" + std::to_string(i)));
  ASSERT_TRUE(stream.write(events));
  const auto got = by_id(stream.finish());
  ASSERT_EQ(got.size(), static_cast<size_t>(kMaxEventsPerMessage) + 1);
  for (int i = 0; i < kMaxEventsPerMessage; ++i) {
    EXPECT_EQ(got.at("e-" + std::to_string(i)).at(0).first, v1::ACK_STATUS_ACCEPTED) << i;
  }
  const auto& last = got.at("e-" + std::to_string(kMaxEventsPerMessage)).at(0);
  EXPECT_EQ(last.first, v1::ACK_STATUS_REJECTED);
  EXPECT_EQ(last.second, "the message has more than 1000 events; send the rest in another message");
  EXPECT_EQ(producer_.stored(topics::kPosEvents).size(), static_cast<size_t>(kMaxEventsPerMessage));
}

TEST_F(ImmediateDelivery, ABackfillCallersEventsAreMarkedAndATillCannotMarkItsOwn) {
  grpcx::Caller erp{"erp", grpcx::Role::kBackfill, {}};
  grpcx::Caller till{"till-1", grpcx::Role::kPos, {"*"}};
  v1::PosEvent e = sale("e-1");
  ASSERT_FALSE(service_.pipeline().admit(e, erp, absl::Now()));
  EXPECT_TRUE(e.backfill());
  v1::PosEvent f = sale("e-2");
  f.set_backfill(true);
  ASSERT_FALSE(service_.pipeline().admit(f, till, absl::Now()));
  EXPECT_FALSE(f.backfill());
}

// The per-terminal rate limit (issue 12): the limiter's clock, moved by the test only.
class FakeClock {
 public:
  void advance(std::chrono::milliseconds d) const { *offset_ += std::chrono::nanoseconds(d).count(); }
  std::function<TerminalLimits::Clock::time_point()> fn() const {
    return [offset = offset_, base = base_] { return base + std::chrono::nanoseconds(offset->load()); };
  }

 private:
  std::shared_ptr<std::atomic<int64_t>> offset_ = std::make_shared<std::atomic<int64_t>>(0);
  TerminalLimits::Clock::time_point base_ = TerminalLimits::Clock::now();
};

v1::PosEvent sale_at(const std::string& id, const std::string& terminal) {
  v1::PosEvent e = sale(id);
  e.set_terminal_id(terminal);
  return e;
}

// The value of tierflow_ingest_answers_by_reason_total{status, reason} (0 when absent).
double answers_by_reason(prometheus::Registry& registry, const std::string& status, const std::string& reason) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "tierflow_ingest_answers_by_reason_total") continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["status"] == status && labels["reason"] == reason) return m.counter.value;
    }
  }
  return 0;
}

// 10 events/s per terminal, bursts of 5; Kafka confirms only when the test says so, so an
// answer before deliver() was not held for anything.
class RateLimited : public IngestServiceTest {
 protected:
  RateLimited() : RateLimited(FakeClock{}) {}
  explicit RateLimited(FakeClock clock)
      : IngestServiceTest(FakeProducer::Mode::manual, limited(clock)), clock_(clock) {}
  static Config limited(const FakeClock& clock) {
    Config c = config();
    c.limits.rate_limit.events_per_s = 10;
    c.limits.rate_limit.burst = 5;
    c.limits.rate_limit.clock = clock.fn();
    c.limits.ack_timeout = std::chrono::seconds(5);  // the bound plays no part here
    return c;
  }
  FakeClock clock_;
};

constexpr const char* kT1Limited = "rate limited: terminal T-1 over 10 events/s";

TEST_F(RateLimited, ABatchStreamAnswersExactlyTheExcessRetryAtOnceAndOtherTerminalsGoOn) {
  BatchStream stream(service_);
  std::vector<v1::PosEvent> events;
  for (int i = 1; i <= 8; ++i) events.push_back(sale_at("e-" + std::to_string(i), "T-1"));
  for (int i = 1; i <= 5; ++i) events.push_back(sale_at("f-" + std::to_string(i), "T-2"));
  ASSERT_TRUE(stream.write(events));
  // The excess is answered before Kafka confirmed anything; the rest of the message went on.
  std::vector<v1::EventAck> acks;
  while (acks.size() < 3) ASSERT_TRUE(stream.read(acks));
  ASSERT_EQ(acks.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(acks[i].event_id(), "e-" + std::to_string(6 + i));
    EXPECT_EQ(acks[i].status(), v1::ACK_STATUS_RETRY);
    EXPECT_EQ(acks[i].reason(), kT1Limited);
  }
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 10; }));
  EXPECT_EQ(answers_by_reason(registry_, "retry", "rate_limited"), 3);

  // Half a second later T-1 has 5 tokens again and T-2 (drained) 5 as well.
  clock_.advance(std::chrono::milliseconds(500));
  events.clear();
  for (int i = 9; i <= 14; ++i) events.push_back(sale_at("e-" + std::to_string(i), "T-1"));
  events.push_back(sale_at("f-6", "T-2"));
  ASSERT_TRUE(stream.write(events));
  while (acks.size() < 4) ASSERT_TRUE(stream.read(acks));
  EXPECT_EQ(acks[3].event_id(), "e-14");
  EXPECT_EQ(acks[3].reason(), kT1Limited);
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 16; }));
  producer_.deliver();
  const auto got = by_id(stream.finish(std::move(acks)));
  ASSERT_EQ(got.size(), 20u);
  for (const auto& [id, answers] : got) {
    ASSERT_EQ(answers.size(), 1u) << id;
    const bool excess = id == "e-6" || id == "e-7" || id == "e-8" || id == "e-14";
    EXPECT_EQ(answers[0].first, excess ? v1::ACK_STATUS_RETRY : v1::ACK_STATUS_ACCEPTED) << id;
  }
  EXPECT_EQ(producer_.stored(topics::kPosEvents).size(), 16u);
  EXPECT_EQ(answers_by_reason(registry_, "retry", "rate_limited"), 4);
  EXPECT_EQ(service_.pipeline().in_flight(), 0);
}

TEST_F(RateLimited, StreamEventsAnswersTheExcessRetryAtOnceAndOtherTerminalsGoOn) {
  SingleStream stream(service_);
  for (int i = 1; i <= 7; ++i) ASSERT_TRUE(stream.write(sale_at("e-" + std::to_string(i), "T-1")));
  v1::EventAck ack;
  for (int i = 6; i <= 7; ++i) {
    ASSERT_TRUE(stream.read(ack));
    EXPECT_EQ(ack.event_id(), "e-" + std::to_string(i));
    EXPECT_EQ(ack.status(), v1::ACK_STATUS_RETRY);
    EXPECT_EQ(ack.reason(), kT1Limited);
  }
  ASSERT_TRUE(stream.write(sale_at("f-1", "T-2")));
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 6; }));
  clock_.advance(std::chrono::milliseconds(100));    // one token for T-1
  ASSERT_TRUE(stream.write(sale_at("e-6", "T-1")));  // the till's resend
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 7; }));
  stream.close();
  producer_.deliver();
  std::map<std::string, v1::AckStatus> rest;
  for (const auto& a : stream.finish()) rest[a.event_id()] = a.status();
  EXPECT_EQ(rest.size(), 7u);
  for (const auto& [id, status] : rest) EXPECT_EQ(status, v1::ACK_STATUS_ACCEPTED) << id;
  EXPECT_EQ(rest.count("e-7"), 0u);  // not resent: answered RETRY once
  EXPECT_EQ(answers_by_reason(registry_, "retry", "rate_limited"), 2);
}

TEST_F(RateLimited, SubmitEventsAnswersTheExcessRetry) {
  std::vector<v1::PosEvent> events;
  for (int i = 1; i <= 6; ++i) events.push_back(sale_at("e-" + std::to_string(i), "T-1"));
  events.push_back(sale_at("f-1", "T-2"));
  auto call = submit(events);
  ASSERT_TRUE(eventually([&] { return producer_.in_flight() == 6; }));
  producer_.deliver();
  const auto resp = call.get();
  ASSERT_EQ(resp.acks_size(), 7);
  for (int i = 0; i < 7; ++i) {
    if (i == 5) continue;
    EXPECT_EQ(resp.acks(i).status(), v1::ACK_STATUS_ACCEPTED) << resp.acks(i).event_id();
  }
  EXPECT_EQ(resp.acks(5).event_id(), "e-6");
  EXPECT_EQ(resp.acks(5).status(), v1::ACK_STATUS_RETRY);
  EXPECT_EQ(resp.acks(5).reason(), kT1Limited);
}

TEST_F(RateLimited, TheKeyIsTheCallerAndTheTerminalAndABackfillCallerIsNotLimited) {
  // A pipeline of the test's own, to pass callers as an authenticated call would.
  prometheus::Registry registry;
  Metrics metrics(registry);
  Deduper deduper(cfg_.dedupe, mux_, Deduper::Counters{metrics.dedupe_errors, metrics.dedupe_degraded});
  Pipeline pipeline(cfg_.limits, producer_, deduper, metrics);
  std::vector<v1::PosEvent> storage;
  for (int i = 0; i < 6; ++i) storage.push_back(sale_at("e-" + std::to_string(i), "T-1"));
  auto six = [&] {
    std::vector<v1::PosEvent*> out;
    for (auto& e : storage) out.push_back(&e);
    return out;
  };
  const grpcx::Caller a{"till-a", grpcx::Role::kPos, {"*"}};
  const grpcx::Caller b{"till-b", grpcx::Role::kPos, {"*"}};
  const grpcx::Caller erp{"erp", grpcx::Role::kBackfill, {}};
  for (const auto& caller : {a, b}) {  // the same terminal id under two tokens: two buckets
    auto events = six();
    std::vector<v1::EventAck> answered;
    pipeline.throttle(events, caller, Pipeline::Clock::now(), answered);
    EXPECT_EQ(events.size(), 5u) << caller.name;
    ASSERT_EQ(answered.size(), 1u) << caller.name;
    EXPECT_EQ(answered[0].event_id(), "e-5");
  }
  for (int round = 0; round < 3; ++round) {
    auto events = six();
    std::vector<v1::EventAck> answered;
    pipeline.throttle(events, erp, Pipeline::Clock::now(), answered);
    EXPECT_EQ(events.size(), 6u);
    EXPECT_TRUE(answered.empty());
  }
  EXPECT_EQ(pipeline.terminal_limits().terminals(), 2u);
  EXPECT_EQ(answers_by_reason(registry, "retry", "rate_limited"), 2);
}

TEST_F(ImmediateDelivery, TheRateLimitIsOffByDefault) {
  EXPECT_FALSE(service_.pipeline().terminal_limits().enabled());
  BatchStream stream(service_);
  std::vector<v1::PosEvent> events;
  for (int i = 0; i < kMaxEventsPerMessage; ++i) events.push_back(sale_at("e-" + std::to_string(i), "T-1"));
  ASSERT_TRUE(stream.write(events));
  ASSERT_TRUE(stream.write({sale_at("e-last", "T-1")}));
  const auto got = by_id(stream.finish());
  ASSERT_EQ(got.size(), static_cast<size_t>(kMaxEventsPerMessage) + 1);
  for (const auto& [id, answers] : got) EXPECT_EQ(answers.at(0).first, v1::ACK_STATUS_ACCEPTED) << id;
  EXPECT_EQ(service_.pipeline().terminal_limits().terminals(), 0u);
  EXPECT_EQ(answers_by_reason(registry_, "retry", "rate_limited"), 0);
}

}  // namespace
}  // namespace tierflow::ingest

namespace tierflow::ingest {
namespace {

// A till that floods garbage over TCP and does not read its acks: the stream stops
// reading once kMaxQueuedAcks acks wait (HTTP/2 flow control then holds the till's
// writes), so what ingest keeps for it is bounded; once the till reads, every event is
// answered. Over TCP, not in-process: the in-process transport has no flow control.
TEST_F(ImmediateDelivery, AStreamWhoseClientDoesNotReadItsAcksStopsReading) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service_);
  const auto server = builder.BuildAndStart();
  ASSERT_GT(port, 0);
  const auto stub = v1::PosIngest::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  const auto stream = stub->StreamEventBatches(&ctx);

  // Far more answers than any transport buffers between the two: 400,000 rejections.
  constexpr int kMessages = 400;
  v1::PosEventBatch garbage;
  for (int i = 0; i < kMaxEventsPerMessage; ++i) {
    v1::PosEvent* e = garbage.add_events();
    *e = sale("g-" + std::to_string(i));
    e->clear_customer_id();
  }
  std::thread till([&] {
    for (int m = 0; m < kMessages; ++m) {
      if (!stream->Write(garbage)) return;
    }
    stream->WritesDone();
  });

  Metrics& metrics = service_.pipeline().metrics();
  ASSERT_TRUE(eventually([&] { return metrics.read_pauses.Value() >= 1; }))
      << "the stream kept reading: " << metrics.rejected.Value() << " events answered, "
      << metrics.unsent_acks.Value() << " acks unsent";
  // A read in flight when the bound was reached adds at most one message's answers.
  EXPECT_LE(metrics.unsent_acks.Value(), static_cast<double>(kMaxQueuedAcks + kMaxEventsPerMessage));
  EXPECT_LT(metrics.rejected.Value(), static_cast<double>(kMessages) * kMaxEventsPerMessage);

  size_t answered = 0;
  v1::EventAckBatch acks;
  while (stream->Read(&acks)) {
    for (const auto& a : acks.acks()) {
      EXPECT_EQ(a.status(), v1::ACK_STATUS_REJECTED);
      ++answered;
    }
  }
  till.join();
  const grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(answered, static_cast<size_t>(kMessages) * kMaxEventsPerMessage);
  EXPECT_EQ(metrics.unsent_acks.Value(), 0);
  server->Shutdown();
}

}  // namespace
}  // namespace tierflow::ingest
