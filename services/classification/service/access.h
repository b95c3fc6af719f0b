// Who may call TierService (the method -> roles table grpcx::Server enforces; admin may
// call everything, and is the only one who may set or clear overrides). Only
// GetCustomerProfile and SearchCustomers carry contact data; they mask it for call-center
// (service/tier_service_customers.cpp).
#pragma once

#include "common/grpc/auth.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::classification {

inline grpcx::MethodRoles access_table() {
  using grpcx::Role;
  const std::string s = "/" + std::string(v1::TierService::service_full_name()) + "/";
  const std::vector<Role> readers = {Role::kCallCenter, Role::kFinance};
  return {
      {s + "GetTier", readers},
      {s + "BatchGetTiers", readers},
      {s + "GetTierHistory", readers},
      {s + "ExplainTier", readers},
      {s + "ListCustomers", readers},
      {s + "WatchTierChanges", readers},
      {s + "GetDistribution", readers},
      {s + "GetOverview", readers},
      {s + "GetCustomerProfile", readers},
      {s + "SearchCustomers", readers},
      {s + "ListWatch", readers},
      {s + "WhatIf", {Role::kFinance}},
      {s + "ReloadStandard", {Role::kFinance}},
      {s + "SetOverride", {}},
      {s + "ClearOverride", {}},
  };
}

}  // namespace tierflow::classification
