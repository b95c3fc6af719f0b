// TierService over gRPC: the tier lookups (Redis) and the keeper's reports, overrides and
// watches. Errors map to grpc::Status through grpcx::guarded / to_status
// (common/grpc/status.h): the keeper's errors::* by kind, storage and Redis failures to
// UNAVAILABLE, never UNKNOWN; messages name the field or the customer.
#pragma once

#include <memory>

#include "service/blocking_worker.h"
#include "service/config.h"
#include "service/tier_keeper.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::redis {
class Mux;
}

namespace tierflow::classification {

// GetTier and BatchGetTiers use gRPC's callback API and read Redis through one shared,
// pipelined connection (redis::Mux): no thread or connection per call. The other methods
// are sync handlers. Lifecycle: must outlive the grpc::Server it is registered with (the
// server's shutdown waits for the callbacks, which the mux and the worker complete).
// GetTier is a raw method: the stored TierAssignment bytes are the response as they are (no
// parse and re-serialisation of ~1 KB per call); TierPublisher is their only writer.
// Threading: any gRPC thread; the callbacks complete on the mux's I/O thread or the worker.
using TierServiceBase = v1::TierService::WithRawCallbackMethod_GetTier<
    v1::TierService::WithCallbackMethod_BatchGetTiers<v1::TierService::Service>>;

class TierService final : public TierServiceBase {
 public:
  // Does not connect to Redis (the mux connects on first use; while Redis is down the
  // Redis-backed calls answer UNAVAILABLE).
  TierService(const Config& cfg, TierKeeper& keeper);
  ~TierService() override;

  // A v1::GetTierRequest in, a v1::TierAssignment out. From Redis (NOT_FOUND naming the
  // customer when it has no tier there; UNAVAILABLE when Redis cannot be reached). With
  // as_of: from the store's history, on the worker thread.
  grpc::ServerUnaryReactor* GetTier(grpc::CallbackServerContext*, const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  // At most 1000 ids; unknown ones are listed in not_found. One pipelined group in Redis.
  grpc::ServerUnaryReactor* BatchGetTiers(grpc::CallbackServerContext*, const v1::BatchGetTiersRequest*,
                                          v1::BatchGetTiersResponse*) override;
  grpc::Status GetTierHistory(grpc::ServerContext*, const v1::GetTierHistoryRequest*,
                              v1::GetTierHistoryResponse*) override;
  grpc::Status ExplainTier(grpc::ServerContext*, const v1::ExplainTierRequest*, v1::Explanation*) override;
  grpc::Status ListCustomers(grpc::ServerContext*, const v1::ListCustomersRequest*,
                             v1::ListCustomersResponse*) override;
  // Streams every published change (filtered by tiers) until the client cancels, the
  // server shuts down (UNAVAILABLE) or the caller falls behind (RESOURCE_EXHAUSTED).
  grpc::Status WatchTierChanges(grpc::ServerContext*, const v1::WatchTierChangesRequest*,
                                grpc::ServerWriter<v1::TierAssignment>*) override;
  grpc::Status SetOverride(grpc::ServerContext*, const v1::SetOverrideRequest*, v1::TierOverride*) override;
  grpc::Status ClearOverride(grpc::ServerContext*, const v1::ClearOverrideRequest*,
                             v1::ClearOverrideResponse*) override;
  grpc::Status GetDistribution(grpc::ServerContext*, const v1::GetDistributionRequest*, v1::Distribution*) override;
  grpc::Status ReloadStandard(grpc::ServerContext*, const v1::ReloadStandardRequest*,
                              v1::ReloadStandardResponse*) override;
  grpc::Status WhatIf(grpc::ServerContext*, const v1::WhatIfRequest*, v1::WhatIfResponse*) override;
  // The kept overview, or a past one from history (service/tier_service_overview.cpp).
  grpc::Status GetOverview(grpc::ServerContext*, const v1::GetOverviewRequest*, v1::Overview*) override;
  // Profile and search for the console; contact data masked for call-center
  // (service/tier_service_customers.cpp).
  grpc::Status GetCustomerProfile(grpc::ServerContext*, const v1::GetCustomerProfileRequest*,
                                  v1::CustomerProfile*) override;
  grpc::Status SearchCustomers(grpc::ServerContext*, const v1::SearchCustomersRequest*,
                               v1::SearchCustomersResponse*) override;
  grpc::Status ListWatch(grpc::ServerContext*, const v1::ListWatchRequest*, v1::ListWatchResponse*) override;

  // Pipelines written / commands sent through the shared connection (benchmark report).
  redis::Mux& mux() { return *mux_; }

 private:
  const Config& cfg_;
  TierKeeper& keeper_;
  // Destroyed first (reverse order): the worker finishes as_of calls, the mux fails what
  // it still holds; both complete their reactors.
  std::unique_ptr<redis::Mux> mux_;
  BlockingWorker worker_;
};

}  // namespace tierflow::classification
