// TierService.GetCustomerProfile and SearchCustomers: the profiles classification holds,
// for the console. The only TierService answers with contact data: masked for call-center.
#include "common/errors/errors.h"
#include "common/grpc/auth.h"
#include "common/grpc/status.h"
#include "common/log/log.h"
#include "service/store.h"
#include "service/tier_service.h"

namespace tierflow::classification {
namespace {

// Call-center callers see contact data masked. No caller: this process runs without
// access control (in-process tests), which trusts every call.
bool masked_for(const grpc::ServerContext* ctx) {
  if (ctx == nullptr) return false;
  const auto caller = grpcx::caller(*ctx);
  return caller && caller->role != grpcx::Role::kFinance && caller->role != grpcx::Role::kAdmin;
}

// The first character (a whole UTF-8 sequence) and "**".
std::string mask_name(const std::string& name) {
  if (name.empty()) return "";
  size_t n = 1;
  while (n < name.size() && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) ++n;
  return name.substr(0, n) + "**";
}

void mask(v1::CustomerProfile& p) {
  p.set_name(mask_name(p.name()));
  p.set_email(log::mask_email(p.email()));
  p.set_phone(log::mask_phone(p.phone()));
  p.clear_webhook_url();
  if (p.has_birthday()) p.mutable_birthday()->set_year(0);
}

}  // namespace

grpc::Status TierService::GetCustomerProfile(grpc::ServerContext* ctx, const v1::GetCustomerProfileRequest* req,
                                             v1::CustomerProfile* out) {
  return grpcx::guarded([&] {
    if (req->customer_id().empty()) throw errors::InvalidArgument("customer_id is required");
    Store reader(cfg_.store_path, Store::Mode::reader);
    auto p = reader.profile(req->customer_id());
    if (!p) throw errors::NotFound("no profile for customer " + req->customer_id());
    if (masked_for(ctx)) mask(*p);
    *out = std::move(*p);
    return grpc::Status::OK;
  });
}

grpc::Status TierService::SearchCustomers(grpc::ServerContext* ctx, const v1::SearchCustomersRequest* req,
                                          v1::SearchCustomersResponse* out) {
  return grpcx::guarded([&] {
    if (req->query().empty()) throw errors::InvalidArgument("query is required");
    if (req->query().size() > 100) throw errors::InvalidArgument("query is longer than 100 bytes");
    if (req->limit() < 0 || req->limit() > 100) throw errors::InvalidArgument("limit must be in 0..100");
    const bool masked = masked_for(ctx);
    Store reader(cfg_.store_path, Store::Mode::reader);
    for (auto& m : reader.search(req->query(), req->limit() == 0 ? 20 : req->limit())) {
      auto* x = out->add_matches();
      x->set_customer_id(m.customer_id);
      x->set_name(masked ? mask_name(m.name) : m.name);
      x->set_tier(m.tier);
    }
    return grpc::Status::OK;
  });
}

}  // namespace tierflow::classification
