#include "services/notification/src/channels/curl.h"

#include <mutex>
#include <new>
#include <stdexcept>

#include "fmt/format.h"

namespace tierflow::notification::channels::detail {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

}  // namespace

void append(Slist& list, const std::string& item) {
  curl_slist* next = curl_slist_append(list.get(), item.c_str());
  if (next == nullptr) throw std::bad_alloc();
  list.release();
  list.reset(next);
}

CurlPool::CurlPool(std::size_t size) {
  global_init();
  for (std::size_t i = 0; i < size; ++i) {
    std::unique_ptr<CURL, CurlDeleter> h(curl_easy_init());
    if (!h) throw std::runtime_error("curl_easy_init failed");
    free_.push_back(std::move(h));
  }
}

CurlPool::Lease CurlPool::acquire() {
  std::unique_lock lock(mu_);
  released_.wait(lock, [&] { return !free_.empty(); });
  std::unique_ptr<CURL, CurlDeleter> h = std::move(free_.back());
  free_.pop_back();
  curl_easy_reset(h.get());
  return Lease(this, std::move(h));
}

CurlPool::Lease::~Lease() {
  if (!h_) return;
  std::lock_guard lock(pool_->mu_);
  pool_->free_.push_back(std::move(h_));
  pool_->released_.notify_one();
}

void set_common(CURL* h, const Timeouts& timeouts) {
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts.connect.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts.total.count()));
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
}

SendStatus classify(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return SendStatus::kSent;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
      return SendStatus::kPermanent;  // configuration: retrying cannot help
    default:
      return SendStatus::kRetryable;  // timeouts, refused or reset connections, TLS hiccups
  }
}

SendStatus classify_http_status(long status) {
  if (status >= 200 && status < 300) return SendStatus::kSent;
  if (status == 408 || status == 425 || status == 429 || status >= 500) return SendStatus::kRetryable;
  return SendStatus::kPermanent;
}

SendResult post_json(CurlPool& pool, const std::string& url, const std::vector<std::string>& headers,
                     const std::string& body, const Timeouts& timeouts) {
  Slist list;
  append(list, "Content-Type: application/json; charset=utf-8");
  append(list, "Expect:");  // no 100-continue round trip
  for (const auto& h : headers) append(list, h);

  CurlPool::Lease lease = pool.acquire();
  CURL* h = lease.get();
  set_common(h, timeouts);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &discard);

  SendResult result;
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    result.status = classify(rc);
    result.reason = fmt::format("curl: {}", curl_easy_strerror(rc));
    return result;
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  result.code = static_cast<int>(status);
  result.status = classify_http_status(status);
  if (!result.sent()) result.reason = fmt::format("HTTP {}", status);
  return result;
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

void validate_http_url(std::string_view section, const std::string& url) {
  const bool http = url.rfind("http://", 0) == 0 && url.size() > 7;
  const bool https = url.rfind("https://", 0) == 0 && url.size() > 8;
  if (!http && !https) throw std::invalid_argument(fmt::format("{}.url: must be an http:// or https:// URL", section));
  if (url.find_first_of(" \r\n") != std::string::npos) {
    throw std::invalid_argument(fmt::format("{}.url: must not contain spaces or line breaks", section));
  }
}

}  // namespace tierflow::notification::channels::detail

namespace tierflow::notification::channels {

std::string_view to_string(SendStatus status) {
  switch (status) {
    case SendStatus::kSent:
      return "sent";
    case SendStatus::kRetryable:
      return "retryable";
    case SendStatus::kPermanent:
      return "permanent";
  }
  return "unknown";
}

}  // namespace tierflow::notification::channels
