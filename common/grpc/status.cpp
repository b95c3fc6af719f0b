#include "common/grpc/status.h"

#include <spdlog/spdlog.h>

#include <pqxx/except>

#include <string>

#include "common/errors/errors.h"
#include "common/kafka/producer.h"  // KafkaError only
#include "common/redis/mux.h"       // RedisError only
#include "tierflow/sql/sqlite.h"    // sql::Error only

namespace tierflow::grpcx {

namespace {

// "<store> unavailable: <what>; retry later", without repeating a prefix what() already has.
grpc::Status unavailable(std::string_view store, const std::exception& e) {
  const std::string prefix = std::string(store) + " unavailable";
  const std::string_view what = e.what();
  std::string msg =
      (what.starts_with(prefix) ? std::string(what) : prefix + ": " + std::string(what)) + "; retry later";
  spdlog::warn("rpc failed: {}", msg);
  return {grpc::StatusCode::UNAVAILABLE, std::move(msg)};
}

grpc::Status internal(std::string_view what) {
  std::string msg =
      "internal error: " + std::string(what) + "; this is a bug in the service, report it with the time of the call";
  spdlog::error("rpc failed: {}", msg);
  return {grpc::StatusCode::INTERNAL, std::move(msg)};
}

}  // namespace

grpc::Status to_status(std::exception_ptr error) noexcept {
  if (!error) return grpc::Status::OK;
  try {
    try {
      std::rethrow_exception(error);
    } catch (const errors::NotFound& e) {
      return {grpc::StatusCode::NOT_FOUND, e.what()};
    } catch (const errors::InvalidArgument& e) {
      return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
    } catch (const errors::FailedPrecondition& e) {
      return {grpc::StatusCode::FAILED_PRECONDITION, e.what()};
    } catch (const errors::Unavailable& e) {
      spdlog::warn("rpc failed: {}", e.what());
      return {grpc::StatusCode::UNAVAILABLE, e.what()};
    } catch (const sql::Error& e) {
      return unavailable("storage", e);
    } catch (const pqxx::failure& e) {  // the PostgreSQL backend's storage failures
      return unavailable("storage", e);
    } catch (const redis::RedisError& e) {
      return unavailable("redis", e);
    } catch (const kafka::KafkaError& e) {
      return unavailable("kafka", e);
    } catch (const std::exception& e) {
      return internal(e.what());
    } catch (...) {
      return internal("an exception that is not a std::exception");
    }
  } catch (...) {
    // Building the status itself failed (out of memory): still never UNKNOWN.
    return {grpc::StatusCode::INTERNAL, "internal error"};
  }
}

}  // namespace tierflow::grpcx
