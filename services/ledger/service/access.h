// Who may call Ledger (the method -> roles table grpcx::Server enforces; admin may call
// everything). Every method is a read: the call-center and finance read accounts.
#pragma once

#include "common/grpc/auth.h"
#include "tierflow/v1/ledger.grpc.pb.h"

namespace tierflow::ledger {

inline grpcx::MethodRoles access_table() {
  using grpcx::Role;
  const std::string s = "/" + std::string(v1::Ledger::service_full_name()) + "/";
  const std::vector<Role> readers = {Role::kCallCenter, Role::kFinance};
  return {
      {s + "GetAccount", readers},
      {s + "GetStatement", readers},
      {s + "GetAgeing", readers},
      {s + "GetTrialBalance", readers},
  };
}

}  // namespace tierflow::ledger
