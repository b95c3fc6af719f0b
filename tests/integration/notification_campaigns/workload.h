// The birthday campaign workload of the notification integration tests: a population
// over seven time zones where, at kNow, some customers are in quiet hours, some opted out
// of marketing, some have used up the marketing cap and some have no birthday today; and
// which of them must receive exactly one message, on which channel, under which key. Also
// the service config against tests/support's SMTP and HTTP servers, which the campaign
// bench (tests/bench/notification) shares.
#pragma once

#include <absl/time/time.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "src/config.h"
#include "src/store.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"
#include "tests/support/smtp_server.h"

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

// The service's config against the local servers: store and file channel under `dir`,
// e-mail to `smtp` and SMS to `gateway` (4 connections each), the default tier names;
// the rules keep their defaults. The servers must outlive the channels made from it.
Config local_config(const test_support::TempDir& dir, const test_support::SmtpServer& smtp,
                    const test_support::HttpServer& gateway);

}  // namespace tierflow::notification::workload
