// TierService.GetCustomerProfile and SearchCustomers: the profiles classification holds,
// for the console. The only TierService answers with contact data: masked for call-center.
#include <algorithm>

#include "common/errors/errors.h"
#include "common/grpc/auth.h"
#include "common/grpc/status.h"
#include "common/log/log.h"
#include "common/time/time.h"
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

namespace tierflow::classification {

// A scan of the current assignments (or the history at as_of) in the store: O(customers)
// per call, for a page a person opens, not for a hot path.
grpc::Status TierService::ListWatch(grpc::ServerContext*, const v1::ListWatchRequest* req, v1::ListWatchResponse* out) {
  return grpcx::guarded([&] {
    if (req->has_as_of() && !timeutil::valid(req->as_of())) throw errors::InvalidArgument("as_of is not valid");
    if (req->limit() < 0 || req->limit() > 100000) throw errors::InvalidArgument("limit must be in 0..100000");
    const int limit = req->limit() == 0 ? 1000 : req->limit();
    auto consider = [&](v1::TierAssignment&& a) {
      v1::WatchEntry e;
      if (a.has_pending_downgrade()) {
        const auto& p = a.pending_downgrade();
        e.add_kinds("pending_downgrade");
        e.add_reasons("downgrade to " + p.to_tier() + " on " +
                      timeutil::format(timeutil::from_proto(p.effective_time())) +
                      (p.reason().empty() ? "" : ": " + p.reason()));
      }
      if (a.credit_hold()) {
        e.add_kinds("credit_hold");
        std::string credit;
        for (const auto& d : a.dimensions())
          if (d.dimension() == "credit") credit = d.class_name() + (d.detail().empty() ? "" : " (" + d.detail() + ")");
        e.add_reasons("credit hold" + (credit.empty() ? "" : ": credit " + credit));
      }
      for (const auto& d : a.dimensions()) {
        if (d.dimension() == "lifecycle" && (d.class_name() == "at-risk" || d.class_name() == "at_risk")) {
          e.add_kinds("at_risk");
          e.add_reasons("at risk" + (d.detail().empty() ? "" : ": " + d.detail()));
        }
      }
      if (e.kinds().empty()) return true;
      if (out->entries_size() == limit) {
        out->set_truncated(true);
        return false;
      }
      *e.mutable_assignment() = std::move(a);
      *out->add_entries() = std::move(e);
      return true;
    };
    Store reader(cfg_.store_path, Store::Mode::reader);
    if (req->has_as_of() && timeutil::from_proto(req->as_of()) < keeper_.now()) {
      std::vector<v1::TierAssignment> past;
      reader.as_of_all(timeutil::from_proto(req->as_of()),
                       [&](v1::TierAssignment&& a) { past.push_back(std::move(a)); });
      std::sort(past.begin(), past.end(),
                [](const auto& x, const auto& y) { return x.customer_id() < y.customer_id(); });
      for (auto& a : past)
        if (!consider(std::move(a))) break;
    } else {
      reader.currents("", consider);
    }
    return grpc::Status::OK;
  });
}

}  // namespace tierflow::classification
