#include "services/notification/src/channels/smtp.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "services/notification/src/channels/curl.h"
#include "services/notification/src/channels/digest.h"
#include "spdlog/spdlog.h"

namespace tierflow::notification::channels {
namespace {

bool is_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string base64(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// RFC 2047 encoded words for non-ASCII header text, each under 76 characters, split on
// UTF-8 character boundaries and folded onto continuation lines.
std::string encode_header_text(std::string_view text) {
  if (is_ascii(text)) return std::string(text);
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = std::min(pos + 45, text.size());
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(pos, end - pos)) + "?=";
    pos = end;
  }
  return out;
}

// Bare LF or CR become CRLF, as SMTP requires; curl dot-stuffs the lines itself.
std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

bool valid_address(std::string_view a) {
  const auto at = a.find('@');
  return !a.empty() && at != std::string_view::npos && at > 0 && at + 1 < a.size() &&
         a.find_first_of("<>()\r\n ,;\"\\") == std::string_view::npos;
}

struct Upload {
  const std::string* data;
  std::size_t pos = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t n, void* user) {
  auto* up = static_cast<Upload*>(user);
  const std::size_t len = std::min(size * n, up->data->size() - up->pos);
  std::memcpy(buffer, up->data->data() + up->pos, len);
  up->pos += len;
  return len;
}

}  // namespace

void SmtpConfig::validate() const {
  auto fail = [](std::string_view field, std::string_view why) {
    throw std::invalid_argument(fmt::format("smtp.{}: {}", field, why));
  };
  if (url.rfind("smtp://", 0) != 0 && url.rfind("smtps://", 0) != 0) fail("url", "must start with smtp:// or smtps://");
  if (url.size() <= 8) fail("url", "has no host");
  if (!valid_address(from)) fail("from", "not an e-mail address");
  if (detail::has_line_break(from_name) || from_name.find_first_of("<>\"") != std::string::npos) {
    fail("from_name", "must not contain line breaks, <, > or quotes");
  }
  if (username.empty() != password.empty()) fail("username", "username and password go together");
  if (message_id_domain.empty() || message_id_domain.find_first_of("<>@ \r\n") != std::string::npos) {
    fail("message_id_domain", "must be a non-empty domain");
  }
  if (connect_timeout.count() <= 0) fail("connect_timeout", "must be positive");
  if (timeout.count() <= 0) fail("timeout", "must be positive");
  if (connections == 0 || connections > 256) fail("connections", "must be in 1..256");
}

SmtpChannel::SmtpChannel(SmtpConfig config) : config_(std::move(config)) {
  config_.validate();
  pool_ = std::make_unique<detail::CurlPool>(config_.connections);
}

SmtpChannel::~SmtpChannel() = default;

std::string SmtpChannel::render(const Message& m, const std::string& date) const {
  if (detail::has_line_break(m.to) || detail::has_line_break(m.subject) || detail::has_line_break(m.language)) {
    throw std::invalid_argument("a header value contains a line break");
  }
  std::string out;
  out.reserve(m.body.size() + 512);
  out += "Date: " + date + "\r\n";
  out += config_.from_name.empty()
             ? fmt::format("From: <{}>\r\n", config_.from)
             : fmt::format("From: {} <{}>\r\n", encode_header_text(config_.from_name), config_.from);
  out += fmt::format("To: <{}>\r\n", m.to);
  out += "Subject: " + encode_header_text(m.subject) + "\r\n";
  out += "Message-ID: " + message_id_for(m.dedupe_key, config_.message_id_domain) + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n";
  if (!m.language.empty()) out += "Content-Language: " + m.language + "\r\n";
  out += "\r\n";
  out += crlf_lines(m.body);
  return out;
}

SendResult SmtpChannel::send(const Message& m) {
  if (m.dedupe_key.empty()) throw std::invalid_argument("smtp: message without a dedupe key");
  SendResult result;
  result.provider_id = message_id_for(m.dedupe_key, config_.message_id_domain);
  if (!valid_address(m.to)) {
    result.status = SendStatus::kPermanent;
    result.reason = "invalid recipient address";
    spdlog::warn("smtp: customer {} key {}: invalid recipient address, not sent", m.customer_id, m.dedupe_key);
    return result;
  }
  std::string payload;
  try {
    payload = render(m, absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::Now(), absl::UTCTimeZone()));
  } catch (const std::invalid_argument& e) {
    result.status = SendStatus::kPermanent;
    result.reason = e.what();
    spdlog::warn("smtp: customer {} key {}: {}, not sent", m.customer_id, m.dedupe_key, result.reason);
    return result;
  }

  detail::Slist rcpt;
  detail::append(rcpt, "<" + m.to + ">");
  const std::string from = "<" + config_.from + ">";
  Upload upload{&payload};

  detail::CurlPool::Lease lease = pool_->acquire();
  CURL* h = lease.get();
  detail::set_common(h, {config_.connect_timeout, config_.timeout});
  curl_easy_setopt(h, CURLOPT_URL, config_.url.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(h, CURLOPT_READFUNCTION, &read_upload);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  if (config_.require_tls) curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!config_.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, config_.password.c_str());
  }

  const CURLcode rc = curl_easy_perform(h);
  long reply = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
  result.code = static_cast<int>(reply);
  if (rc == CURLE_OK) {
    spdlog::debug("smtp: customer {} key {}: sent", m.customer_id, m.dedupe_key);
    return result;
  }
  // The server's reply decides when there is one: 4xx transient, 5xx permanent.
  if (reply >= 500 && reply < 600) {
    result.status = SendStatus::kPermanent;
  } else if (reply >= 400 && reply < 500) {
    result.status = SendStatus::kRetryable;
  } else {
    result.status = detail::classify(rc);
  }
  result.reason = reply >= 400 ? fmt::format("SMTP {} ({})", reply, curl_easy_strerror(rc))
                               : fmt::format("curl: {}", curl_easy_strerror(rc));
  spdlog::warn("smtp: customer {} key {}: {} failure: {}", m.customer_id, m.dedupe_key, to_string(result.status),
               result.reason);
  return result;
}

}  // namespace tierflow::notification::channels
