// Dead letters of the ledger: a rejected record becomes an outbox row for `<topic>.dlq`
// (topics::dlq), written in the transaction that rejected it, so the relay publishes it
// like a snapshot and a crash in between loses nothing. Internal.
#pragma once

#include <string_view>

#include "common/kafka/topics.h"
#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"

namespace tierflow::ledger {

// `topic` is the topic the rejected record was consumed from.
inline OutboxRow dlq_row(std::string_view topic, const Rejection& r) {
  return {topics::dlq(topic), r.customer_id, r.value, r.reason};
}

}  // namespace tierflow::ledger
