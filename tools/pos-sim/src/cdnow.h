// The CDNOW purchase history (Fader and Hardie) as a POS workload. Pure parsing: no
// floating point anywhere, dollar values become integer cents digit by digit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/events.pb.h"

#include "line_file.h"

namespace tierflow::pos_sim {

struct CdnowRow {
  std::int64_t line_number = 0;  // 1-based line of the file (the header is line 1)
  std::string customer_id;       // as in the file, leading zeros kept: "00001"
  absl::CivilDay date;
  std::int64_t cds = 0;
  std::int64_t cents = 0;
};

// Strips ASCII whitespace (CR included) from both ends.
std::string_view trim(std::string_view s);

// "11.77" -> 1177, "12" -> 1200, "12.5" -> 1250, "0.00" -> 0. At most two decimals, no
// sign, no exponent; anything else is an error.
absl::StatusOr<std::int64_t> parse_decimal_cents(std::string_view text);

// One data line, "customer_id YYYYMMDD cds dollars", any whitespace, an optional trailing
// CR. An empty line is an error here; the reader skips them.
absl::StatusOr<CdnowRow> parse_cdnow_line(std::string_view line, std::int64_t line_number);

// One cash sale in USD at midnight UTC of the row's date: event id "cdnow-<line number>",
// customer "cdnow-<id>", one line (sku "cdnow-cd", quantity = CDs) for the whole amount.
tierflow::v1::PosEvent cdnow_event(const CdnowRow& row);
std::string cdnow_customer_id(std::string_view file_id);
// The minimal profile a replayed customer gets: its id and nothing personal.
tierflow::v1::CustomerProfile cdnow_profile(const std::string& customer_id);

// Reads the file line by line; skips the header (a first line starting with a letter) and
// blank lines. Not thread-safe.
class CdnowReader {
 public:
  // Fails when the file cannot be opened.
  static absl::StatusOr<CdnowReader> open(const std::string& path);
  // true with *row filled; false at the end of the file. A malformed line sets *error
  // (naming the line) and returns true with error set, so the caller can go on.
  bool next(CdnowRow* row, std::string* error);
  double progress() const;  // fraction of the file's bytes read

  CdnowReader(CdnowReader&&) = default;
  CdnowReader& operator=(CdnowReader&&) = default;

 private:
  explicit CdnowReader(LineFile file) : file_(std::move(file)) {}
  LineFile file_;
};

}  // namespace tierflow::pos_sim
