// The notification service's own store (SQLite): the recipient directory, the applied
// Kafka offsets, campaigns, and every delivery under a unique dedupe key.
//
// Tier-change messages: a delivery is claimed (inserted) in the same transaction that
// stores the offsets of the records that caused it, sent after the commit, and confirmed
// after the channel accepted it.
//
// Campaign deliveries (`queued`): claimed when the campaign starts (or a standing
// campaign's day comes), in the transaction that records the campaign; the sender marks
// a batch in flight (attempts + 1) in one transaction BEFORE sending and confirms it
// (SENT, FAILED, or deferred again) in one transaction AFTER. A row left CLAIMED by a
// crash is due again and is resent under its own key, which the channel passes on as the
// provider's idempotency key: never dropped, never sent under a new key. (customer,
// occasion) is unique too: one birthday greeting a year however many campaigns ask.
//
// Threading: one Store per thread (it owns one SQLite connection); WAL lets readers of
// other connections read beside the writer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tierflow/sql/sqlite.h"
#include "tierflow/v1/campaign.pb.h"
#include "tierflow/v1/customer.pb.h"

namespace tierflow::notification {

// One directory entry: the profile (contacts, consents, language, zone) and the tier facts.
struct Recipient {
  v1::CustomerProfile profile;
  std::string tier;
  std::string segment;    // RFM segment from the assignment
  std::string lifecycle;  // the profile's, else derived from the segment
  std::string zone;       // validated IANA zone ("" when the profile's was missing or invalid)
  bool erased = false;
};

// Directory filters; empty lists match everything. Birthday filters (when set) match the
// solar month-day (month * 100 + day) or the lunar one (leap * 10000 + month * 100 + day).
struct AudienceQuery {
  std::vector<std::string> tiers, segments, regions, lifecycle, customer_ids;
  std::optional<std::string> zone;
  std::vector<int> birthdays_mmdd;
  std::vector<int> lunar_birthdays;
};

struct CampaignRow {
  std::string campaign_id;
  v1::CampaignRequest request;
  std::string state;  // "running", "cancelled"
  int64_t audience = 0;
  int64_t started_unix_s = 0;
};

// A queued delivery as the sender sees it.
struct QueuedDelivery {
  int64_t id = 0;
  v1::Delivery record;
  int priority = 0;
  bool marketing = true;
};

// One row change of the sender (before or after a send).
struct DeliveryUpdate {
  int64_t id = 0;
  v1::Delivery record;             // status, attempts, error, due_time as they become
  bool count_against_cap = false;  // record a marketing send at cap_at for the cap
  int64_t cap_at_unix_s = 0;
  bool inflight = false;  // handed to a channel, not yet confirmed
};

// An outcome record waiting in the outbox to be produced (and, if FAILED, its DLQ copy).
struct OutboxRow {
  int64_t seq = 0;
  std::string topic, key, value, error;
};

class Store {
 public:
  explicit Store(const std::string& path);

  // Everything applied for one consumed batch, in one transaction.
  struct Batch {
    std::vector<v1::CustomerProfile> profiles;  // erased() ones (or tombstones) erase
    struct Tier {
      std::string customer_id;
      std::string tier;
      std::string segment;
    };
    std::vector<Tier> tiers;
    std::vector<v1::Delivery> claims;  // inserted unless the dedupe key exists
    // Queued for the sender (tier-change messages): inserted unless the key or the
    // (customer, occasion) exists, in the same transaction as the offsets.
    std::vector<QueuedDelivery> queued;
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
  std::optional<Recipient> recipient(const std::string& customer_id);
  // When the customer was last sent a message of this campaign (unix seconds), if ever.
  std::optional<int64_t> last_sent(const std::string& customer_id, const std::string& campaign_id);
  void confirm(const std::string& dedupe_key, v1::DeliveryStatus status, const std::string& error);
  // Tier-change claims left unconfirmed (campaign deliveries are the sender's).
  std::vector<v1::Delivery> unconfirmed();
  // Newest first; customer_id / campaign_id may be empty for all.
  std::vector<v1::Delivery> deliveries(const std::string& customer_id, int limit, int64_t before_id, int64_t* last_id,
                                       const std::string& campaign_id = "");

  // --- the outbox: every final outcome (SENT, FAILED, SKIPPED) is inserted unpublished in
  // the transaction that records it (confirm, update); OutboxPublisher produces it. ---
  std::vector<OutboxRow> outbox_after(int64_t after_seq, int limit);
  // Published = removed; only a prefix all confirmed by the broker is ever passed here.
  void mark_published(int64_t up_to_seq);
  int64_t unpublished();

  // --- directory ---
  std::vector<Recipient> audience(const AudienceQuery& query);
  std::vector<std::string> zones();  // distinct zones of the directory ("" included; erased customers have "")
  int64_t directory_size();
  // Bulk load for tests and imports: one transaction.
  void put_recipients(const std::vector<Recipient>& recipients);

  // --- campaigns ---
  // Inserts the campaign and its deliveries in one transaction; false (nothing written)
  // when the campaign id exists. `deliveries` are queued; a delivery whose key or
  // (customer, occasion) exists is not inserted.
  bool start_campaign(const CampaignRow& campaign, const std::vector<QueuedDelivery>& deliveries);
  // Adds deliveries to an existing campaign (standing campaigns); returns how many were new.
  int64_t add_deliveries(const std::vector<QueuedDelivery>& deliveries);
  std::optional<CampaignRow> campaign(const std::string& campaign_id);
  void put_campaign(const CampaignRow& campaign);  // upsert (standing campaigns)
  // Marks the campaign cancelled and its not-yet-attempted deliveries SKIPPED ("cancelled").
  void cancel_campaign(const std::string& campaign_id);
  struct Progress {
    int64_t total = 0, sent = 0, skipped = 0, failed = 0, pending = 0, deferred = 0;
  };
  Progress progress(const std::string& campaign_id, int64_t now_unix_s);
  // The deliveries not sent, for explaining progress: the record (its error is the reason)
  // and the customer's zone ("" when none); deferred (pending, due after now) and skipped.
  struct Unsent {
    v1::Delivery record;
    std::string zone;
    bool deferred = false;
  };
  std::vector<Unsent> unsent(const std::string& campaign_id, int64_t now_unix_s, int limit);

  // --- sender ---
  // Due deliveries not in flight, oldest due first (the index's order; the sender orders a batch by priority).
  std::vector<QueuedDelivery> due(int64_t now_unix_s, int limit);
  // Whether the customer has a due marketing delivery of a higher priority waiting.
  bool higher_priority_due(const std::string& customer_id, int priority, int64_t now_unix_s);
  // The earliest due time of a queued delivery not yet due, if any.
  std::optional<int64_t> next_due();
  void update(const std::vector<DeliveryUpdate>& updates);
  // The sweep after a crash: deliveries left in flight become due (same key); returns how many.
  int64_t release_in_flight();
  // Marketing sends to the customer after `since`: how many, and the oldest.
  std::pair<int64_t, int64_t> cap_window(const std::string& customer_id, int64_t since_unix_s);
  // Records a marketing message sent elsewhere (an import of history) against the cap.
  void note_marketing_sends(const std::vector<std::pair<std::string, int64_t>>& customer_at,
                            const std::string& key_prefix);

  // --- standing campaigns: the local days done per zone ---
  std::optional<std::string> last_standing_day(const std::string& campaign_id, const std::string& zone);
  void mark_standing_day(const std::string& campaign_id, const std::string& zone, const std::string& day,
                         int64_t claimed, int64_t missed);
  int64_t standing_missed(const std::string& campaign_id);

 private:
  void erase_customer(const std::string& customer_id);
  void add_outbox(const v1::Delivery& d);  // inside the caller's transaction
  int64_t insert_queued(const std::vector<QueuedDelivery>& deliveries);
  // A statement prepared once per connection (the sender's per-delivery reads).
  sql::sqlite::Statement& cached(sql::sqlite::Statement& slot, std::string_view sql);
  sql::sqlite::Db db_;
  // Declared after db_: destroyed before it.
  sql::sqlite::Statement recipient_q_, cap_q_;
};

// Packs a lunar birthday for AudienceQuery (leap * 10000 + month * 100 + day).
int lunar_key(int month, int day, bool leap);

}  // namespace tierflow::notification
