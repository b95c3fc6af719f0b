// The birthday campaign workload of the notification integration tests: a population
// over seven time zones where, at kNow, some customers are in quiet hours, some opted out
// of marketing, some have used up the marketing cap and some have no birthday today; and
// which of them must receive exactly one message, on which channel, under which key.
#pragma once

#include <absl/time/time.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "src/store.h"

namespace tierflow::notification::workload {

// 2026-06-15 06:00 UTC: day in Shanghai, Tokyo, Kolkata and Auckland; night (quiet hours
// 21-08) in London, New York and Los Angeles (where it is still 14 June).
absl::Time now();

struct Population {
  std::vector<Recipient> recipients;
  std::vector<std::pair<std::string, int64_t>> capped;  // earlier marketing sends, for the cap
  std::set<std::string> expected_email_keys;            // dedupe keys
  std::set<std::string> expected_sms_keys;
  std::map<std::string, int> reasons;  // why customers are not expected, counted
};

// `n` customers; the campaign id goes into the expected keys.
Population make(int n, const std::string& campaign_id);

// Writes the directory and the cap history into the store at `path`.
void load(const Population& population, const std::string& path);

}  // namespace tierflow::notification::workload
