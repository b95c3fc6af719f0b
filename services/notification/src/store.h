// The notification service's own store (SQLite): the recipient directory, the applied
// Kafka offsets, and every delivery under a unique dedupe key.
//
// A delivery is claimed (inserted) in the same transaction that stores the offsets of
// the records that caused it, sent after the commit, and confirmed after the channel
// accepted it. A claim left unconfirmed by a crash is sent again with the same key, which
// the channel uses as its idempotency key: never dropped, never sent twice.
//
// Threading: one Store per thread (it owns one SQLite connection).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tierflow/sql/sqlite.h"
#include "tierflow/v1/campaign.pb.h"
#include "tierflow/v1/customer.pb.h"

namespace tierflow::notification {

class Store {
 public:
  explicit Store(const std::string& path);

  // Everything applied for one consumed batch, in one transaction.
  struct Batch {
    std::vector<v1::CustomerProfile> profiles;
    std::vector<v1::Delivery> claims;  // inserted unless the dedupe key exists
    // Per (customer, campaign): the evaluation time of the newest message claimed, for caps.
    struct Sent {
      std::string customer_id;
      std::string campaign_id;
      int64_t at_unix_s;
    };
    std::vector<Sent> sent;
    struct Offset {
      std::string topic;
      int32_t partition;
      int64_t next;
    };
    std::vector<Offset> offsets;
  };
  // Returns the claims that were new (a known key is not claimed again).
  std::vector<v1::Delivery> apply(const Batch& batch);

  std::optional<int64_t> next_offset(const std::string& topic, int32_t partition);
  std::optional<v1::CustomerProfile> profile(const std::string& customer_id);
  // When the customer was last sent a message of this campaign (unix seconds), if ever.
  std::optional<int64_t> last_sent(const std::string& customer_id, const std::string& campaign_id);
  void confirm(const std::string& dedupe_key, v1::DeliveryStatus status, const std::string& error);
  std::vector<v1::Delivery> unconfirmed();
  // Newest first; customer_id may be empty for all.
  std::vector<v1::Delivery> deliveries(const std::string& customer_id, int limit, int64_t before_id,
                                       int64_t* last_id);

 private:
  sql::sqlite::Db db_;
};

}  // namespace tierflow::notification
