// The one mapping from a thrown exception to a grpc::Status, used by every service's RPCs,
// so a failure reaches the caller with a code it can act on and never as UNKNOWN.
//
//   errors::NotFound            -> NOT_FOUND
//   errors::InvalidArgument     -> INVALID_ARGUMENT
//   errors::FailedPrecondition  -> FAILED_PRECONDITION
//   errors::Unavailable         -> UNAVAILABLE
//   sql::Error, pqxx::failure, redis::RedisError, kafka::KafkaError
//                               -> UNAVAILABLE ("<store> unavailable: ...; retry later")
//   anything else               -> INTERNAL ("internal error: ...; report it ...")
//
// The message is the exception's what() with a prefix saying what kind of failure it is;
// what() must therefore name ids, never personal data. INTERNAL and UNAVAILABLE are also
// logged here (warn/error), once, so handlers do not log them again.
//
// Threading: stateless, callable from any thread.
#pragma once

#include <grpcpp/support/status.h>

#include <exception>
#include <type_traits>
#include <utility>

namespace tierflow::grpcx {

// The status for `error`; a null pointer (nothing was thrown) gives OK.
grpc::Status to_status(std::exception_ptr error) noexcept;

// Runs `fn` (returning grpc::Status) and maps whatever it throws with to_status():
//   return grpcx::guarded([&] { ...; return grpc::Status::OK; });
template <class Fn>
requires std::is_invocable_r_v<grpc::Status, Fn&> grpc::Status guarded(Fn&& fn)
noexcept {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    return to_status(std::current_exception());
  }
}

}  // namespace tierflow::grpcx
