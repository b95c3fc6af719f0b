#include "common/time/time.h"

#include <google/protobuf/timestamp.pb.h>

namespace tierflow::timeutil {

bool valid(const google::protobuf::Timestamp& ts) {
  constexpr int64_t kYear1 = -62135596800;      // 0001-01-01T00:00:00Z
  constexpr int64_t kYear9999 = 253402300799;   // 9999-12-31T23:59:59Z
  return ts.nanos() >= 0 && ts.nanos() <= 999999999 && ts.seconds() >= kYear1 && ts.seconds() <= kYear9999;
}

absl::Time from_proto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void to_proto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t s = absl::ToUnixSeconds(t);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

std::string format(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

bool parse(std::string_view text, absl::Time* out) {
  std::string err;
  if (absl::ParseTime("%Y-%m-%d", std::string(text), absl::UTCTimeZone(), out, &err)) return true;
  return absl::ParseTime(absl::RFC3339_full, std::string(text), absl::UTCTimeZone(), out, &err);
}

}  // namespace tierflow::timeutil
