#include "sender.h"

#include <gtest/gtest.h>
#include <algorithm>

#include <map>
#include <mutex>
#include <set>

#include "fmt/format.h"
#include "grpcpp/grpcpp.h"

namespace tierflow::pos_sim {
namespace {

namespace v1 = tierflow::v1;

v1::PosEvent event(const std::string& id) {
  v1::PosEvent e;
  e.set_event_id(id);
  e.set_customer_id("c-1");
  return e;
}

v1::EventAck ack(const std::string& id, v1::AckStatus s, std::string reason = "") {
  v1::EventAck a;
  a.set_event_id(id);
  a.set_status(s);
  a.set_reason(std::move(reason));
  return a;
}

TEST(AckTracker, CountsAndRetries) {
  AckTracker t(2);
  t.on_sent(event("a"));
  t.on_sent(event("b"));
  t.on_sent(event("b"));  // a deliberate duplicate: two acks expected
  t.on_sent(event("c"));
  t.on_sent(event("d"));
  EXPECT_EQ(t.outstanding(), 5);
  EXPECT_EQ(t.on_ack(ack("a", v1::ACK_STATUS_ACCEPTED)), nullptr);
  EXPECT_EQ(t.on_ack(ack("b", v1::ACK_STATUS_ACCEPTED)), nullptr);
  EXPECT_EQ(t.on_ack(ack("b", v1::ACK_STATUS_DUPLICATE)), nullptr);
  EXPECT_EQ(t.on_ack(ack("c", v1::ACK_STATUS_REJECTED, "total is negative")), nullptr);
  const v1::PosEvent* again = t.on_ack(ack("d", v1::ACK_STATUS_RETRY));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->event_id(), "d");
  EXPECT_NE(t.on_ack(ack("d", v1::ACK_STATUS_RETRY)), nullptr);
  EXPECT_EQ(t.on_ack(ack("d", v1::ACK_STATUS_RETRY)), nullptr) << "third RETRY with max_retries 2";
  EXPECT_EQ(t.on_ack(ack("zzz", v1::ACK_STATUS_ACCEPTED)), nullptr);
  EXPECT_EQ(t.outstanding(), 0);
  const AckCounts& c = t.counts();
  EXPECT_EQ(c.sent, 5);
  EXPECT_EQ(c.accepted, 2);
  EXPECT_EQ(c.duplicate, 1);
  EXPECT_EQ(c.rejected, 1);
  EXPECT_EQ(c.retry_failed, 1);
  EXPECT_EQ(c.unexpected, 1);
  ASSERT_EQ(t.rejections().size(), 1u);
  EXPECT_EQ(t.rejections()[0].first, "c");
  EXPECT_EQ(t.rejections()[0].second, "total is negative");
}

TEST(Summary, JsonHasTheAgreedKeys) {
  Summary s;
  s.sent = 10;
  s.accepted = 7;
  s.duplicate = 1;
  s.rejected = 1;
  s.retry_failed = 1;
  s.customers = 3;
  s.elapsed_s = 2.0;
  EXPECT_EQ(summary_json(s),
            R"({"sent":10,"accepted":7,"duplicate":1,"rejected":1,"retry_failed":1,"customers":3,)"
            R"("elapsed_s":2.000,"events_per_s":5.0})");
  s.elapsed_s = 0;
  EXPECT_NE(summary_json(s).find(R"("events_per_s":0.0)"), std::string::npos);
}

// An in-process PosIngest: DUPLICATE for ids seen before, REJECTED for customer "bad",
// RETRY the first time for ids ending in '7', ACCEPTED otherwise; on both event streams
// (StreamEventBatches: one ack message per event message).
class FakeIngest final : public v1::PosIngest::Service {
 public:
  grpc::Status StreamEvents(grpc::ServerContext*,
                            grpc::ServerReaderWriter<v1::EventAck, v1::PosEvent>* stream) override {
    v1::PosEvent e;
    while (stream->Read(&e)) {
      if (!stream->Write(answer(e))) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status StreamEventBatches(grpc::ServerContext*,
                                  grpc::ServerReaderWriter<v1::EventAckBatch, v1::PosEventBatch>* stream) override {
    v1::PosEventBatch batch;
    while (stream->Read(&batch)) {
      v1::EventAckBatch acks;
      for (const auto& e : batch.events()) *acks.add_acks() = answer(e);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++batches_;
        max_per_message_ = std::max(max_per_message_, batch.events_size());
      }
      if (!stream->Write(acks)) break;
    }
    return grpc::Status::OK;
  }
  v1::EventAck answer(const v1::PosEvent& e) {
    v1::EventAck a;
    a.set_event_id(e.event_id());
    std::lock_guard<std::mutex> lock(mu_);
    ++received_;
    if (e.customer_id() == "bad") {
      a.set_status(v1::ACK_STATUS_REJECTED);
      a.set_reason("customer_id 'bad' is not allowed");
    } else if (e.event_id().back() == '7' && retried_.insert(e.event_id()).second) {
      a.set_status(v1::ACK_STATUS_RETRY);
    } else if (!seen_.insert(e.event_id()).second) {
      a.set_status(v1::ACK_STATUS_DUPLICATE);
    } else {
      a.set_status(v1::ACK_STATUS_ACCEPTED);
    }
    return a;
  }
  grpc::Status UpsertCustomers(grpc::ServerContext*, const v1::UpsertCustomersRequest* req,
                               v1::UpsertCustomersResponse* resp) override {
    for (const auto& c : req->customers()) {
      auto* a = resp->add_acks();
      a->set_customer_id(c.customer_id());
      a->set_status(c.name().empty() ? v1::ACK_STATUS_REJECTED : v1::ACK_STATUS_ACCEPTED);
      if (c.name().empty()) a->set_reason("name is empty");
    }
    return grpc::Status::OK;
  }
  std::int64_t received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  std::int64_t batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  int max_per_message() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_per_message_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> seen_, retried_;
  std::int64_t received_ = 0;
  std::int64_t batches_ = 0;
  int max_per_message_ = 0;
};

class VectorSource : public EventSource {
 public:
  explicit VectorSource(std::vector<v1::PosEvent> v) : v_(std::move(v)) {}
  bool next(v1::PosEvent* out) override {
    if (pos_ >= v_.size()) return false;
    *out = v_[pos_++];
    return true;
  }
  double progress() const override { return v_.empty() ? 1.0 : static_cast<double>(pos_) / v_.size(); }

 private:
  std::vector<v1::PosEvent> v_;
  std::size_t pos_ = 0;
};

class SenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    b.RegisterService(&fake_);
    server_ = b.BuildAndStart();
    stub_ = v1::PosIngest::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override { server_->Shutdown(); }
  FakeIngest fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::PosIngest::Stub> stub_;
};

// The same workload gives the same counts one event a message (StreamEvents) and in
// batches of at most 8 events (StreamEventBatches); window 16.
class SenderStreamTest : public SenderTest, public ::testing::WithParamInterface<int> {};

TEST_P(SenderStreamTest, StreamsWithWindowRetriesAndDuplicates) {
  const int per_message = GetParam();
  std::vector<v1::PosEvent> events;
  for (int i = 1; i <= 500; ++i) {
    auto e = event(fmt::format("e-1-{}", i));
    if (i % 100 == 0) e.set_customer_id("bad");
    events.push_back(e);
  }
  VectorSource source(events);
  StreamOptions opts;
  opts.window = 16;
  opts.duplicates_every = 50;
  opts.events_per_message = per_message;
  opts.retry_backoff = std::chrono::milliseconds(1);
  int progress_calls = 0;
  auto result = stream_events(*stub_, source, opts, [&](const StreamProgress&) { ++progress_calls; });
  ASSERT_TRUE(result.ok()) << result.status();
  const AckCounts& c = result->counts;
  EXPECT_EQ(c.sent, 510);        // 500 + every 50th twice
  EXPECT_EQ(c.resent, 50);       // ids ending in 7 retried once
  EXPECT_EQ(c.rejected, 5 + 5);  // every 100th, and its duplicate copy
  EXPECT_EQ(c.duplicate, 5);     // copies of the 50th, 150th, ... (the others were rejected)
  EXPECT_EQ(c.accepted, 495);
  EXPECT_EQ(c.retry_failed, 0);
  EXPECT_EQ(c.accepted + c.duplicate + c.rejected, c.sent);
  EXPECT_EQ(fake_.received(), 560);
  ASSERT_FALSE(result->rejections.empty());
  EXPECT_EQ(result->rejections.front().second, "customer_id 'bad' is not allowed");
  EXPECT_GE(progress_calls, 1);
  if (per_message > 1) {  // one event a message goes over StreamEvents: no batches
    EXPECT_GT(fake_.batches(), 0);
    EXPECT_LE(fake_.max_per_message(), per_message);
    EXPECT_GT(fake_.max_per_message(), 1);
  }
}

INSTANTIATE_TEST_SUITE_P(EventsPerMessage, SenderStreamTest, ::testing::Values(1, 8),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 1 ? std::string("OneEventPerMessage")
                                                  : fmt::format("UpTo{}EventsPerMessage", info.param);
                         });

TEST_F(SenderTest, EmptySourceFinishes) {
  VectorSource source({});
  auto result = stream_events(*stub_, source, StreamOptions(), nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->counts.sent, 0);
}

TEST_F(SenderTest, UpsertCountsRejections) {
  std::vector<v1::CustomerProfile> batch(3);
  batch[0].set_customer_id("c-1");
  batch[0].set_name("A");
  batch[1].set_customer_id("c-2");
  batch[2].set_customer_id("c-3");
  batch[2].set_name("C");
  UpsertResult r;
  ASSERT_TRUE(upsert_customers(*stub_, batch, std::chrono::milliseconds(5000), &r).ok());
  EXPECT_EQ(r.sent, 3);
  EXPECT_EQ(r.accepted, 2);
  EXPECT_EQ(r.rejected, 1);
  ASSERT_EQ(r.rejections.size(), 1u);
  EXPECT_EQ(r.rejections[0].first, "c-2");
}

TEST(SenderUnreachable, UpsertFailsWithinTheDeadline) {
  // A channel to nothing: the call must end at its deadline, not hang.
  auto channel = grpc::CreateChannel("unix:/nonexistent/pos-sim-test.sock", grpc::InsecureChannelCredentials());
  auto stub = v1::PosIngest::NewStub(channel);
  UpsertResult r;
  const auto st = upsert_customers(*stub, {v1::CustomerProfile()}, std::chrono::milliseconds(200), &r);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(r.sent, 0);
}

}  // namespace
}  // namespace tierflow::pos_sim
