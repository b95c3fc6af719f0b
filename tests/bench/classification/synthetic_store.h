#pragma once
// A classification service store (service/store.h) filled with the synthetic customers of
// synthetic.h, as the keeper would have committed them, for the benches that start the
// real TierKeeper on a large population. Header-only; needs the service library.
#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "service/config.h"
#include "service/store.h"
#include "synthetic.h"
#include "tests/support/process.h"

namespace tierflow::classification::synthetic {

// The keeper's config of the benches on the synthetic store: store under `dir`, the local
// standard, clock "watermark" (every pass classifies as of as_of()), Redis on a free port
// where nothing listens (down, which the keeper tolerates). Kafka is the caller's.
inline Config watermark_config(const test_support::TempDir& dir) {
  Config cfg;
  cfg.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
  cfg.store_path = dir.file("classification.db");
  cfg.clock = "watermark";
  cfg.evaluation_points = "newest_event";  // no ledger watermarks: synthetic stores only
  cfg.redis.port = test_support::pick_free_port();
  cfg.redis.timeout = std::chrono::milliseconds(200);
  return cfg;
}

// Writes customers 0..n-1 (every profile, an account for those who bought) into the store
// at `path`, in batches of 20,000, with the event-time watermark at as_of(). Returns the
// indexes of the customers with an account, ascending. Throws what Store throws.
inline std::vector<size_t> fill_store(const std::string& path, size_t n) {
  std::vector<size_t> buyers;
  Store store(path);
  constexpr size_t kChunk = 20000;
  for (size_t from = 0; from < n; from += kChunk) {
    const size_t to = std::min(n, from + kChunk);
    std::vector<v1::AccountSnapshot> accounts;
    std::vector<v1::CustomerProfile> profiles;
    accounts.reserve(to - from);
    profiles.reserve(to - from);
    for (size_t i = from; i < to; ++i) {
      v1::AccountSnapshot a;
      if (account(i, &a)) {
        accounts.push_back(std::move(a));
        buyers.push_back(i);
      }
      profiles.push_back(profile(i));
    }
    Store::Batch batch;
    for (const auto& a : accounts) batch.accounts.push_back(&a);
    for (const auto& p : profiles) batch.profiles.push_back(&p);
    if (from == 0) batch.watermark = as_of();
    store.apply(batch);
  }
  return buyers;
}

}  // namespace tierflow::classification::synthetic
