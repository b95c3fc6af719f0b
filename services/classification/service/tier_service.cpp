#include "service/tier_service.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>

#include "common/errors/errors.h"
#include "common/grpc/status.h"
#include "common/redis/mux.h"
#include "common/time/time.h"

namespace tierflow::classification {

namespace {
grpc::Status invalid(const std::string& m) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, m); }
grpc::Status not_found(const std::string& m) { return grpc::Status(grpc::StatusCode::NOT_FOUND, m); }

constexpr int kMaxBatch = 1000;
constexpr int kDefaultHistoryPage = 50;
constexpr int kMaxHistoryPage = 1000;
}  // namespace

TierService::TierService(const Config& cfg, TierKeeper& keeper)
    : cfg_(cfg), keeper_(keeper), mux_(std::make_unique<redis::Mux>(cfg.redis)) {}

TierService::~TierService() = default;

grpc::ServerUnaryReactor* TierService::GetTier(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                               grpc::ByteBuffer* response) {
  auto* reactor = ctx->DefaultReactor();
  auto req = std::make_shared<v1::GetTierRequest>();
  grpc::ByteBuffer copy(*request);  // shares the slices; Deserialize consumes its argument
  if (!grpc::SerializationTraits<v1::GetTierRequest>::Deserialize(&copy, req.get()).ok()) {
    reactor->Finish(invalid("the request is not a tierflow.v1.GetTierRequest"));
    return reactor;
  }
  if (req->customer_id().empty()) {
    reactor->Finish(invalid("customer_id is required"));
    return reactor;
  }
  if (req->has_as_of()) {
    // The tier in force at as_of: the newest stored version evaluated at or before it
    // (evaluated_time is on the service's clock: wall, or the event-time watermark).
    if (!timeutil::valid(req->as_of())) {
      reactor->Finish(invalid("as_of is not a valid timestamp (years 1-9999)"));
      return reactor;
    }
    // SQLite and the keeper's lock block: not on gRPC's thread.
    worker_.post([this, reactor, req, response] {
      const std::string& id = req->customer_id();
      try {
        if (!keeper_.known(id)) return reactor->Finish(not_found("no customer " + id));
        const absl::Time t = timeutil::from_proto(req->as_of());
        auto a = keeper_.as_of(id, t);
        if (!a) return reactor->Finish(not_found("customer " + id + " had no tier on " + timeutil::format(t)));
        bool own = false;
        reactor->Finish(grpc::SerializationTraits<v1::TierAssignment>::Serialize(*a, response, &own));
      } catch (...) {
        reactor->Finish(grpcx::to_status(std::current_exception()));
      }
    });
    return reactor;
  }
  std::string key = redis_key(req->customer_id());
  mux_->submit({{"HGET", std::move(key), "proto"}},
               [reactor, response, req](std::span<const redis::Mux::Reply> replies, std::string_view error) {
                 using Kind = redis::Mux::Reply::Kind;
                 if (!error.empty()) {
                   return reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(error)));
                 }
                 const auto& r = replies[0];
                 if (r.kind == Kind::nil)
                   return reactor->Finish(not_found("no tier for customer " + req->customer_id()));
                 if (r.kind != Kind::string) {
                   return reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                       "redis answered HGET with an error: " + std::string(r.str)));
                 }
                 grpc::Slice slice(r.str.data(), r.str.size());
                 *response = grpc::ByteBuffer(&slice, 1);
                 reactor->Finish(grpc::Status::OK);
               });
  return reactor;
}

grpc::ServerUnaryReactor* TierService::BatchGetTiers(grpc::CallbackServerContext* ctx,
                                                     const v1::BatchGetTiersRequest* req,
                                                     v1::BatchGetTiersResponse* out) {
  auto* reactor = ctx->DefaultReactor();
  if (req->customer_ids_size() > kMaxBatch) {
    reactor->Finish(
        invalid(fmt::format("customer_ids: {} ids, at most {} per call", req->customer_ids_size(), kMaxBatch)));
    return reactor;
  }
  if (req->customer_ids_size() == 0) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<redis::Mux::Command> cmds;
  cmds.reserve(req->customer_ids_size());
  for (const auto& id : req->customer_ids()) cmds.push_back({"HGET", redis_key(id), "proto"});
  // `req` and `out` live until Finish.
  mux_->submit(std::move(cmds),
               [reactor, req, out](std::span<const redis::Mux::Reply> replies, std::string_view error) {
                 using Kind = redis::Mux::Reply::Kind;
                 if (!error.empty())
                   return reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(error)));
                 for (int i = 0; i < req->customer_ids_size(); ++i) {
                   const auto& r = replies[i];
                   if (r.kind == Kind::string) {
                     if (out->add_assignments()->ParseFromArray(r.str.data(), static_cast<int>(r.str.size()))) continue;
                     out->mutable_assignments()->RemoveLast();
                   }
                   out->add_not_found(req->customer_ids(i));
                 }
                 reactor->Finish(grpc::Status::OK);
               });
  return reactor;
}

grpc::Status TierService::GetTierHistory(grpc::ServerContext*, const v1::GetTierHistoryRequest* req,
                                         v1::GetTierHistoryResponse* out) {
  const std::string& id = req->customer_id();
  if (id.empty()) return invalid("customer_id is required");
  const int requested = req->page().page_size();
  if (requested < 0) return invalid("page.page_size must not be negative");
  const int limit = requested == 0 ? kDefaultHistoryPage : std::min(requested, kMaxHistoryPage);
  int64_t before = 0;
  if (const std::string& token = req->page().page_token(); !token.empty()) {
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), before);
    if (ec != std::errc() || end != token.data() + token.size() || before <= 0) {
      return invalid("page.page_token '" + token + "' is not a token from a previous page");
    }
  }
  return grpcx::guarded([&] {
    if (!keeper_.known(id)) return not_found("no customer " + id);
    bool more = false;
    for (auto& a : keeper_.history(id, before, limit, &more)) *out->add_changes() = std::move(a);
    if (more && out->changes_size() > 0) {
      out->set_next_page_token(std::to_string(out->changes(out->changes_size() - 1).version()));
    }
    return grpc::Status::OK;
  });
}

grpc::Status TierService::ExplainTier(grpc::ServerContext*, const v1::ExplainTierRequest* req, v1::Explanation* out) {
  if (req->customer_id().empty()) return invalid("customer_id is required");
  return grpcx::guarded([&] {
    v1::TierAssignment current;
    auto eval = keeper_.explain(req->customer_id(), &current);
    if (!eval) return not_found("no customer " + req->customer_id());
    *out->mutable_assignment() = current.customer_id().empty() ? eval->assignment : current;
    for (auto& f : eval->features) *out->add_features() = f;
    for (auto& line : eval->explanation) out->add_lines(line);
    return grpc::Status::OK;
  });
}

grpc::Status TierService::ListCustomers(grpc::ServerContext*, const v1::ListCustomersRequest* req,
                                        v1::ListCustomersResponse* out) {
  if (req->page().page_size() < 0) return invalid("page.page_size must not be negative");
  const int limit = req->page().page_size() > 0 ? std::min(req->page().page_size(), 1000) : 100;
  return grpcx::guarded([&] {
    std::string next;
    for (auto& a :
         keeper_.list(req->tier(), req->dimension(), req->class_name(), req->page().page_token(), limit, &next)) {
      *out->add_assignments() = std::move(a);
    }
    out->set_next_page_token(next);
    return grpc::Status::OK;
  });
}

grpc::Status TierService::WatchTierChanges(grpc::ServerContext* ctx, const v1::WatchTierChangesRequest* req,
                                           grpc::ServerWriter<v1::TierAssignment>* writer) {
  const auto known = keeper_.tier_names();
  for (int i = 0; i < req->tiers_size(); ++i) {
    if (std::find(known.begin(), known.end(), req->tiers(i)) == known.end()) {
      return invalid(fmt::format("tiers[{}]: the standard has no tier '{}'", i, req->tiers(i)));
    }
  }
  auto watcher = keeper_.watch({req->tiers().begin(), req->tiers().end()});
  grpc::Status status = grpc::Status::OK;
  v1::TierAssignment a;
  for (bool done = false; !done;) {
    if (ctx->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled by the client");
      break;
    }
    switch (watcher->next(&a, std::chrono::milliseconds(200))) {
      case Watcher::Next::item:
        if (!writer->Write(a)) {
          status = grpc::Status(grpc::StatusCode::CANCELLED, "the watching client went away");
          done = true;
        }
        break;
      case Watcher::Next::timeout:
        break;
      case Watcher::Next::overflowed:
        status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              fmt::format("this watch fell more than {} changes behind and was dropped; watch again "
                                          "and read current tiers with GetTier",
                                          cfg_.watch_queue_size));
        done = true;
        break;
      case Watcher::Next::closed:
        status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the classification service is shutting down");
        done = true;
        break;
    }
  }
  keeper_.unwatch(watcher);
  return status;
}

grpc::Status TierService::SetOverride(grpc::ServerContext*, const v1::SetOverrideRequest* req, v1::TierOverride* out) {
  if (!req->has_override()) return invalid("override is required");
  return grpcx::guarded([&] {
    *out = keeper_.set_override(req->override());
    return grpc::Status::OK;
  });
}

grpc::Status TierService::ClearOverride(grpc::ServerContext*, const v1::ClearOverrideRequest* req,
                                        v1::ClearOverrideResponse* out) {
  return grpcx::guarded([&] {
    out->set_cleared(keeper_.clear_override(req->customer_id(), req->actor(), req->reason_code()));
    return grpc::Status::OK;
  });
}

grpc::Status TierService::GetDistribution(grpc::ServerContext*, const v1::GetDistributionRequest* req,
                                          v1::Distribution* out) {
  return grpcx::guarded([&] {
    for (double s : req->value_shares()) {
      if (!(s > 0 && s <= 1)) throw errors::InvalidArgument("value_shares: each share must be in (0, 1]");
    }
    for (int64_t n : req->top_n()) {
      if (n < 1) throw errors::InvalidArgument("top_n: each N must be at least 1");
    }
    if (req->value_shares_size() > 100 || req->top_n_size() > 100) {
      throw errors::InvalidArgument("value_shares, top_n: at most 100 each");
    }
    *out = keeper_.distribution(*req);
    return grpc::Status::OK;
  });
}

grpc::Status TierService::ReloadStandard(grpc::ServerContext*, const v1::ReloadStandardRequest*,
                                         v1::ReloadStandardResponse* out) {
  return grpcx::guarded([&] {
    try {
      *out = keeper_.reload();
      return grpc::Status::OK;
    } catch (const StandardError& e) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string("standard not reloaded: ") + e.what());
    }
  });
}

grpc::Status TierService::WhatIf(grpc::ServerContext*, const v1::WhatIfRequest* req, v1::WhatIfResponse* out) {
  if (req->standard_yaml().empty()) return invalid("standard_yaml is required");
  return grpcx::guarded([&] {
    try {
      auto candidate = Standard::parse(req->standard_yaml(), "candidate standard");
      *out = keeper_.what_if(*candidate);
      return grpc::Status::OK;
    } catch (const StandardError& e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
  });
}

}  // namespace tierflow::classification
