// Who may call TierService (the method -> roles table grpcx::Server enforces; admin may
// call everything, and is the only one who may set or clear overrides). No response of
// TierService carries contact data, so the call-center's reads need no masking.
#pragma once

#include "common/grpc/auth.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::classification {

inline grpcx::MethodRoles access_table() {
  using grpcx::Role;
  const std::string s = "/" + std::string(v1::TierService::service_full_name()) + "/";
  const std::vector<Role> readers = {Role::kCallCenter, Role::kFinance};
  return {
      {s + "GetTier", readers},         {s + "BatchGetTiers", readers},
      {s + "GetTierHistory", readers},  {s + "ExplainTier", readers},
      {s + "ListCustomers", readers},   {s + "WatchTierChanges", readers},
      {s + "GetDistribution", readers}, {s + "GetOverview", readers},
      {s + "WhatIf", {Role::kFinance}}, {s + "ReloadStandard", {Role::kFinance}},
      {s + "SetOverride", {}},          {s + "ClearOverride", {}},
  };
}

}  // namespace tierflow::classification
