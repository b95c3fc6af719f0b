// Runs the posting rules (posting_rules.h) for the records of one batch against the unit
// of work's view: skips replayed records and duplicates, looks up what a rule needs, and
// applies what it decides (customer state, journal row, event row, balances), defers an
// event whose sale has not arrived and releases the events waiting for a sale that does.
// Internal; lives for one batch, on the UnitOfWork's thread.
#pragma once

#include <string>
#include <string_view>

#include "posting_rules.h"
#include "unit_of_work.h"

namespace tierflow::ledger {

class BatchPoster {
 public:
  BatchPoster(UnitOfWork& uow, Batch& batch) : uow_(uow), b_(batch) {}

  // One record in consumed order; `parsed` is its event, nullptr when the bytes are not
  // a PosEvent (or were not parsed: a replayed record).
  void process_record(const ConsumedRecord& rec, const v1::PosEvent* parsed);

 private:
  // Where an event came from: the record now, or the one stored with a deferred event.
  struct Source {
    std::string_view topic;
    int32_t partition = 0;
    int64_t offset = 0;
    std::string_view key;
    std::string_view value;
  };

  void handle_event(const v1::PosEvent& ev, const Source& src, bool released);
  rules::Outcome sale(const v1::PosEvent& ev, Micros t);
  rules::Outcome refund(const v1::PosEvent& ev, Micros t);
  rules::Outcome payment(const v1::PosEvent& ev, Micros t);
  rules::Outcome feedback(const v1::PosEvent& ev, Micros t);
  // Applies a posting decided for `st` (nullptr: a new customer) unless the ledger-wide
  // balances would overflow; writes its journal row and event row.
  rules::Outcome commit(const v1::PosEvent& ev, Micros t, const rules::Posting& p, CustomerState* st);
  void defer(const v1::PosEvent& ev, Micros t, const Source& src, const std::string& waiting_for);
  void release_waiting(const std::string& sale_id);
  void reject(const Source& src, std::string event_id, std::string customer_id, std::string reason);

  UnitOfWork& uow_;
  Batch& b_;
};

}  // namespace tierflow::ledger
