// grpcx::to_status / guarded (common/grpc/status.h): every kind of failure gets its code
// and a message a person can act on; nothing comes out as UNKNOWN.
#include "common/grpc/status.h"

#include <gtest/gtest.h>

#include <pqxx/except>

#include <stdexcept>
#include <string>

#include "common/errors/errors.h"
#include "common/kafka/producer.h"
#include "common/redis/mux.h"
#include "tierflow/sql/sqlite.h"

namespace tierflow::grpcx {
namespace {

template <class E>
grpc::Status status_of(E e) {
  return to_status(std::make_exception_ptr(std::move(e)));
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(ToStatus, TaxonomyKeepsItsCodeAndMessage) {
  auto s = status_of(errors::NotFound("no account for customer c-1"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "no account for customer c-1");
  s = status_of(errors::InvalidArgument("page_token is not one this service issued"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "page_token is not one this service issued");
  s = status_of(errors::FailedPrecondition("campaign k-1 already finished"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "campaign k-1 already finished");
  s = status_of(errors::Unavailable("tier store is refilling; retry in a minute"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "tier store is refilling; retry in a minute");
}

TEST(ToStatus, StoreAndBrokerFailuresAreUnavailableWithRetryAdvice) {
  auto s = status_of(sql::Error("sqlite: disk I/O error (code 10) in: SELECT 1", 10));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(contains(s.error_message(), "storage unavailable: sqlite: disk I/O error")) << s.error_message();
  EXPECT_TRUE(contains(s.error_message(), "retry later")) << s.error_message();

  s = status_of(pqxx::broken_connection("could not connect to server: Connection refused"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "storage unavailable: could not connect to server: Connection refused; retry later");

  s = status_of(redis::RedisError("redis unavailable: Connection refused"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "redis unavailable: Connection refused; retry later");  // prefix not repeated

  s = status_of(kafka::KafkaError("produce to pos.events.v1: Local: Queue full"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "kafka unavailable: produce to pos.events.v1: Local: Queue full; retry later");
}

TEST(ToStatus, AnythingElseIsInternalNeverUnknown) {
  auto s = status_of(std::logic_error("posting without a currency"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(contains(s.error_message(), "internal error: posting without a currency")) << s.error_message();
  EXPECT_TRUE(contains(s.error_message(), "report it")) << s.error_message();

  s = status_of(42);  // not even a std::exception
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(contains(s.error_message(), "internal error")) << s.error_message();
}

TEST(ToStatus, NothingThrownIsOk) { EXPECT_TRUE(to_status(nullptr).ok()); }

TEST(Guarded, PassesTheStatusThroughAndMapsWhatIsThrown) {
  EXPECT_TRUE(guarded([] { return grpc::Status::OK; }).ok());
  auto s = guarded([]() -> grpc::Status { return {grpc::StatusCode::CANCELLED, "client went away"}; });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  s = guarded([]() -> grpc::Status { throw errors::NotFound("no tier for customer c-9"); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "no tier for customer c-9");
  s = guarded([]() -> grpc::Status { throw std::runtime_error("boom"); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace tierflow::grpcx
