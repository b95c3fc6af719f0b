// Pieces of the PostgreSQL store that are their own concern: array literals bound as one
// parameter (the store's writes are array-bound statements), bytea in hex, and the
// prepared statements. Internal.
#pragma once

#include <pqxx/pqxx>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace tierflow::ledger::pg_support {

// Appends two lowercase hex digits per byte of `bytes` to `out`.
inline void append_hex(std::string_view bytes, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t at = out.size();
  out.resize(at + 2 * bytes.size());
  char* p = out.data() + at;
  for (unsigned char c : bytes) {
    *p++ = kHex[c >> 4];
    *p++ = kHex[c & 15];
  }
}

// `bytes` as PostgreSQL's hex text form of bytea ("\\x0a1b..."), into `out`.
inline void hex_bytea(std::string_view bytes, std::string& out) {
  out.assign("\\x");
  append_hex(bytes, out);
}

// Builds a PostgreSQL array literal ("{...}") bound as one text parameter. Text elements
// are quoted with '"' and '\' escaped; bytea elements are written in hex ("\\x0a...").
class ArrayLiteral {
 public:
  ArrayLiteral() { s_.push_back('{'); }

  ArrayLiteral& text(std::string_view v) {
    sep();
    s_.push_back('"');
    for (char c : v) {
      if (c == '"' || c == '\\') s_.push_back('\\');
      s_.push_back(c);
    }
    s_.push_back('"');
    return *this;
  }

  ArrayLiteral& integer(int64_t v) {
    sep();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    s_.append(buf, end);
    return *this;
  }

  ArrayLiteral& boolean(bool v) {
    sep();
    s_.push_back(v ? 't' : 'f');
    return *this;
  }

  ArrayLiteral& null() {
    sep();
    s_.append("NULL");
    return *this;
  }

  ArrayLiteral& bytea(std::string_view v) {
    sep();
    s_.append("\"\\\\x");
    append_hex(v, s_);
    s_.push_back('"');
    return *this;
  }

  void reserve(size_t n) { s_.reserve(n); }
  std::string done() {
    s_.push_back('}');
    return std::move(s_);
  }

 private:
  void sep() {
    if (!first_) s_.push_back(',');
    first_ = false;
  }
  std::string s_;
  bool first_ = true;
};

// Prepares every statement the store runs, on `conn`.
void prepare_statements(pqxx::connection& conn);

// Columns of a deferred row, in read_deferred()'s order.
inline constexpr const char* kDeferredColumns = "event_id, waiting_for, customer_id, topic, part, off, since, value";

}  // namespace tierflow::ledger::pg_support
