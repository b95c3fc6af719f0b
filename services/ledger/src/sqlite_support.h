// Pieces of the SQLite store that are their own concern: multi-row INSERT statements and the
// Bloom filter over stored event ids (the background WAL checkpointer is
// tierflow/sql/checkpointer.h). Internal.
#pragma once

#include <absl/base/thread_annotations.h>
#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tierflow/sql/sqlite.h"

namespace tierflow::ledger::sqlite_support {

// Rows per multi-row INSERT: one statement step per chunk instead of per row (SQLite's
// per-statement overhead is about as large as a row's B-tree insert).
constexpr size_t kRowsPerInsert = 64;

// "<head> VALUES(?,?,..),(?,?,..).." with `rows` groups of `cols` parameters.
std::string values_sql(std::string_view head, int cols, size_t rows);

// Inserts `n` rows: full chunks of kRowsPerInsert through `many`, the rest through `one`.
// bind(statement, first parameter index, row) binds one row's `cols` parameters.
template <typename Stmt, typename Bind>
void insert_rows(Stmt& many, Stmt& one, int cols, size_t n, Bind&& bind) {
  size_t i = 0;
  for (; i + kRowsPerInsert <= n; i += kRowsPerInsert) {
    for (size_t r = 0; r < kRowsPerInsert; ++r) bind(many, static_cast<int>(r) * cols + 1, i + r);
    many.run();
  }
  for (; i < n; ++i) {
    bind(one, 1, i);
    one.run();
  }
}

// A Bloom filter over event ids: may_contain() is false only for an id never add()ed.
// Sized for `capacity` ids at ~1% false positives; full() once more were added.
class IdFilter {
 public:
  explicit IdFilter(size_t capacity) : capacity_(capacity), bits_(std::max<size_t>(capacity * 10 / 64 + 1, 1024), 0) {}

  void add(std::string_view id) {
    probe(id, [&](uint64_t& word, uint64_t bit) {
      word |= bit;
      return true;
    });
    ++count_;
  }
  bool may_contain(std::string_view id) const {
    return const_cast<IdFilter*>(this)->probe(id, [](uint64_t& word, uint64_t bit) { return (word & bit) != 0; });
  }
  bool full() const { return count_ > capacity_; }
  size_t count() const { return count_; }

 private:
  static constexpr int kProbes = 7;
  template <typename Fn>
  bool probe(std::string_view id, Fn&& fn) {
    const uint64_t h = std::hash<std::string_view>{}(id);
    const uint64_t h2 = (h >> 29) * 0x9E3779B97F4A7C15ULL | 1;
    const uint64_t m = bits_.size() * 64;
    bool all = true;
    for (int i = 0; i < kProbes; ++i) {
      const uint64_t pos = (h + static_cast<uint64_t>(i) * h2) % m;
      all = fn(bits_[pos / 64], uint64_t{1} << (pos % 64)) && all;
    }
    return all;
  }
  size_t capacity_, count_ = 0;
  std::vector<uint64_t> bits_;
};

}  // namespace tierflow::ledger::sqlite_support
