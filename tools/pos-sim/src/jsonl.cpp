#include "jsonl.h"

#include <algorithm>
#include <filesystem>

#include "cdnow.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "tierflow/pos_sim/jsonl_line.pb.h"

namespace tierflow::pos_sim {

namespace {
namespace pbu = google::protobuf::util;

// A profile line is recognised by its only key; a PosEvent has no field named "profile".
bool looks_like_profile(std::string_view line) {
  auto pos = line.find('{');
  if (pos == std::string_view::npos) return false;
  const std::string_view rest = trim(line.substr(pos + 1));
  return rest.rfind("\"profile\"", 0) == 0;
}
}  // namespace

absl::StatusOr<JsonlItem> parse_jsonl_line(std::string_view line, std::int64_t line_number) {
  JsonlItem item;
  item.line_number = line_number;
  pbu::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const google::protobuf::StringPiece input(line.data(), line.size());
  if (looks_like_profile(line)) {
    ProfileLine wrapper;
    const auto status = pbu::JsonStringToMessage(input, &wrapper, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("line {}: bad profile: {}", line_number, std::string(status.message())));
    }
    if (wrapper.profile().customer_id().empty()) {
      return absl::InvalidArgumentError(fmt::format("line {}: profile without customer_id", line_number));
    }
    item.kind = JsonlItem::Kind::kProfile;
    item.profile = std::move(*wrapper.mutable_profile());
    return item;
  }
  const auto status = pbu::JsonStringToMessage(input, &item.event, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("line {}: bad PosEvent: {}", line_number, std::string(status.message())));
  }
  if (item.event.event_id().empty()) {
    return absl::InvalidArgumentError(fmt::format("line {}: event without event_id", line_number));
  }
  item.kind = JsonlItem::Kind::kEvent;
  return item;
}

std::string event_to_jsonl(const tierflow::v1::PosEvent& event) {
  std::string out;
  (void)pbu::MessageToJsonString(event, &out);
  return out;
}

std::string profile_to_jsonl(const tierflow::v1::CustomerProfile& profile) {
  ProfileLine wrapper;
  *wrapper.mutable_profile() = profile;
  std::string out;
  (void)pbu::MessageToJsonString(wrapper, &out);
  return out;
}

absl::StatusOr<JsonlReader> JsonlReader::open(const std::string& path) {
  auto file = LineFile::open(path);
  if (!file.ok()) return file.status();
  return JsonlReader(std::move(*file));
}

bool JsonlReader::next(JsonlItem* item, std::string* error) {
  error->clear();
  std::string_view trimmed;
  while (file_.next(&trimmed)) {
    if (trimmed.empty() || trimmed.front() == '#') continue;
    auto parsed = parse_jsonl_line(trimmed, file_.line_number());
    if (!parsed.ok()) {
      *error = std::string(parsed.status().message());
      return true;
    }
    *item = std::move(*parsed);
    return true;
  }
  return false;
}

double JsonlReader::progress() const { return file_.progress(); }

}  // namespace tierflow::pos_sim
