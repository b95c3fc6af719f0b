// The error taxonomy shared by the domain cores and the services. A core throws one of
// these to say what kind of failure it is; the edge translates it once (grpcx::to_status
// in common/grpc/status.h for gRPC, an ack code, a DLQ reason). Header-only and free of
// any other dependency, so the pure cores link it (target tierflow::errors) without the
// rest of common.
//
// Messages are read by people: say what was wrong and what to do, and name ids, never
// personal data (no phone numbers, e-mail addresses or names).
#pragma once

#include <stdexcept>

namespace tierflow::errors {

// The thing asked for does not exist (an unknown customer, statement, campaign).
class NotFound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The request is wrong whatever the system's state (a malformed id, a bad page token).
class InvalidArgument : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The request is well formed but the system is not in a state to do it (a campaign
// already finished, an override of a customer the instance does not own).
class FailedPrecondition : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A dependency cannot be reached or is overloaded; retrying later may succeed.
class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tierflow::errors
