// A text file read line by line with progress: what the CDNOW and JSONL readers share.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tierflow::pos_sim {

class LineFile {
 public:
  // Fails (NotFound, naming the path) when the file cannot be opened.
  static absl::StatusOr<LineFile> open(const std::string& path);
  // The next line with surrounding whitespace (and a CR) trimmed; false at the end. The
  // view lives until the next call.
  bool next(std::string_view* trimmed);
  std::int64_t line_number() const { return line_number_; }
  double progress() const;  // fraction of the file's bytes read

  LineFile(LineFile&&) = default;
  LineFile& operator=(LineFile&&) = default;

 private:
  LineFile() = default;
  std::ifstream in_;
  std::string line_;
  std::int64_t line_number_ = 0;
  std::int64_t size_ = 0;
  std::int64_t consumed_ = 0;
};

}  // namespace tierflow::pos_sim
