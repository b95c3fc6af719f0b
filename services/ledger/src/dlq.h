// Dead letters of the ledger: a rejected record becomes an outbox row for `<topic>.dlq`
// (topics::dlq), written in the transaction that rejected it, so the relay publishes it
// like a snapshot and a crash in between loses nothing. The row carries what
// kafka::DeadLetters puts on a DLQ record: the original key and bytes, the reason, and
// the origin "topic/partition@offset". Internal.
#pragma once

#include <string>
#include <string_view>

#include "common/kafka/topics.h"
#include "text.h"
#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"

namespace tierflow::ledger {

// "pos.events.v1/3@1200", as kafka::Record::origin() writes it.
inline std::string record_origin(std::string_view topic, int32_t partition, int64_t offset) {
  return cat(topic, "/", partition, "@", offset);
}

// `topic` is the topic the rejected record was consumed from, `key` its key (empty: the
// customer id, e.g. for a deferred event, whose key was checked against it).
inline OutboxRow dlq_row(std::string_view topic, std::string_view key, const Rejection& r) {
  OutboxRow row{topics::dlq(topic), key.empty() ? r.customer_id : std::string(key), r.value, r.reason};
  row.origin = record_origin(topic, r.partition, r.offset);
  return row;
}

}  // namespace tierflow::ledger
