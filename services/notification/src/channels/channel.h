// The delivery channels of campaigns (e-mail over SMTP, SMS through an HTTP gateway,
// webhooks): one interface, one message, one result. The file channel of local runs is
// services/notification/src/channels.h.
//
// Idempotency: every message carries the delivery's dedupe key, and each channel hands it
// to the far side as the provider's idempotency key (SMTP: a Message-ID derived from it;
// HTTP: the Idempotency-Key header), so a resend after a crash carries the same key and
// the provider can drop the duplicate. Channels do not remember keys themselves: the
// delivery store decides what to (re)send.
//
// Personal data: `to` (an address, a phone number), the subject and the body never reach
// logs or result reasons; channels log the customer id and the dedupe key.
#pragma once

#include <string>
#include <string_view>

namespace tierflow::notification::channels {

struct Message {
  std::string dedupe_key;   // required: (campaign, customer, occasion)
  std::string customer_id;  // for logs
  std::string to;           // e-mail address or phone number (E.164), per channel; webhooks may leave it empty
  std::string subject;      // e-mail subject; ignored by SMS
  std::string body;         // UTF-8 text
  std::string language;     // "zh-CN", "en": Content-Language of e-mails, "language" of JSON bodies
};

enum class SendStatus {
  kSent,       // the provider accepted it
  kRetryable,  // try again later with the same key (timeouts, connection errors, 4xx SMTP, 5xx/429 HTTP)
  kPermanent,  // do not retry (5xx SMTP, other 4xx HTTP, an invalid message or address)
};

struct SendResult {
  SendStatus status = SendStatus::kSent;
  int code = 0;             // the SMTP reply or HTTP status when there was one, else 0
  std::string reason;       // empty when sent; names the failure without personal data
  std::string provider_id;  // SMTP: the Message-ID; HTTP: the Idempotency-Key sent

  bool sent() const { return status == SendStatus::kSent; }
};

std::string_view to_string(SendStatus status);

// Threading: send() is thread-safe; each channel keeps a bounded pool of connections
// (config `connections`) and blocks while all are busy. Every call is bounded by the
// configured timeouts. send() does not throw for send failures (they are results); it
// throws std::invalid_argument only for a message without a dedupe key.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string_view name() const = 0;  // "smtp", "sms", "webhook"
  virtual SendResult send(const Message& message) = 0;
};

}  // namespace tierflow::notification::channels
