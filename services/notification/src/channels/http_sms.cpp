#include "services/notification/src/channels/http_sms.h"

#include <stdexcept>

#include "common/json/json.h"
#include "fmt/format.h"
#include "services/notification/src/channels/curl.h"
#include "spdlog/spdlog.h"

namespace tierflow::notification::channels {

void HttpSmsConfig::validate() const {
  detail::validate_http_url("sms", url);
  if (detail::has_line_break(api_key)) throw std::invalid_argument("sms.api_key: must not contain line breaks");
  if (connect_timeout.count() <= 0) throw std::invalid_argument("sms.connect_timeout: must be positive");
  if (timeout.count() <= 0) throw std::invalid_argument("sms.timeout: must be positive");
  if (connections == 0 || connections > 256) throw std::invalid_argument("sms.connections: must be in 1..256");
}

std::string normalize_phone(std::string_view phone) {
  std::string out;
  for (std::size_t i = 0; i < phone.size(); ++i) {
    const char c = phone[i];
    if (c == ' ' || c == '-') continue;
    if (c == '+' && out.empty()) {
      out.push_back(c);
    } else if (c >= '0' && c <= '9') {
      out.push_back(c);
    } else {
      return "";
    }
  }
  const std::size_t digits = out.size() - (out.starts_with('+') ? 1 : 0);
  if (digits < 6 || digits > 15) return "";
  return out;
}

HttpSmsChannel::HttpSmsChannel(HttpSmsConfig config) : config_(std::move(config)) {
  config_.validate();
  pool_ = std::make_unique<detail::CurlPool>(config_.connections);
}

HttpSmsChannel::~HttpSmsChannel() = default;

std::string HttpSmsChannel::body(const Message& m, const std::string& phone) const {
  return fmt::format(R"({{"to":{},"text":{},"sender":{},"reference":{},"language":{}}})", json_quote(phone),
                     json_quote(m.body), json_quote(config_.sender_id), json_quote(m.dedupe_key),
                     json_quote(m.language));
}

SendResult HttpSmsChannel::send(const Message& m) {
  if (m.dedupe_key.empty()) throw std::invalid_argument("sms: message without a dedupe key");
  const std::string phone = normalize_phone(m.to);
  if (phone.empty() || detail::has_line_break(m.dedupe_key)) {
    SendResult result{SendStatus::kPermanent, 0, phone.empty() ? "invalid phone number" : "invalid dedupe key",
                      m.dedupe_key};
    spdlog::warn("sms: customer {} key {}: {}, not sent", m.customer_id, m.dedupe_key, result.reason);
    return result;
  }
  std::vector<std::string> headers{"Idempotency-Key: " + m.dedupe_key};
  if (!config_.api_key.empty()) headers.push_back("Authorization: Bearer " + config_.api_key);
  SendResult result =
      detail::post_json(*pool_, config_.url, headers, body(m, phone), {config_.connect_timeout, config_.timeout});
  result.provider_id = m.dedupe_key;
  if (result.sent()) {
    spdlog::debug("sms: customer {} key {}: sent", m.customer_id, m.dedupe_key);
  } else {
    spdlog::warn("sms: customer {} key {}: {} failure: {}", m.customer_id, m.dedupe_key, to_string(result.status),
                 result.reason);
  }
  return result;
}

}  // namespace tierflow::notification::channels
