#include "tests/support/service_store.h"

#include <fmt/format.h>

#include <filesystem>

#include "tierflow/sql/offsets.h"

namespace tierflow::test_support {

sql::sqlite::Db open_service_store(const std::string& path) {
  sql::sqlite::Options o;
  o.create = false;
  o.cache_size_kib = 1024;
  return sql::sqlite::Db::open(path, o);
}

std::map<int32_t, int64_t> stored_offsets(const std::string& path, std::string_view topic) {
  std::map<int32_t, int64_t> out;
  if (!std::filesystem::exists(path)) return out;
  auto db = open_service_store(path);
  for (const auto& [key, next] : sql::sqlite::read_offsets(db)) {
    if (key.first == topic) out[key.second] = next;
  }
  return out;
}

int64_t count_rows(const std::string& path, const std::string& table) {
  if (!std::filesystem::exists(path)) return 0;
  auto db = open_service_store(path);
  auto st = db.prepare("SELECT count(*) FROM " + table);
  return st.step() ? st.column_int64(0) : 0;
}

std::string behind(const std::map<int32_t, int64_t>& stored, const std::map<int32_t, int64_t>& end) {
  std::string out;
  for (const auto& [p, e] : end) {
    const auto it = stored.find(p);
    const int64_t s = it == stored.end() ? 0 : it->second;
    if (s < e) out += fmt::format(" {}:{}/{}", p, s, e);
  }
  return out;
}

}  // namespace tierflow::test_support
