#include "snapshot_rows.h"

#include <algorithm>
#include <vector>

#include "state.h"
#include "wire.h"

namespace tierflow::ledger {

void prune(CustomerState& st) {
  const Micros keep_since = st.last_event_time - kClosedInvoiceWindow;
  std::erase_if(st.invoices, [&](const Invoice& i) { return prunable(i, keep_since); });
  for (auto& inv : st.invoices) inv.dirty = false;
}

void stage_customer(CustomerState& st, Micros as_of, google::protobuf::Arena& arena, CustomerRow& row,
                    std::string& snapshot) {
  ++st.version;
  row.customer_id = st.customer_id;
  row.version = st.version;
  row.journal_seq = st.journal_seq;
  row.feedback_score_sum = st.feedback_score_sum;
  row.last_event_time = st.last_event_time;
  row.stored = st.stored;
  st.stored = true;  // this batch writes it
  for (const auto& inv : st.invoices) {
    if (inv.dirty) row.invoices.push_back(inv);
  }
  const Micros keep_since = st.last_event_time - kClosedInvoiceWindow;
  if (std::any_of(st.invoices.begin(), st.invoices.end(), [&](const Invoice& i) { return prunable(i, keep_since); })) {
    std::vector<Invoice> kept;
    for (const auto& i : st.invoices) {
      if (!prunable(i, keep_since)) kept.push_back(i);
    }
    encode_state_and_snapshot(st, kept, as_of, arena, row.state, snapshot);
  } else {
    encode_state_and_snapshot(st, st.invoices, as_of, arena, row.state, snapshot);
  }
}

void stage_snapshot(CustomerState& st, Micros as_of, google::protobuf::Arena& arena, std::string& snapshot) {
  ++st.version;
  const Micros keep_since = st.last_event_time - kClosedInvoiceWindow;
  if (std::any_of(st.invoices.begin(), st.invoices.end(), [&](const Invoice& i) { return prunable(i, keep_since); })) {
    std::vector<Invoice> kept;
    for (const auto& i : st.invoices) {
      if (!prunable(i, keep_since)) kept.push_back(i);
    }
    encode_snapshot(st, kept, as_of, arena, snapshot);
  } else {
    encode_snapshot(st, st.invoices, as_of, arena, snapshot);
  }
}

void mark_backfill(std::string& snapshot) {
  wire::tag(snapshot, 19, 0);
  wire::varint(snapshot, 1);
}

}  // namespace tierflow::ledger
