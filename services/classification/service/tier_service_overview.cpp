// TierService.GetOverview: the keeper's kept overview (service/tier_keeper_overview.h).
#include "common/grpc/status.h"
#include "service/tier_service.h"

namespace tierflow::classification {

grpc::Status TierService::GetOverview(grpc::ServerContext*, const v1::GetOverviewRequest* req, v1::Overview* out) {
  return grpcx::guarded([&] {
    *out = *keeper_.overview(*req);
    return grpc::Status::OK;
  });
}

}  // namespace tierflow::classification
