// Time at the edges: protobuf Timestamps in, absl::Time inside, UTC throughout.
#pragma once

#include <absl/time/clock.h>
#include <absl/time/time.h>

#include <string>

namespace google::protobuf {
class Timestamp;
}

namespace tierflow::timeutil {

// A Timestamp that absl, RFC 3339 and SQL can represent: years 1..9999, nanos in range.
bool valid(const google::protobuf::Timestamp& ts);
absl::Time from_proto(const google::protobuf::Timestamp& ts);
void to_proto(absl::Time t, google::protobuf::Timestamp* out);
// RFC 3339 in UTC, e.g. "2025-03-01T10:00:00Z".
std::string format(absl::Time t);
// Accepts "2025-03-01" (midnight UTC) or RFC 3339; false when neither.
bool parse(std::string_view text, absl::Time* out);

}  // namespace tierflow::timeutil
