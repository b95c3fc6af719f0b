// libFuzzer over what a till can make ingest parse and judge: arbitrary bytes as a
// PosEvent (the StreamEvents / SubmitEvents payload, parsed on an arena as gRPC would
// hand it over) and as a CustomerProfile, each through its validator and the metrics'
// reason classifier. Built with clang (-fsanitize=fuzzer,address,undefined): any crash,
// sanitizer report, leak or input slower than -timeout fails the run.
#include <google/protobuf/arena.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "src/metrics_reason.h"
#include "src/validate.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/events.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tierflow;
  // A fixed clock: the same input must give the same answer.
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  google::protobuf::Arena arena;
  auto* event = google::protobuf::Arena::CreateMessage<v1::PosEvent>(&arena);
  if (event->ParseFromArray(data, static_cast<int>(size))) {
    if (auto reason = ingest::validate_event(*event, now)) {
      if (reason->empty()) __builtin_trap();  // a reason is never empty
      (void)ingest::reason_kind(*reason);
    }
    (void)event->SerializeAsString();  // what would be produced
  }
  v1::CustomerProfile profile;
  if (profile.ParseFromArray(data, static_cast<int>(size))) {
    if (auto reason = ingest::validate_profile(profile)) {
      if (reason->empty()) __builtin_trap();
    }
  }
  return 0;
}
