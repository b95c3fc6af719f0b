// What a batch stores for each customer it changed: the state row, and the account
// snapshot for the outbox, built from the same state. Internal; no store access.
#pragma once

#include <google/protobuf/arena.h>

#include <string>

#include "tierflow/ledger/store.h"

namespace tierflow::ledger {

// A closed invoice older than the payment window, which memory drops after the commit
// (the store keeps it).
inline bool prunable(const Invoice& i, Micros keep_since) { return i.open == 0 && i.closed && *i.closed < keep_since; }

// Drops prunable invoices from memory and clears the invoices' dirty marks: call once the
// batch that changed `st` is handed to the store.
void prune(CustomerState& st);

// Bumps the customer's version and fills `row` (the state, and the invoices the batch
// changed) and `snapshot` (an AccountSnapshot as of `as_of`). The snapshot leaves out the
// invoices prune() drops after the commit, so it equals what a reload would produce.
// Marks the customer stored. The messages in between live on `arena`.
void stage_customer(CustomerState& st, Micros as_of, google::protobuf::Arena& arena, CustomerRow& row,
                    std::string& snapshot);

// Bumps the customer's version and fills `snapshot` as stage_customer() does, without a
// state row: a snapshot in the middle of a batch (the state at the end of an evaluation
// day), before the batch's later events of the customer.
void stage_snapshot(CustomerState& st, Micros as_of, google::protobuf::Arena& arena, std::string& snapshot);

// Marks a snapshot built above as decided by backfilled history only
// (AccountSnapshot.backfill, field 19; a parser merges it into the message).
void mark_backfill(std::string& snapshot);

}  // namespace tierflow::ledger
