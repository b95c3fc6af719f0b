// libcurl plumbing shared by the channels (internal: public channel headers do not include
// curl). A CurlPool holds a fixed number of easy handles; each keeps its connections open
// between sends (curl_easy_reset keeps the connection cache), so consecutive sends to the
// same server reuse a connection.
//
// Threading: CurlPool::acquire() is thread-safe and blocks while every handle is leased;
// a Lease is used by one thread. The free functions are pure.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "services/notification/src/channels/channel.h"

namespace tierflow::notification::channels::detail {

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Appends to a curl string list; throws std::bad_alloc if curl cannot.
void append(Slist& list, const std::string& item);

class CurlPool {
 public:
  explicit CurlPool(std::size_t size);
  CurlPool(const CurlPool&) = delete;
  CurlPool& operator=(const CurlPool&) = delete;

  class Lease {
   public:
    Lease(CurlPool* pool, std::unique_ptr<CURL, CurlDeleter> h) : pool_(pool), h_(std::move(h)) {}
    Lease(Lease&&) = default;
    ~Lease();
    CURL* get() const { return h_.get(); }

   private:
    CurlPool* pool_;
    std::unique_ptr<CURL, CurlDeleter> h_;
  };
  // A handle, reset to defaults (its connections kept).
  Lease acquire();

 private:
  std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<CURL, CurlDeleter>> free_;
};

struct Timeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds total{10000};
};

// Sets what every transfer needs: timeouts, no signals, no redirects, TCP keep-alive.
void set_common(CURL* h, const Timeouts& timeouts);

// POSTs a JSON body with extra headers ("Name: value") and maps the outcome:
// 2xx sent; 408, 425, 429 and 5xx retryable; other statuses permanent; transport errors
// by classify(CURLcode). The reason names the status or the curl error, never the body.
SendResult post_json(CurlPool& pool, const std::string& url, const std::vector<std::string>& headers,
                     const std::string& body, const Timeouts& timeouts);

SendStatus classify(CURLcode code);
SendStatus classify_http_status(long status);

bool has_line_break(std::string_view s);

// Throws std::invalid_argument "<section>.url: ..." unless an http(s):// URL without spaces.
void validate_http_url(std::string_view section, const std::string& url);

}  // namespace tierflow::notification::channels::detail
