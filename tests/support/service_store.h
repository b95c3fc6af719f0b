// Reading a running service's SQLite store, for tests and benches that run the services as
// processes and wait for them to catch up. A store keeps each partition's next offset in
// the transaction that applies its records (sql/offsets.h), so its offsets, not the
// consumer group's commits, say what is done.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "tierflow/sql/sqlite.h"

namespace tierflow::test_support {

// The store at `path`, opened read-only beside its running service (WAL readers do not
// block its writer), with a small cache. Throws sql::Error when it cannot be opened.
sql::sqlite::Db open_service_store(const std::string& path);

// next_offset per partition of `topic` in the store at `path`; empty while the file does
// not exist yet.
std::map<int32_t, int64_t> stored_offsets(const std::string& path, std::string_view topic);

// Rows of `table` in the store at `path`; 0 while the file does not exist yet.
int64_t count_rows(const std::string& path, const std::string& table);

// " p:stored/end" for every partition whose stored offset is below `end` (a missing one
// counts as 0), for progress and failure messages; empty when every partition is caught up.
std::string behind(const std::map<int32_t, int64_t>& stored, const std::map<int32_t, int64_t>& end);

}  // namespace tierflow::test_support
