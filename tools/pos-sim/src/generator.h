// The synthetic workload: customer master data and POS events over simulated months.
// Pure: no I/O, no clock, no network. Everything is a function of GeneratorConfig, so the
// same seed always yields the same profiles, events and event ids.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/events.pb.h"

namespace tierflow::pos_sim {

struct GeneratorConfig {
  std::uint64_t seed = 1;
  int customers = 1000;            // ids c-000001 .. c-<customers>
  int months = 12;                 // simulated span, from `start`
  absl::CivilDay start{2025, 1, 1};  // first simulated day, UTC
  std::string currency = "CNY";
};

// A small, portable PRNG (splitmix64). std:: distributions are implementation-defined,
// so every draw goes through these helpers to keep workloads identical across toolchains.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [lo, hi], both inclusive; requires lo <= hi.
  std::int64_t uniform(std::int64_t lo, std::int64_t hi);
  // Uniform in [0, 1).
  double unit();
  bool chance(double p) { return unit() < p; }

 private:
  std::uint64_t state_;
};

// "c-000001" for index 1.
std::string customer_id(int index);

// The traits behind a customer's behaviour; derived from (seed, index) only, so customer 17
// behaves the same whatever --customers is.
struct CustomerTraits {
  double weight = 1.0;        // Pareto-distributed purchase intensity, mean about 1
  bool on_account = false;    // business customer buying on credit (30-day terms)
  int payer = 0;              // 0 pays on time, 1 pays late, 2 never pays
  int satisfaction = 7;       // centre of its feedback scores, 0-10
  int store = 1;              // home store number
};
CustomerTraits customer_traits(std::uint64_t seed, int index);

// The profile of customer `index` (1-based). Contact data is fake: example.com e-mail,
// 555 phone numbers.
tierflow::v1::CustomerProfile generate_profile(const GeneratorConfig& config, int index);

// Events in simulated-time order, one day at a time. Event ids are "e-<seed>-<n>" with n
// unique, assigned when an event is decided (so a refund can name its sale). Invariants:
// tenders sum to the sale total, lines sum to the total, a refund never exceeds its sale,
// payments of a sale never exceed its on-account part. Payments, refunds or feedback that
// would fall after the simulated span are not emitted.
// Not thread-safe; memory grows with the follow-up events pending (payments up to ~90 days).
class EventGenerator {
 public:
  explicit EventGenerator(GeneratorConfig config);

  // Fills *out with the next event; false when the simulated span is over.
  bool next(tierflow::v1::PosEvent* out);

  // Fraction of simulated days done, in [0, 1].
  double progress() const;

 private:
  enum class Kind { kSale, kPayment, kRefund, kReturnNoReceipt, kFeedback };
  // A decided event, kept small until it is emitted.
  struct Pending {
    std::int64_t seconds = 0;     // event time, seconds since the Unix epoch
    std::uint64_t n = 0;          // the event-id counter
    Kind kind = Kind::kSale;
    int customer = 0;
    std::int64_t amount = 0;
    std::uint64_t ref = 0;        // the sale's n for payments and refunds
    int method = 0;               // TenderMethod
    int score = 0;
    int reason = 0;
  };

  void generate_day();
  void decide_sale(int customer, std::int64_t seconds, tierflow::v1::PosEvent* sale);
  void schedule(Pending p);
  std::string event_id(std::uint64_t n) const;
  void materialize(const Pending& p, tierflow::v1::PosEvent* out);

  GeneratorConfig config_;
  Rng rng_;
  std::vector<CustomerTraits> traits_;
  int day_index_ = 0;
  int total_days_ = 0;
  std::int64_t start_seconds_ = 0;
  std::uint64_t next_n_ = 1;
  // Sales are built in full when decided (they carry lines); follow-ups stay Pending.
  std::map<std::uint64_t, tierflow::v1::PosEvent> sales_today_;
  std::map<int, std::vector<Pending>> by_day_;   // day index -> decided events
  std::vector<Pending> today_;
  std::size_t today_pos_ = 0;
};

}  // namespace tierflow::pos_sim
