// JSONL workloads: one JSON object per line, either a tierflow.v1.PosEvent in the protobuf
// JSON mapping or {"profile": {...CustomerProfile...}}. Blank lines and lines starting with
// '#' are skipped. Pure parsing; the reader owns its file.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/events.pb.h"

#include "line_file.h"

namespace tierflow::pos_sim {

struct JsonlItem {
  enum class Kind { kEvent, kProfile };
  Kind kind = Kind::kEvent;
  std::int64_t line_number = 0;
  tierflow::v1::PosEvent event;
  tierflow::v1::CustomerProfile profile;
};

// Parses one non-blank line. Unknown fields are errors (a typo must not silently drop data).
// The error message names the line and the parser's complaint; it never echoes the line,
// which may hold personal data.
absl::StatusOr<JsonlItem> parse_jsonl_line(std::string_view line, std::int64_t line_number);

// The line writers for --write-jsonl: the inverse of parse_jsonl_line.
std::string event_to_jsonl(const tierflow::v1::PosEvent& event);
std::string profile_to_jsonl(const tierflow::v1::CustomerProfile& profile);

class JsonlReader {
 public:
  static absl::StatusOr<JsonlReader> open(const std::string& path);
  // true with *item filled, or true with *error set for a bad line (the reader goes on);
  // false at the end of the file.
  bool next(JsonlItem* item, std::string* error);
  double progress() const;

  JsonlReader(JsonlReader&&) = default;
  JsonlReader& operator=(JsonlReader&&) = default;

 private:
  explicit JsonlReader(LineFile file) : file_(std::move(file)) {}
  LineFile file_;
};

}  // namespace tierflow::pos_sim
