#include "src/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <map>
#include <tuple>

#include "common/errors/errors.h"
#include "common/grpc/status.h"
#include "common/time/time.h"

namespace tierflow::notification {
namespace {

// The campaign a Get/Cancel names: INVALID_ARGUMENT without an id, NOT_FOUND for an unknown one.
CampaignRow find_campaign(Store& store, const std::string& campaign_id) {
  if (campaign_id.empty()) throw errors::InvalidArgument("campaign_id: required");
  auto row = store.campaign(campaign_id);
  if (!row) throw errors::NotFound("campaign_id: no campaign '" + campaign_id + "'");
  return std::move(*row);
}

}  // namespace

CampaignService::CampaignService(const Config& cfg, const Clock& clock, const Planner& planner)
    : cfg_(cfg), clock_(clock), planner_(planner) {}
CampaignService::~CampaignService() = default;

v1::CampaignProgress CampaignService::progress(Store& store, const CampaignRow& row) const {
  const auto p = store.progress(row.campaign_id, absl::ToUnixSeconds(clock_.now()));
  v1::CampaignProgress out;
  out.set_campaign_id(row.campaign_id);
  out.set_kind(row.request.kind());
  out.set_audience(row.audience);
  out.set_sent(p.sent);
  out.set_skipped(p.skipped + store.standing_missed(row.campaign_id));
  out.set_failed(p.failed);
  out.set_pending(p.pending);
  out.set_deferred(p.deferred);
  out.set_state(row.state == "cancelled"  ? "cancelled"
                : row.state == "standing" ? "standing"
                : p.pending > 0           ? "running"
                                          : "done");
  out.mutable_started_time()->set_seconds(row.started_unix_s);
  if (p.deferred > 0 || p.skipped > 0) {
    // Grouped by reason, zone and local due time: why nothing (or less) was sent yet.
    const absl::Time now = clock_.now();
    std::map<std::tuple<bool, std::string, std::string, std::string>, int64_t> groups;
    for (const auto& u : store.unsent(row.campaign_id, absl::ToUnixSeconds(now), 100000)) {
      const std::string zone_name = u.zone.empty() ? cfg_.default_time_zone : u.zone;
      absl::TimeZone tz;
      if (!absl::LoadTimeZone(zone_name, &tz)) tz = absl::UTCTimeZone();
      std::string when;
      if (u.deferred) {
        when = absl::FormatTime("%H:%M", timeutil::from_proto(u.record.due_time()), tz);
        const auto due_day = absl::ToCivilDay(timeutil::from_proto(u.record.due_time()), tz);
        if (due_day != absl::ToCivilDay(now, tz)) when += absl::FormatTime(" on %Y-%m-%d", timeutil::from_proto(u.record.due_time()), tz);
      }
      ++groups[{u.deferred, u.record.error().empty() ? (u.deferred ? "its send time" : "no reason recorded") : u.record.error(),
                zone_name, when}];
    }
    for (const auto& [g, n] : groups) {
      const auto& [deferred, reason, zone_name, when] = g;
      absl::TimeZone tz;
      if (!absl::LoadTimeZone(zone_name, &tz)) tz = absl::UTCTimeZone();
      if (deferred) {
        out.add_notes(fmt::format("{} deferred to {} local by {} ({} now {})", n, when, reason, zone_name,
                                  absl::FormatTime("%H:%M", now, tz)));
      } else {
        out.add_notes(fmt::format("{} skipped: {} ({})", n, reason, zone_name));
      }
    }
  }
  return out;
}

grpc::Status CampaignService::StartCampaign(grpc::ServerContext*, const v1::CampaignRequest* req,
                                            v1::CampaignProgress* resp) {
  return grpcx::guarded([&] {
    const absl::Time now = clock_.now();
    Store store(cfg_.store_path);
    if (!req->campaign_id().empty()) {
      if (auto existing = store.campaign(req->campaign_id())) {
        // The same id again is the same campaign (a client's retry), whatever it says now.
        *resp = progress(store, *existing);
        return grpc::Status::OK;
      }
    }
    planner_.validate(*req, now);
    auto deliveries = planner_.plan(store, *req, now);
    if (deliveries.empty()) {
      throw errors::FailedPrecondition("audience: matches no customer" +
                                       std::string(req->kind() == v1::CAMPAIGN_KIND_BIRTHDAY
                                                       ? " with a birthday today in their own time zone"
                                                       : ""));
    }
    CampaignRow row;
    row.campaign_id = req->campaign_id();
    row.request = *req;
    row.state = "running";
    row.audience = static_cast<int64_t>(deliveries.size());
    row.started_unix_s = absl::ToUnixSeconds(now);
    if (req->dry_run()) {
      resp->set_campaign_id(row.campaign_id);
      resp->set_kind(req->kind());
      resp->set_state("dry_run");
      resp->set_audience(row.audience);
      for (const auto& d : deliveries) {
        if (d.record.status() == v1::DELIVERY_STATUS_SKIPPED) {
          resp->set_skipped(resp->skipped() + 1);
        } else {
          resp->set_pending(resp->pending() + 1);
        }
      }
      return grpc::Status::OK;
    }
    if (!store.start_campaign(row, deliveries)) {
      // Started concurrently under the same id: that one is the campaign.
      *resp = progress(store, *store.campaign(row.campaign_id));
      return grpc::Status::OK;
    }
    spdlog::info("campaign {} started: {} deliveries claimed", row.campaign_id, row.audience);
    *resp = progress(store, row);
    return grpc::Status::OK;
  });
}

grpc::Status CampaignService::GetCampaign(grpc::ServerContext*, const v1::GetCampaignRequest* req,
                                          v1::CampaignProgress* resp) {
  return grpcx::guarded([&] {
    Store store(cfg_.store_path);
    auto row = find_campaign(store, req->campaign_id());
    *resp = progress(store, row);
    return grpc::Status::OK;
  });
}

grpc::Status CampaignService::CancelCampaign(grpc::ServerContext*, const v1::CancelCampaignRequest* req,
                                             v1::CampaignProgress* resp) {
  return grpcx::guarded([&] {
    Store store(cfg_.store_path);
    auto row = find_campaign(store, req->campaign_id());
    if (row.state == "standing") {
      throw errors::FailedPrecondition("campaign_id: '" + req->campaign_id() +
                                       "' is a standing campaign (switch it off in config)");
    }
    store.cancel_campaign(req->campaign_id());
    spdlog::info("campaign {} cancelled", req->campaign_id());
    *resp = progress(store, *store.campaign(req->campaign_id()));
    return grpc::Status::OK;
  });
}

grpc::Status CampaignService::PreviewCampaign(grpc::ServerContext*, const v1::CampaignRequest* req,
                                              v1::PreviewCampaignResponse* resp) {
  return grpcx::guarded([&] {
    const absl::Time now = clock_.now();
    v1::CampaignRequest r = *req;
    if (r.campaign_id().empty()) r.set_campaign_id("preview");
    planner_.validate(r, now);
    Store store(cfg_.store_path);
    auto deliveries = planner_.plan(store, r, now);
    resp->set_audience(static_cast<int64_t>(deliveries.size()));
    // Samples: one per language and tier, at most 10.
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& d : deliveries) {
      if (resp->samples_size() >= 10) break;
      if (!seen.insert({d.record.language(), d.record.subject()}).second) continue;
      *resp->add_samples() = d.record;
    }
    return grpc::Status::OK;
  });
}

grpc::Status CampaignService::ListDeliveries(grpc::ServerContext*, const v1::ListDeliveriesRequest* req,
                                             v1::ListDeliveriesResponse* resp) {
  return grpcx::guarded([&] {
    int64_t before = INT64_MAX;
    if (!req->page().page_token().empty()) {
      const std::string& token = req->page().page_token();
      auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), before);
      if (ec != std::errc() || end != token.data() + token.size() || before <= 0) {
        throw errors::InvalidArgument("page.page_token '" + token + "' is not a token this service returned");
      }
    }
    Store store(cfg_.store_path);  // a connection of this call's own; WAL lets it read beside the writer
    const int limit = req->page().page_size() > 0 ? std::min(req->page().page_size(), 1000) : 100;
    int64_t last = 0;
    auto page = store.deliveries(req->customer_id(), limit, before, &last, req->campaign_id());
    for (auto& d : page) *resp->add_deliveries() = std::move(d);
    if (last > 1 && static_cast<int>(page.size()) == limit) resp->set_next_page_token(std::to_string(last));
    return grpc::Status::OK;
  });
}

}  // namespace tierflow::notification
