#include "line_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "cdnow.h"  // trim

namespace tierflow::pos_sim {

absl::StatusOr<LineFile> LineFile::open(const std::string& path) {
  LineFile f;
  f.in_.open(path, std::ios::binary);
  if (!f.in_) return absl::NotFoundError(fmt::format("cannot open {}", path));
  std::error_code ec;
  f.size_ = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
  if (ec) f.size_ = 0;
  return f;
}

bool LineFile::next(std::string_view* trimmed) {
  if (!std::getline(in_, line_)) return false;
  ++line_number_;
  consumed_ += static_cast<std::int64_t>(line_.size()) + 1;
  *trimmed = trim(line_);
  return true;
}

double LineFile::progress() const {
  if (size_ <= 0) return 0.0;
  return std::min(1.0, static_cast<double>(consumed_) / static_cast<double>(size_));
}

}  // namespace tierflow::pos_sim
