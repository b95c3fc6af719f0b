// The suite's topics. Every topic is keyed by customer id and has the same partition
// count (co-partitioning, DESIGN.md). Poison records go to <topic>.dlq.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace tierflow::topics {

inline constexpr std::string_view kPosEvents = "pos.events.v1";
inline constexpr std::string_view kCustomers = "crm.customers.v1";
inline constexpr std::string_view kAccounts = "ledger.accounts.v1";
inline constexpr std::string_view kAssignments = "tiers.assignments.v1";
inline constexpr std::string_view kDeliveries = "notifications.deliveries.v1";
// Classification's evaluation points (services/classification/service/points.h): keyed by
// point and partition, not by customer; compacted; every instance reads all of it.
inline constexpr std::string_view kPoints = "classification.points.v1";

inline constexpr std::array<std::string_view, 6> kAll = {kPosEvents,    kCustomers,  kAccounts,
                                                          kAssignments, kDeliveries, kPoints};

inline std::string dlq(std::string_view topic) { return std::string(topic) + ".dlq"; }

}  // namespace tierflow::topics
