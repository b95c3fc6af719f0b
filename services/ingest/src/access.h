// Who may call PosIngest (the method -> roles table grpcx::Server enforces; admin may call
// everything). A pos caller is further limited to its own store ids, in service.cpp.
#pragma once

#include "common/grpc/auth.h"
#include "tierflow/v1/ingest.grpc.pb.h"

namespace tierflow::ingest {

inline grpcx::MethodRoles access_table() {
  using grpcx::Role;
  const std::string s = "/" + std::string(v1::PosIngest::service_full_name()) + "/";
  return {
      {s + "SubmitEvents", {Role::kPos}},
      {s + "StreamEvents", {Role::kPos}},
      {s + "UpsertCustomers", {Role::kCrm}},
  };
}

}  // namespace tierflow::ingest
