// What ingest accepts. Pure functions: no network, no clock but the one passed in.
#pragma once

#include <absl/time/time.h>

#include <optional>
#include <string>

namespace tierflow::v1 {
class PosEvent;
class CustomerProfile;
}  // namespace tierflow::v1

namespace tierflow::ingest {

// nullopt when the event is acceptable, else a reason a person can act on, naming the
// field ("sale.tenders: they sum to 90.00 CNY but the total is 100.00 CNY"). Personal
// data never appears in a reason.
std::optional<std::string> validate_event(const v1::PosEvent& event, absl::Time now);
std::optional<std::string> validate_profile(const v1::CustomerProfile& profile);

}  // namespace tierflow::ingest
