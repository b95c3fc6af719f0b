// Who may call CampaignService (the method -> roles table grpcx::Server enforces; admin
// may call everything).
#pragma once

#include "common/grpc/auth.h"
#include "tierflow/v1/campaign.grpc.pb.h"

namespace tierflow::notification {

inline grpcx::MethodRoles access_table() {
  using grpcx::Role;
  const std::string s = "/" + std::string(v1::CampaignService::service_full_name()) + "/";
  return {
      {s + "StartCampaign", {Role::kCampaign}},  {s + "GetCampaign", {Role::kCampaign}},
      {s + "CancelCampaign", {Role::kCampaign}}, {s + "PreviewCampaign", {Role::kCampaign}},
      {s + "ListDeliveries", {Role::kCampaign}},
  };
}

}  // namespace tierflow::notification
