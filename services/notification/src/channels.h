// Delivery channels. Each send() carries the delivery's dedupe key, which the channel
// passes on as the provider's idempotency key (HTTP Idempotency-Key, SMTP Message-ID);
// a channel that cannot pass it on keeps the keys it has sent itself.
#pragma once

#include <mutex>
#include <set>
#include <string>

namespace tierflow::v1 {
class Delivery;
}

namespace tierflow::notification {

class Channel {
 public:
  virtual ~Channel() = default;
  // Empty on success, else the error. Sending a key that was sent before succeeds
  // without sending again.
  virtual std::string send(const v1::Delivery& delivery) = 0;
};

// Appends one JSON object a line to a file (the local stack's outbox, and what the
// end-to-end test reads). Idempotent by key: keys already in the file are not written
// again, also across restarts.
class FileChannel final : public Channel {
 public:
  explicit FileChannel(std::string path);
  std::string send(const v1::Delivery& delivery) override;

 private:
  std::string path_;
  std::mutex mu_;
  std::set<std::string> sent_keys_;
};

}  // namespace tierflow::notification
