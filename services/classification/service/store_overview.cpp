// Store's bulk as-of read, for the overview of a past instant (GetOverview with as_of).
#include <algorithm>
#include <string_view>

#include "service/assignment_blob.h"
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
    v1::TierAssignment a;
    if (!assignment_blob::decode(q.column_blob(0), &a)) {
      throw sql::Error("sqlite: a stored assignment does not decode", 11 /* SQLITE_CORRUPT */);
    }
    each(std::move(a));
  }
}

}  // namespace tierflow::classification

namespace tierflow::classification {
namespace {
bool contains_folded(std::string_view hay, std::string_view needle) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != hay.end();
}
}  // namespace

std::optional<v1::CustomerProfile> Store::profile(const std::string& customer_id) {
  auto q = db_.prepare("SELECT profile FROM customers WHERE customer_id = ?1 AND profile IS NOT NULL");
  q.bind_text(1, customer_id);
  if (!q.step()) return std::nullopt;
  const auto blob = q.column_blob(0);
  v1::CustomerProfile p;
  p.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
  return p;
}

std::vector<Store::Match> Store::search(const std::string& query, int limit) {
  std::vector<Match> out;
  auto matched = [&](const sql::sqlite::Statement& q) {
    Match m{std::string(q.column_text(0)), "", ""};
    if (!q.column_is_null(1)) {
      const auto blob = q.column_blob(1);
      v1::CustomerProfile p;
      p.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
      m.name = p.name();
    }
    if (!q.column_is_null(2)) {
      v1::TierAssignment a;
      if (assignment_blob::decode(q.column_blob(2), &a)) m.tier = a.tier();
    }
    return m;
  };
  // Ids first: a range scan of the primary key.
  auto ids = db_.prepare(
      "SELECT customer_id, profile, assignment FROM customers WHERE customer_id >= ?1 "
      "AND substr(customer_id, 1, length(?1)) = ?1 ORDER BY customer_id LIMIT ?2");
  ids.bind_text(1, query).bind_int64(2, limit);
  while (ids.step()) out.push_back(matched(ids));
  // Then names: a scan of the stored profiles (the name is inside the blob).
  auto names = db_.prepare(
      "SELECT customer_id, profile, assignment FROM customers WHERE profile IS NOT NULL ORDER BY customer_id");
  while (static_cast<int>(out.size()) < limit && names.step()) {
    Match m = matched(names);
    if (m.name.empty() || !contains_folded(m.name, query)) continue;
    if (std::any_of(out.begin(), out.end(), [&](const Match& x) { return x.customer_id == m.customer_id; })) continue;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace tierflow::classification
