// One replay of a History through the real services, and what it leaves behind.
//
// A replay starts its own devbroker, redis-server, tierflow-ledger (SQLite) and one or two
// tierflow-classification processes (clock: events, group "classification", a store each),
// produces the history's events straight to pos.events.v1, takes the overrides at their
// positions, waits until every event is applied and the last day's evaluation point is
// passed, and dumps the final state in a canonical text form.
//
// Threading: replay() runs on the calling thread and starts every child from it (see
// tests/support/process.h on PR_SET_PDEATHSIG); it is not reentrant.
// Errors: a service that does not come up or does not catch up in time throws
// std::runtime_error with its log tail.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "history.h"

namespace tierflow::determinism_test {

struct ReplayOptions {
  std::string name;
  int ledger_max_batch = 20000;  // the ledger's max_batch: records per SQL transaction
  // The ledger is stopped while each stretch between override points is produced, then
  // started on the backlog: its batches are as large as the backlog and max_batch allow.
  bool ledger_backlog = false;
  // > 0: produce this many events, wait for their delivery, pause; the slow replay.
  int throttle_events = 0;
  std::chrono::milliseconds throttle_pause{0};
  std::chrono::milliseconds evaluate_delay{1000};  // classification's evaluate_delay_ms
  int classification_instances = 1;                // in one consumer group, distinct stores
  // kill -9 of classification (the instance of the kill's draw) at this many positions of
  // the history drawn from kill_seed, each followed at once by a restart on the same store.
  int kills = 0;
  uint64_t kill_seed = 0;
};

// The final state, canonical: one line per row, sorted; wall-time fields removed.
//   tier\t<customer>\t<TierAssignment, text format, one line>   (BatchGetTiers, Redis)
//   history\t<customer>\t<n>\t<TierAssignment>                  (GetTierHistory, newest first)
//   distribution\t<Distribution>                                (GetDistribution of instance 0)
struct Dump {
  std::vector<std::string> rows;
  // GetDistribution of every further instance: each must equal instance 0's.
  std::vector<std::string> other_distributions;
  double seconds = 0;  // the replay's wall time, for the printout
};

Dump replay(const History& history, const ReplayOptions& options);

// Writes the dump's rows, one a line: replay() leaves one as dump.txt in its directory
// (kept with TIERFLOW_KEEP_TEST_DIRS), to diff two replays by hand.
void write_dump(const Dump& dump, const std::string& path);

// "" when equal; else what differs: how many customers' final tiers and histories, in
// which fields, the distribution's differing fields, and the first differing customer
// with all its rows from both.
std::string compare_dumps(const Dump& reference, const std::string& reference_name, const Dump& other,
                          const std::string& other_name);

}  // namespace tierflow::determinism_test
