// Store's bulk as-of read, for the overview of a past instant (GetOverview with as_of).
#include "service/store.h"

namespace tierflow::classification {

void Store::as_of_all(absl::Time t, const std::function<void(v1::TierAssignment&&)>& each) {
  // Per customer the newest version in force at t (Store::as_of's rule), in one scan of
  // the history's primary key.
  auto q = db_.prepare(
      "SELECT h.assignment FROM history h WHERE h.effective_us <= ?1 AND h.version = "
      "(SELECT MAX(version) FROM history g WHERE g.customer_id = h.customer_id AND g.effective_us <= ?1)");
  q.bind_int64(1, absl::ToUnixMicros(t));
  while (q.step()) {
    const auto blob = q.column_blob(0);
    v1::TierAssignment a;
    a.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
    each(std::move(a));
  }
}

}  // namespace tierflow::classification
