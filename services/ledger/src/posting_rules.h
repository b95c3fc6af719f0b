// The ledger's posting rules: what one POS event does to its customer's account. Pure
// functions of the event and of the customer's state before it: no store, no cache, no
// batch. They validate, choose the journal lines and the totals the event moves, and name
// the reason of a rejection; the unit of work (unit_of_work.h) looks up what they need
// (the customer, the sale an event names) and applies what they decide.
//
// A rule that needs a lookup comes in steps, so the caller reads nothing for an event the
// first step already rejects: check_* (the event alone), then post_* (with the state).
// Reason texts are a contract: they are DLQ headers, logs, and tests assert them.
#pragma once

#include <absl/container/inlined_vector.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tierflow/ledger/store.h"
#include "tierflow/v1/events.pb.h"

namespace tierflow::ledger::rules {

inline constexpr int32_t kMaxTermsDays = 3650;

// Journal account names (JournalLine.account).
inline constexpr std::string_view kCash = "cash";
inline constexpr std::string_view kCard = "card";
inline constexpr std::string_view kBank = "bank";
inline constexpr std::string_view kReceivable = "receivable";
inline constexpr std::string_view kCustomerCredit = "customer_credit";
inline constexpr std::string_view kRevenue = "revenue";
inline constexpr std::string_view kRefunds = "refunds";

struct Line {
  std::string_view account;
  int64_t debit = 0;
  int64_t credit = 0;
};

// An event's journal lines (at most five); balanced by construction. Lines with neither
// debit nor credit are left out of the entry and move no balance.
using Lines = absl::InlinedVector<Line, 5>;

// Outcome of one event: applied, deferred until `text` (a sale id) arrives, or rejected
// with `text` as the reason.
struct Outcome {
  enum Kind { applied, deferred, rejected } kind = applied;
  std::string text;
  static Outcome ok() { return {}; }
  static Outcome reject(std::string reason) { return {rejected, std::move(reason)}; }
  static Outcome defer(std::string waiting_for) { return {deferred, std::move(waiting_for)}; }
  bool is_ok() const { return kind == applied; }
};

// The running totals an event may move.
struct Totals {
  int64_t receivable = 0, credit = 0;
  int64_t sales = 0, refunds = 0, gross_profit = 0, orders = 0, payments = 0;
};

// (invoice index in CustomerState::invoices, amount settled)
using Allocation = std::vector<std::pair<size_t, int64_t>>;

// What an accepted money event does to its customer, decided against the state before it.
// Every total in it is the value AFTER the event, checked for int64 overflow.
struct Posting {
  std::string_view kind;      // journal entry kind: "sale", "refund", "payment"
  std::string_view currency;  // the event's (a view into it)
  int64_t amount = 0;         // sale total, refund or payment amount
  int64_t cost = -1;          // sales: cost of goods when known
  Lines lines;
  int64_t receivable_delta = 0;  // of the journal row
  Totals totals;
  std::optional<int32_t> month_key;  // the month bucket it moves (sales and refunds)
  MonthTotals month;                 // that bucket after the event
  Allocation settled;                // invoices it settles, closed by a payment or not
  bool settled_by_payment = false;
  int64_t invoice_amount = 0;  // sales: the on-account part, a new invoice when > 0
  Micros invoice_due = 0;
};

// The state of a customer the ledger has not seen: what rules see for a new account.
const CustomerState& new_customer();

// The envelope: ids, time, body, and (unless `released`: it was deferred and its record
// checked then) the record key against the customer id.
std::optional<std::string> check_header(const v1::PosEvent& ev, std::string_view record_key, bool released);

// --- sales -----------------------------------------------------------------------------
struct SaleAmounts {
  int64_t total = 0, cash = 0, card = 0, bank = 0, on_account = 0;
  int64_t cost = -1;  // sale cost, else the sum of line costs when any, else -1
  int64_t profit = 0;
};
// The sale alone: currency, signs, line and tender sums, terms, cost.
Outcome check_sale(const v1::Sale& sale, SaleAmounts& out);
Outcome post_sale(const v1::PosEvent& ev, Micros t, const SaleAmounts& amounts, const CustomerState& st, Posting& out);

// --- refunds ---------------------------------------------------------------------------
Outcome check_refund(const v1::Refund& refund);
// Against the sale it names (nullptr: not seen yet, so the refund waits for it). Sets
// `margin` to the refunded share of the sale's gross profit (the amount when unknown).
Outcome check_refunded_sale(const v1::PosEvent& ev, const EventRow* sale, int64_t& margin);
Outcome post_refund(const v1::PosEvent& ev, Micros t, int64_t margin, const CustomerState& st, Posting& out);

// --- payments --------------------------------------------------------------------------
Outcome check_payment(const v1::Payment& payment);
// True when `st` holds (in memory) the invoice of sale `sale_id`: no lookup is needed.
bool holds_invoice(const CustomerState* st, std::string_view sale_id);
// Against the sale the payment names (nullptr: not seen yet, so it waits for it).
Outcome check_named_invoice(const v1::PosEvent& ev, const EventRow* sale);
// `st` is nullptr for a customer the ledger never saw.
Outcome post_payment(const v1::PosEvent& ev, Micros t, const CustomerState* st, Posting& out);

// --- feedback --------------------------------------------------------------------------
Outcome check_feedback(const v1::Feedback& feedback);
void apply_feedback(const v1::Feedback& feedback, Micros t, CustomerState& st);

// Why a posting the account's totals admit is refused by the ledger's (the caller checks
// the ledger-wide balances): "sale of 12.00 CNY overflows the account's 64-bit totals".
std::string overflow_reason(const Posting& posting);

// Applies a decided posting to the customer it was decided for: totals, month bucket,
// currency, purchase dates, the new invoice, the invoices settled. The journal entry and
// the ledger's balances are the caller's.
void apply_posting(const Posting& posting, const v1::PosEvent& ev, Micros t, CustomerState& st);

// The v1::JournalEntry of a posting, encoded by hand: the bytes SerializeAsString() would
// produce. `receivable` is the customer's receivable after the event.
std::string journal_entry(const v1::PosEvent& ev, const Posting& posting, Micros t, int64_t receivable);

// The reason a deferred event is given up: "sale s-9 never arrived within 7 days", or,
// without a window text, "... never arrived before 2024-03-08T00:00:00Z".
std::string never_arrived(std::string_view waiting_for, Micros before, std::string_view window_text);

}  // namespace tierflow::ledger::rules
