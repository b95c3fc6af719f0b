#include "src/app.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <thread>

#include "src/sender.h"
#include "src/standing.h"

namespace tierflow::notification {

App::App(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry)
    : cfg_(cfg), producer_(producer), registry_(registry) {
  if (cfg.clock_start) {
    clock_ = std::make_unique<OffsetClock>(*cfg.clock_start);
  } else {
    clock_ = std::make_unique<SystemClock>();
  }
  if (!cfg.holidays_path.empty()) holidays_ = calendar::HolidayCalendar::load(cfg.holidays_path);
  planner_ = std::make_unique<Planner>(cfg_, holidays_);
  outbox_ = std::make_shared<OutboxPublisher>(cfg_.store_path, producer_);
  sender_ = std::make_shared<Sender>(cfg_, *clock_, producer_, make_channels(cfg_), &registry_, outbox_);
  worker_ = std::make_unique<Worker>(cfg_, producer_, registry_, outbox_, sender_.get());
  grpc_ = std::make_unique<CampaignService>(cfg_, *clock_, *planner_);
}

App::~App() = default;

void App::run(std::stop_token stop) {
  std::stop_source all;
  std::stop_callback forward(stop, [&] { all.request_stop(); });
  std::mutex mu;
  std::exception_ptr failure;
  auto guard = [&](const char* what, auto&& fn) {
    return [&, what, fn] {
      try {
        fn();
      } catch (...) {
        spdlog::error("notification: the {} failed", what);
        std::lock_guard lock(mu);
        if (!failure) failure = std::current_exception();
        all.request_stop();
      }
    };
  };
  std::vector<std::jthread> threads;
  threads.emplace_back(guard("sender", [this, token = all.get_token()] { sender_->run(token); }));
  if (cfg_.campaigns_enabled) {
    if (!cfg_.standing.empty()) {
      auto scheduler = std::make_shared<Scheduler>(cfg_, *clock_, *planner_);
      threads.emplace_back(
          guard("standing campaigns", [scheduler, token = all.get_token()] { scheduler->run(token); }));
    }
  }
  guard("consumer", [this, token = all.get_token()] { worker_->run(token); })();
  all.request_stop();
  threads.clear();  // joins
  outbox_->drain(std::chrono::seconds(5));
  if (failure) std::rethrow_exception(failure);
}

}  // namespace tierflow::notification
