#include "services/notification/src/channels/webhook.h"

#include <stdexcept>

#include "common/json/json.h"
#include "fmt/format.h"
#include "services/notification/src/channels/curl.h"
#include "services/notification/src/channels/digest.h"
#include "spdlog/spdlog.h"

namespace tierflow::notification::channels {

void WebhookConfig::validate() const {
  detail::validate_http_url("webhook", url);
  if (secret.size() < 16) throw std::invalid_argument("webhook.secret: must be at least 16 bytes");
  if (connect_timeout.count() <= 0) throw std::invalid_argument("webhook.connect_timeout: must be positive");
  if (timeout.count() <= 0) throw std::invalid_argument("webhook.timeout: must be positive");
  if (connections == 0 || connections > 256) throw std::invalid_argument("webhook.connections: must be in 1..256");
}

WebhookChannel::WebhookChannel(WebhookConfig config) : config_(std::move(config)) {
  config_.validate();
  pool_ = std::make_unique<detail::CurlPool>(config_.connections);
}

WebhookChannel::~WebhookChannel() = default;

std::string WebhookChannel::body(const Message& m) {
  return fmt::format(R"({{"idempotency_key":{},"customer_id":{},"to":{},"subject":{},"body":{},"language":{}}})",
                     json_quote(m.dedupe_key), json_quote(m.customer_id), json_quote(m.to), json_quote(m.subject),
                     json_quote(m.body), json_quote(m.language));
}

std::string WebhookChannel::signature(const std::string& body) const {
  return "sha256=" + hmac_sha256_hex(config_.secret, body);
}

SendResult WebhookChannel::send(const Message& m) {
  if (m.dedupe_key.empty()) throw std::invalid_argument("webhook: message without a dedupe key");
  if (detail::has_line_break(m.dedupe_key)) return {SendStatus::kPermanent, 0, "invalid dedupe key", m.dedupe_key};
  const std::string payload = body(m);
  const std::vector<std::string> headers{"Idempotency-Key: " + m.dedupe_key,
                                         "X-Tierflow-Signature: " + signature(payload)};
  SendResult result =
      detail::post_json(*pool_, config_.url, headers, payload, {config_.connect_timeout, config_.timeout});
  result.provider_id = m.dedupe_key;
  if (result.sent()) {
    spdlog::debug("webhook: customer {} key {}: sent", m.customer_id, m.dedupe_key);
  } else {
    spdlog::warn("webhook: customer {} key {}: {} failure: {}", m.customer_id, m.dedupe_key, to_string(result.status),
                 result.reason);
  }
  return result;
}

}  // namespace tierflow::notification::channels
