#include "service/relay.h"

#include <absl/base/thread_annotations.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/kafka/topics.h"

namespace tierflow::ledger {
namespace {

constexpr std::string_view kSnapshotType = "tierflow.v1.AccountSnapshot";
constexpr std::string_view kEventType = "tierflow.v1.PosEvent";

// What one round's delivery callbacks report; shared with them, so a report that comes
// after relay() stopped waiting lands here rather than in a dead stack frame.
struct Reports {
  explicit Reports(size_t rows) : confirmed(rows, false) {}
  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding ABSL_GUARDED_BY(mu) = 0;  // queued, not yet reported
  std::vector<bool> confirmed ABSL_GUARDED_BY(mu);
  std::string first_error ABSL_GUARDED_BY(mu);
};

// A watermark row's partition, from its key "~watermark/<p>"; nullopt for other rows.
std::optional<int32_t> watermark_partition(const OutboxMessage& m) {
  if (m.topic != topics::kAccounts || !m.customer_id.starts_with(kWatermarkKeyPrefix)) return std::nullopt;
  int32_t p = -1;
  const std::string_view digits = std::string_view(m.customer_id).substr(kWatermarkKeyPrefix.size());
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
  if (ec != std::errc() || end != digits.data() + digits.size() || p < 0) return std::nullopt;
  return p;
}

std::vector<kafka::Header> headers_of(const OutboxMessage& m, bool watermark) {
  if (watermark) return {{std::string(kafka::kTypeHeader), std::string(kWatermarkType)}};
  if (m.topic == topics::kAccounts) return {{std::string(kafka::kTypeHeader), std::string(kSnapshotType)}};
  std::vector<kafka::Header> h{{std::string(kafka::kTypeHeader), std::string(kEventType)},
                               {std::string(kafka::kErrorHeader), m.error}};
  if (!m.origin.empty()) h.push_back({std::string(kafka::kOriginHeader), m.origin});
  return h;
}

}  // namespace

// One round: the rows read from the outbox, what was queued of them, and the reports
// its callbacks share.
struct OutboxRelay::Round {
  std::vector<OutboxMessage> pending;
  std::shared_ptr<Reports> reports;
  size_t queued = 0;  // rows [0, queued) were produced or are remembered as confirmed
  std::string produce_error;
  std::vector<size_t> skipped;  // superseded rows: acknowledged, never produced
  std::chrono::steady_clock::time_point deadline;
};

OutboxRelay::OutboxRelay(SharedLedger& ledger, kafka::Producer& producer, LedgerMetrics& metrics)
    : OutboxRelay(ledger, producer, metrics, Options{}) {}

OutboxRelay::OutboxRelay(SharedLedger& ledger, kafka::Producer& producer, LedgerMetrics& metrics, Options options)
    : ledger_(ledger), producer_(producer), metrics_(metrics), options_(options) {}

OutboxRelay::~OutboxRelay() = default;

bool OutboxRelay::superseded(const OutboxMessage& m) const {
  if (m.topic != topics::kAccounts) return false;
  for (auto it = confirmed_.upper_bound(m.id); it != confirmed_.end(); ++it) {
    if (it->second == m.customer_id) return true;
  }
  return false;
}

size_t OutboxRelay::relay() {
  size_t acknowledged = 0;
  if (round_ && finish_round(true, acknowledged) != Outcome::complete) return acknowledged;
  while (start_round() && finish_round(true, acknowledged) == Outcome::complete) {
  }
  return acknowledged;
}

size_t OutboxRelay::pump() {
  size_t acknowledged = 0;
  while (true) {
    if (round_) {
      const Outcome outcome = finish_round(false, acknowledged);
      // A stopped round is retried by the next call, as relay() does, so a failing broker
      // is not asked again within the same poll.
      if (outcome != Outcome::complete) return acknowledged;
    }
    if (!start_round()) return acknowledged;
  }
}

bool OutboxRelay::start_round() {
  auto pending = ledger_.with([&](Ledger& l) { return l.pending_outbox(options_.rows_per_round); });
  if (pending.empty()) return false;

  auto r = std::make_unique<Round>();
  r->pending = std::move(pending);
  r->reports = std::make_shared<Reports>(r->pending.size());
  auto& reports = r->reports;
  for (; r->queued < r->pending.size(); ++r->queued) {
    const OutboxMessage& m = r->pending[r->queued];
    if (!confirmed_.empty() && (confirmed_.count(m.id) || superseded(m))) {
      if (!confirmed_.count(m.id)) r->skipped.push_back(r->queued);
      std::lock_guard lock(reports->mu);
      reports->confirmed[r->queued] = true;
      continue;
    }
    {
      std::lock_guard lock(reports->mu);
      ++reports->outstanding;
    }
    try {
      auto on_delivery = [reports, i = r->queued](const kafka::DeliveryReport& report) {
        std::lock_guard lock(reports->mu);
        if (report.ok) {
          reports->confirmed[i] = true;
        } else if (reports->first_error.empty()) {
          reports->first_error = report.error;
        }
        --reports->outstanding;
        reports->cv.notify_all();
      };
      // A watermark goes to the partition it describes (the topics are co-partitioned);
      // everything else to the partition of its key.
      if (const auto partition = watermark_partition(m)) {
        producer_.produce_to(m.topic, *partition, m.customer_id, m.payload, headers_of(m, true),
                             std::move(on_delivery));
      } else {
        producer_.produce(m.topic, m.customer_id, m.payload, headers_of(m, false), std::move(on_delivery));
      }
    } catch (const std::exception& e) {
      // Nothing was queued for this row: stop here, wait for the rest, retry later.
      std::lock_guard lock(reports->mu);
      --reports->outstanding;
      r->produce_error = e.what();
      break;
    }
  }
  r->deadline = std::chrono::steady_clock::now() + options_.delivery_timeout;
  round_ = std::move(r);
  return true;
}

OutboxRelay::Outcome OutboxRelay::finish_round(bool wait, size_t& acknowledged) {
  Round& r = *round_;
  size_t prefix = 0;  // rows confirmed with every row before them
  std::string delivery_error;
  {
    std::unique_lock lock(r.reports->mu);
    const auto all_in = [&] { return r.reports->outstanding == 0; };
    const bool all_reported = wait ? r.reports->cv.wait_until(lock, r.deadline, all_in) : all_in();
    if (!all_reported && std::chrono::steady_clock::now() < r.deadline) return Outcome::pending;
    if (!all_reported) delivery_error = std::to_string(r.reports->outstanding) + " not reported in time";
    if (!r.reports->first_error.empty()) delivery_error = r.reports->first_error;
    while (prefix < r.queued && r.reports->confirmed[prefix]) ++prefix;
    for (size_t i = prefix; i < r.queued; ++i) {
      if (r.reports->confirmed[i]) confirmed_.emplace(r.pending[i].id, r.pending[i].customer_id);
    }
  }
  const auto round = std::move(round_);  // finished, whatever the store does next
  if (prefix > 0) {
    const int64_t up_to = r.pending[prefix - 1].id;
    ledger_.with([&](Ledger& l) {
      l.ack_outbox(up_to);
      return 0;
    });
    confirmed_.erase(confirmed_.begin(), confirmed_.upper_bound(up_to));
    const size_t published = prefix - static_cast<size_t>(std::count_if(r.skipped.begin(), r.skipped.end(),
                                                                        [&](size_t i) { return i < prefix; }));
    metrics_.relayed.Increment(static_cast<double>(published));
    acknowledged += published;
  }
  if (prefix == r.pending.size()) return Outcome::complete;
  metrics_.relay_retries.Increment();
  spdlog::warn("outbox: {} of {} rows not acknowledged (row {} not confirmed: {}); retrying on the next tick",
               r.pending.size() - prefix, r.pending.size(), r.pending[prefix].id,
               !r.produce_error.empty() ? r.produce_error : delivery_error);
  return Outcome::stopped;
}

}  // namespace tierflow::ledger
