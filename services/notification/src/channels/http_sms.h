// SMS through an HTTP gateway (libcurl): one JSON POST per message,
//   {"to":"+8613800138000","text":"...","sender":"<sender_id>","reference":"<dedupe key>","language":"zh-CN"}
// with the header `Idempotency-Key: <dedupe key>` (and `Authorization: Bearer <api_key>`
// when configured), so a resend of the delivery carries the same key.
//
// Results: 2xx sent; 408, 425, 429 and 5xx retryable; other statuses permanent; transport
// errors (timeouts, refused connections) retryable; a phone number that is not E.164-like
// ("+", 6..15 digits; spaces and dashes are dropped) permanent before anything is sent.
//
// Threading, ownership: see channel.h.
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

struct HttpSmsConfig {
  std::string url;        // the gateway's send endpoint, http:// or https://
  std::string api_key;    // optional; from the environment or a secrets file
  std::string sender_id;  // optional sender name or number
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds timeout{5000};
  std::size_t connections = 4;

  // Throws std::invalid_argument naming the field ("sms.url: ...").
  void validate() const;
};

class HttpSmsChannel final : public Channel {
 public:
  explicit HttpSmsChannel(HttpSmsConfig config);
  ~HttpSmsChannel() override;

  std::string_view name() const override { return "sms"; }
  SendResult send(const Message& message) override;

  // The JSON body for a message whose number is already normalized.
  std::string body(const Message& message, const std::string& phone) const;

 private:
  HttpSmsConfig config_;
  std::unique_ptr<detail::CurlPool> pool_;
};

// "+86 138-0013-8000" -> "+8613800138000"; "" when it is not a plausible E.164 number.
std::string normalize_phone(std::string_view phone);

}  // namespace tierflow::notification::channels
