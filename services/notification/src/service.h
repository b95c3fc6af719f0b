// The notification service: a consumer of customer profiles and tier assignments that
// sends tier-upgrade messages exactly once, and the CampaignService gRPC front.
//
// Threading: run() drives the consumer on the calling thread until the stop token fires;
// the gRPC service reads its own store connection on gRPC's threads.
#pragma once

#include <memory>
#include <stop_token>
#include <string>

#include "common/config/sections.h"
#include "common/kafka/consumer_loop.h"
#include "src/tier_change.h"
#include "tierflow/v1/campaign.grpc.pb.h"

namespace prometheus {
class Registry;
}
namespace tierflow::notification {

struct Config : config::ServiceConfig {
  std::string store_path = "notification.db";
  std::string file_channel_path = "messages.jsonl";
  std::string group_id = "notification";
  TierChangePolicy policy = default_policy();
};

Config load_config(const std::string& path);

class Store;
class Channel;

// The consumer of crm.customers.v1 and tiers.assignments.v1: keeps the recipient
// directory, claims tier-change messages in the same transaction as the offsets, sends
// them after the commit and confirms them. Unparseable records go to their `.dlq`
// (confirmed before the offsets are stored). Runs on the consumer loop's thread.
class Worker final : public kafka::BatchHandler {
 public:
  Worker(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry);
  ~Worker() override;
  // Sends what a crash left claimed and unconfirmed, then consumes until stop is
  // requested and leaves the group. Throws on a store failure.
  void run(std::stop_token stop);

  // kafka::BatchHandler (the loop's thread).
  std::optional<int64_t> start_offset(std::string_view topic, int32_t partition) override;
  void handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) override;
  // Claims a crash left unconfirmed go out again, under their original keys.
  void resend_unconfirmed();

  struct Metrics;

 private:
  void send(const v1::Delivery& claimed);
  const Config& cfg_;
  kafka::Producer& producer_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Channel> file_channel_;
  std::unique_ptr<Metrics> metrics_;
};

class CampaignService final : public v1::CampaignService::Service {
 public:
  explicit CampaignService(const Config& cfg);
  ~CampaignService() override;
  grpc::Status ListDeliveries(grpc::ServerContext* ctx, const v1::ListDeliveriesRequest* req,
                              v1::ListDeliveriesResponse* resp) override;
  // StartCampaign, GetCampaign, CancelCampaign, PreviewCampaign: UNIMPLEMENTED until the
  // campaigns issue (birthday, holiday, custom) lands.

 private:
  const Config& cfg_;
};

}  // namespace tierflow::notification
