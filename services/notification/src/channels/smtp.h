// E-mail over SMTP (libcurl). Each message is one SMTP transaction to one recipient with a
// Message-ID derived from its dedupe key (digest.h: "<sha256(key)@domain>"), so the
// resend of a delivery is recognisably the same message.
//
// Results: the server's 250 after DATA is "sent"; a 4xx reply (greylisting, mailbox busy)
// and transport errors are retryable; a 5xx reply (no such user, rejected) is permanent;
// an invalid recipient address or a header value with a line break is permanent before
// anything is sent.
//
// Threading, ownership: see channel.h; the channel owns `connections` curl handles.
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

struct SmtpConfig {
  std::string url;        // smtp://host:port (or smtps://host:port for implicit TLS)
  std::string from;       // envelope and From: address
  std::string from_name;  // display name, UTF-8, optional
  // Credentials come from the environment or a secrets file, never from the repo's YAML.
  std::string username;
  std::string password;
  bool require_tls = false;  // STARTTLS required on smtp://
  std::string message_id_domain = "tierflow";
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds timeout{10000};  // a whole transaction
  std::size_t connections = 4;

  // Throws std::invalid_argument naming the field ("smtp.url: ...").
  void validate() const;
};

class SmtpChannel final : public Channel {
 public:
  // Validates the config (std::invalid_argument).
  explicit SmtpChannel(SmtpConfig config);
  ~SmtpChannel() override;

  std::string_view name() const override { return "smtp"; }
  SendResult send(const Message& message) override;

  // The whole message as sent after DATA (headers, blank line, body), with `date` as its
  // Date header; exposed for tests and previews. Throws std::invalid_argument for a header
  // value with a line break.
  std::string render(const Message& message, const std::string& date) const;

 private:
  SmtpConfig config_;
  std::unique_ptr<detail::CurlPool> pool_;
};

}  // namespace tierflow::notification::channels
