// The gRPC Ledger service: account, statement (paged), ageing and trial balance, read
// from the shared ledger on gRPC's threads. Errors are mapped once by grpcx::to_status
// (unknown customer: NOT_FOUND; bad page token: INVALID_ARGUMENT; store: UNAVAILABLE).
#pragma once

#include "service/shared_ledger.h"
#include "tierflow/v1/ledger.grpc.pb.h"

namespace tierflow::ledger {

class LedgerService final : public v1::Ledger::Service {
 public:
  explicit LedgerService(SharedLedger& ledger) : ledger_(ledger) {}
  grpc::Status GetAccount(grpc::ServerContext*, const v1::GetAccountRequest*, v1::AccountSnapshot*) override;
  grpc::Status GetStatement(grpc::ServerContext*, const v1::GetStatementRequest*, v1::GetStatementResponse*) override;
  grpc::Status GetAgeing(grpc::ServerContext*, const v1::GetAgeingRequest*, v1::Ageing*) override;
  grpc::Status GetTrialBalance(grpc::ServerContext*, const v1::GetTrialBalanceRequest*, v1::TrialBalance*) override;

 private:
  SharedLedger& ledger_;
};

}  // namespace tierflow::ledger
