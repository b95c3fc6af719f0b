// The notification service wired: its clock, holiday calendar, planner, the consumer
// (Worker), the campaign sender and the standing-campaign scheduler, and the gRPC
// CampaignService. main() parses config and hands this to runtime::run_service.
//
// Threads: run() consumes on the calling thread and runs the sender and the scheduler on
// threads of their own; the first failure of any of them stops all three and is rethrown.
#pragma once

#include <memory>
#include <stop_token>

#include "services/notification/src/calendar/holidays.h"
#include "src/campaigns.h"
#include "src/clock.h"
#include "src/config.h"
#include "src/grpc_service.h"
#include "src/outbox.h"
#include "src/sender.h"
#include "src/service.h"

namespace tierflow::notification {

class App {
 public:
  App(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry);
  ~App();
  CampaignService& grpc_service() { return *grpc_; }
  void run(std::stop_token stop);

 private:
  const Config& cfg_;
  kafka::Producer& producer_;
  prometheus::Registry& registry_;
  std::unique_ptr<Clock> clock_;
  calendar::HolidayCalendar holidays_;
  std::unique_ptr<Planner> planner_;
  std::shared_ptr<OutboxPublisher> outbox_;  // the consumer's and the sender's
  std::shared_ptr<Sender> sender_;  // campaigns and tier-change messages
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<CampaignService> grpc_;
};

}  // namespace tierflow::notification
