// A campaign channel for unit tests: records every message it is handed (thread-safe),
// optionally failing the next n with a given status.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "services/notification/src/channels/channel.h"

namespace tierflow::notification::testing {

class RecordingChannel final : public channels::Channel {
 public:
  std::string_view name() const override { return "recording"; }
  channels::SendResult send(const channels::Message& m) override {
    std::lock_guard lock(mu_);
    channels::SendResult r;
    r.provider_id = m.dedupe_key;
    if (fail_ > 0) {
      --fail_;
      r.status = fail_status_;
      r.reason = "injected";
      return r;
    }
    messages_.push_back(m);
    return r;
  }
  void fail_next(int n, channels::SendStatus status) {
    std::lock_guard lock(mu_);
    fail_ = n;
    fail_status_ = status;
  }
  std::vector<channels::Message> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<channels::Message> messages_;
  int fail_ = 0;
  channels::SendStatus fail_status_ = channels::SendStatus::kRetryable;
};

}  // namespace tierflow::notification::testing
