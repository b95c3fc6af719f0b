#include "service/grpc_service.h"

#include <grpcpp/grpcpp.h>

#include "common/grpc/status.h"
#include "common/time/time.h"

namespace tierflow::ledger {

grpc::Status LedgerService::GetAccount(grpc::ServerContext*, const v1::GetAccountRequest* req,
                                       v1::AccountSnapshot* out) {
  return grpcx::guarded([&] {
    auto account = ledger_.with([&](Ledger& l) { return l.account(req->customer_id(), absl::Now()); });
    if (!account) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no account for customer " + req->customer_id());
    *out = std::move(*account);
    return grpc::Status::OK;
  });
}

grpc::Status LedgerService::GetStatement(grpc::ServerContext*, const v1::GetStatementRequest* req,
                                         v1::GetStatementResponse* out) {
  return grpcx::guarded([&] {
    *out = ledger_.with([&](Ledger& l) { return l.statement(*req); });
    return grpc::Status::OK;
  });
}

grpc::Status LedgerService::GetAgeing(grpc::ServerContext*, const v1::GetAgeingRequest* req, v1::Ageing* out) {
  return grpcx::guarded([&] {
    const absl::Time as_of = req->has_as_of() ? timeutil::from_proto(req->as_of()) : absl::Now();
    *out = ledger_.with([&](Ledger& l) { return l.ageing(req->customer_id(), as_of); });
    return grpc::Status::OK;
  });
}

grpc::Status LedgerService::GetTrialBalance(grpc::ServerContext*, const v1::GetTrialBalanceRequest*,
                                            v1::TrialBalance* out) {
  return grpcx::guarded([&] {
    *out = ledger_.with([](Ledger& l) { return l.trial_balance(); });
    return grpc::Status::OK;
  });
}

}  // namespace tierflow::ledger
