// Who may call PosIngest (the method -> roles table grpcx::Server enforces; admin may call
// everything). A pos caller is further limited to its own store ids (pipeline.cpp); a
// backfill caller (history from ERP) posts events for any store, marked as backfill.
#pragma once

#include "common/grpc/auth.h"
#include "tierflow/v1/ingest.grpc.pb.h"

namespace tierflow::ingest {

inline grpcx::MethodRoles access_table() {
  using grpcx::Role;
  const std::string s = "/" + std::string(v1::PosIngest::service_full_name()) + "/";
  return {
      {s + "SubmitEvents", {Role::kPos, Role::kBackfill}},
      {s + "StreamEvents", {Role::kPos, Role::kBackfill}},
      {s + "StreamEventBatches", {Role::kPos, Role::kBackfill}},
      {s + "UpsertCustomers", {Role::kCrm}},
  };
}

}  // namespace tierflow::ingest
