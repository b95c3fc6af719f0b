// The crash test's workload and its oracle. Pure and deterministic (a seed, no clock, no
// I/O): a stream of pos.events.v1 records and, computed alongside with plain arithmetic
// from the rules (not with the ledger's code), what every customer's account must
// show once the whole stream has been applied exactly once.
//
// The rules the oracle applies, per customer, in stream order (a customer's records share
// a partition, so the ledger sees them in this order too):
// - sale: sales += total, orders += 1, receivable += on-account part, which becomes an
//   invoice (30-day terms).
// - payment: allocated to the named invoice only, or else to the open invoices oldest
//   first; what is not allocated becomes customer credit.
// - refund / return on account: allocated to the named sale's invoice first, then to the
//   oldest open invoices; the rest becomes credit. Cash or card refunds leave the
//   receivable alone. refunds += amount either way.
// - gross profit = sales - refunds (no sale carries a cost).
// - a refund that arrives before its sale waits and is applied right after the sale.
// - a repeated event id changes nothing; an invalid record changes nothing and goes to the
//   DLQ once.
// All of a customer's sales are 30-day invoices at increasing event times, so "oldest"
// (by due date) is simply the order of issue.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tierflow::ledger_test {

// One record to produce, in stream order.
struct StreamRecord {
  std::string key;    // customer id (the record key)
  std::string value;  // serialized tierflow.v1.PosEvent, or junk for the unparseable kind
  enum class Kind { valid, duplicate, invalid } kind = Kind::valid;
};

// What one customer's account must show.
struct ExpectedAccount {
  std::string customer_id, currency;  // currency empty: no money event (feedback only)
  int64_t sales = 0, refunds = 0, payments = 0, receivable = 0, credit = 0, orders = 0;
  int32_t feedback_count = 0;
  int64_t first_purchase = -1, last_purchase = -1;  // unix seconds of the first/last sale
  std::vector<std::string> posted;  // event ids of its journal entries, in posting order
};

struct WorkloadConfig {
  uint64_t seed = 20240601;
  int customers = 5000;
  int64_t records = 200'000;    // total records, duplicates and invalid ones included
  double duplicate_rate = 0.02;
  double invalid_rate = 0.001;
  int64_t received_unix_seconds = 0;  // received_time on every event (as ingest stamps it)
};

struct Workload {
  std::vector<StreamRecord> records;
  // Customers that must have an account, by id (ordered, for stable reports).
  std::map<std::string, ExpectedAccount> accounts;
  // Customers that appear only in invalid records: the ledger must not know them.
  std::vector<std::string> unknown_customers;
  // Counts by kind, for the test's printout.
  std::map<std::string, int64_t> counts;
};

Workload make_workload(const WorkloadConfig& config);

}  // namespace tierflow::ledger_test
