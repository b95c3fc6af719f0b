// Customer state <-> protobuf, and the derived parts of a snapshot. Internal; pure functions.
#pragma once

#include <google/protobuf/arena.h>
#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <string_view>

#include "tierflow/ledger/store.h"
#include "tierflow/v1/ledger.pb.h"

namespace tierflow::ledger {

inline constexpr Micros kSecond = 1'000'000;
inline constexpr Micros kDay = 86'400 * kSecond;
inline constexpr int kMonthsKept = 24;
// Closed invoices kept in memory: the 12-month payment window plus a margin.
inline constexpr Micros kClosedInvoiceWindow = 400 * kDay;

Micros to_micros(const google::protobuf::Timestamp& ts);
void set_timestamp(Micros t, google::protobuf::Timestamp* ts);
// RFC 3339, e.g. "2024-03-08T00:00:00Z".
std::string format_time(Micros t);

// Whole days after `due` at `t`, rounded up (an hour late is a day late); 0 when not late.
int64_t days_past(Micros t, Micros due);
int32_t month_key(Micros t);  // year * 12 + (month - 1), UTC

// The persisted form of the totals (no ageing/payment, no customer_id/version/score sum,
// which are columns): a compact varint record. Rows written in the older form (an
// AccountSnapshot of the totals with as_of = the newest event time) still decode.
std::string encode_state(const CustomerState& state);
// Fills the totals of `state` from encode_state()'s bytes (either form); false when they
// do not parse.
bool decode_state(std::string_view bytes, CustomerState& state);

v1::Ageing compute_ageing(const CustomerState& state, Micros as_of);
v1::PaymentBehaviour compute_behaviour(const CustomerState& state, Micros as_of);
// The full snapshot with as_of, ageing and payment behaviour as of `as_of`.
v1::AccountSnapshot build_snapshot(const CustomerState& state, Micros as_of);

// Both forms of a changed customer: `stored` is encode_state(state), `snapshot` parses as
// build_snapshot(view, as_of) does, where `view` is `state` with the invoices of
// `invoices` (the ones a snapshot shows; protobuf parses the concatenated totals and
// derived parts as one merged message). Byte order may differ from SerializeAsString();
// the parsed messages are equal.
// The messages are built on `arena` (the caller frees it when it likes).
void encode_state_and_snapshot(const CustomerState& state, const std::vector<Invoice>& invoices,
                               Micros as_of, google::protobuf::Arena& arena, std::string& stored,
                               std::string& snapshot);
// The snapshot part of encode_state_and_snapshot() alone.
void encode_snapshot(const CustomerState& state, const std::vector<Invoice>& invoices, Micros as_of,
                     google::protobuf::Arena& arena, std::string& snapshot);

}  // namespace tierflow::ledger
