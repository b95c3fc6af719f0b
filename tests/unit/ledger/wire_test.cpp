// The ledger's hand-written wire encoder must produce exactly the bytes the generated
// code would: readers compare and parse what the journal stores.
#include "wire.hpp"
#include "state.hpp"

#include <gtest/gtest.h>

#include <climits>

#include "tierflow/v1/ledger.pb.h"

namespace tierflow::ledger {
namespace {

std::string encode_line(std::string_view account, int64_t debit, int64_t credit) {
  std::string out;
  wire::string_field(out, 1, account);
  wire::int64_field(out, 2, debit);
  wire::int64_field(out, 3, credit);
  return out;
}

TEST(LedgerWire, JournalLinesMatchTheGeneratedEncoder) {
  for (int64_t debit : {int64_t{0}, int64_t{1}, int64_t{127}, int64_t{128}, int64_t{-5}, INT64_MAX, INT64_MIN}) {
    v1::JournalLine line;
    line.set_account("receivable");
    line.set_debit_minor(debit);
    line.set_credit_minor(300);
    EXPECT_EQ(encode_line("receivable", debit, 300), line.SerializeAsString()) << debit;
  }
  EXPECT_EQ(encode_line("", 0, 0), v1::JournalLine().SerializeAsString());
}

TEST(LedgerWire, TimestampsMatchIncludingBeforeTheEpoch) {
  for (Micros t : {Micros{0}, Micros{1}, Micros{1'700'000'000'123'456}, Micros{-1}, Micros{-1'500'000}}) {
    std::string mine;
    wire::timestamp_field(mine, 4, t);
    v1::JournalEntry entry;
    set_timestamp(t, entry.mutable_event_time());
    EXPECT_EQ(mine, entry.SerializeAsString()) << t;
  }
}

}  // namespace
}  // namespace tierflow::ledger
