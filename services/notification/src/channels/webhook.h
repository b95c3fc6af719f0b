// Webhooks (libcurl): one JSON POST per message to a configured URL,
//   {"idempotency_key":"...","customer_id":"...","to":"...","subject":"...","body":"...","language":"..."}
// with `Idempotency-Key: <dedupe key>` and `X-Tierflow-Signature: sha256=<hex>`, the
// HMAC-SHA256 of the exact body bytes under the configured secret. The body is a pure
// function of the message, so a resend carries the same key and the same signature.
// Receivers verify by recomputing the HMAC over the raw body (constant-time compare).
//
// Results: as the SMS gateway's (http_sms.h). Threading, ownership: see channel.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "services/notification/src/channels/channel.h"

namespace tierflow::notification::channels {

namespace detail {
class CurlPool;
}

struct WebhookConfig {
  std::string url;     // http:// or https://
  std::string secret;  // HMAC key, at least 16 bytes; from the environment or a secrets file
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds timeout{5000};
  std::size_t connections = 4;

  // Throws std::invalid_argument naming the field ("webhook.secret: ...").
  void validate() const;
};

class WebhookChannel final : public Channel {
 public:
  explicit WebhookChannel(WebhookConfig config);
  ~WebhookChannel() override;

  std::string_view name() const override { return "webhook"; }
  SendResult send(const Message& message) override;

  static std::string body(const Message& message);
  // "sha256=<hex HMAC-SHA256 of body>"
  std::string signature(const std::string& body) const;

 private:
  WebhookConfig config_;
  std::unique_ptr<detail::CurlPool> pool_;
};

}  // namespace tierflow::notification::channels
