// Pure text formatting for tierctl: numbers, money, shares, times and aligned tables.
// No I/O; everything here is unit tested.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/timestamp.pb.h"

namespace tierflow::tierctl {

// 1234567 -> "1,234,567"; negative numbers keep their sign: "-1,234".
std::string format_int(std::int64_t n);

// Digits after the decimal point of an ISO 4217 currency (2 unless listed as 0 or 3).
int currency_digits(std::string_view currency);

// Minor units to major units with thousands separators and the currency code:
// (123456789, "CNY") -> "1,234,567.89 CNY"; (-5, "USD") -> "-0.05 USD"; (1200, "JPY") ->
// "1,200 JPY". Integer arithmetic only. An empty currency prints the number alone.
std::string format_money(std::int64_t minor, std::string_view currency);

// A share in [0, 1] as a percentage with one decimal: 0.8012 -> "80.1%".
std::string format_share(double share);

// "2025-01-31 08:00:00 UTC"; an unset (zero) timestamp -> "-".
std::string format_time(const google::protobuf::Timestamp& t);

// "2027-01-01" (midnight UTC) or RFC 3339 "2027-01-01T08:00:00Z". False if neither.
bool parse_time(std::string_view text, google::protobuf::Timestamp* out);

// Columns a string takes in a terminal: CJK and full-width characters count two.
std::size_t display_width(std::string_view utf8);

// An aligned text table: a header row, a dash rule, then the rows, columns two spaces
// apart, trailing spaces trimmed. Rows shorter than the header are padded with "".
class Table {
 public:
  enum class Align { kLeft, kRight };
  explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});
  void add_row(std::vector<std::string> cells);
  std::size_t rows() const { return rows_.size(); }
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// The grpc::StatusCode name for a numeric code: 5 -> "NOT_FOUND".
std::string status_code_name(int code);

// "tierctl: <verb>: NOT_FOUND: <message>". UNIMPLEMENTED reads "not implemented yet by the
// server" so an operator knows the tool is not at fault.
std::string format_rpc_error(std::string_view verb, int code, std::string_view message);

}  // namespace tierflow::tierctl
