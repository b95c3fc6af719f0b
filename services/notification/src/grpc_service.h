// CampaignService over gRPC: start (idempotent by campaign_id), get progress, cancel,
// preview and list deliveries. Every error names the field and comes before anything is
// claimed: INVALID_ARGUMENT for a bad request, FAILED_PRECONDITION for an audience that
// matches nobody, NOT_FOUND for an unknown campaign.
//
// Threading: gRPC's threads; each call opens its own store connection (WAL lets it read
// and write beside the sender and the consumer).
#pragma once

#include "src/campaigns.h"
#include "src/clock.h"
#include "src/config.h"
#include "tierflow/v1/campaign.grpc.pb.h"

namespace tierflow::notification {

class CampaignService final : public v1::CampaignService::Service {
 public:
  CampaignService(const Config& cfg, const Clock& clock, const Planner& planner);
  ~CampaignService() override;
  grpc::Status StartCampaign(grpc::ServerContext* ctx, const v1::CampaignRequest* req,
                             v1::CampaignProgress* resp) override;
  grpc::Status GetCampaign(grpc::ServerContext* ctx, const v1::GetCampaignRequest* req,
                           v1::CampaignProgress* resp) override;
  grpc::Status CancelCampaign(grpc::ServerContext* ctx, const v1::CancelCampaignRequest* req,
                              v1::CampaignProgress* resp) override;
  grpc::Status PreviewCampaign(grpc::ServerContext* ctx, const v1::CampaignRequest* req,
                               v1::PreviewCampaignResponse* resp) override;
  grpc::Status ListDeliveries(grpc::ServerContext* ctx, const v1::ListDeliveriesRequest* req,
                              v1::ListDeliveriesResponse* resp) override;

 private:
  v1::CampaignProgress progress(Store& store, const CampaignRow& row) const;
  const Config& cfg_;
  const Clock& clock_;
  const Planner& planner_;
};

}  // namespace tierflow::notification
