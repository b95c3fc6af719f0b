#include "batch_poster.h"

#include <utility>

#include "state.h"

namespace tierflow::ledger {

using rules::Outcome;

namespace {
constexpr std::string_view kUnparseable = "unparseable bytes: not a tierflow.v1.PosEvent";
}  // namespace

void BatchPoster::process_record(const ConsumedRecord& rec, const v1::PosEvent* parsed) {
  if (!uow_.advance(rec.topic, rec.partition, rec.offset, b_)) {
    ++b_.result.replayed;
    return;
  }
  Source src{rec.topic, rec.partition, rec.offset, rec.key, rec.value};
  if (!parsed) {
    reject(src, "", std::string(rec.key), std::string(kUnparseable));
    return;
  }
  handle_event(*parsed, src, /*released=*/false);
}

void BatchPoster::handle_event(const v1::PosEvent& ev, const Source& src, bool released) {
  if (auto bad = rules::check_header(ev, src.key, released)) {
    reject(src, ev.event_id(), ev.customer_id(), std::move(*bad));
    return;
  }
  const Micros t = to_micros(ev.event_time());
  // Every valid record of the partition moves its watermark, duplicates too: the watermark
  // is a function of the log, not of what the ledger already knew.
  if (!released) uow_.note_event_time(t, b_);
  if (!released && uow_.find_event(ev.event_id()) != nullptr) {
    ++b_.result.duplicates;
    return;
  }
  Outcome out;
  switch (ev.body_case()) {
    case v1::PosEvent::kSale:
      out = sale(ev, t);
      break;
    case v1::PosEvent::kRefund:
      out = refund(ev, t);
      break;
    case v1::PosEvent::kPayment:
      out = payment(ev, t);
      break;
    case v1::PosEvent::kFeedback:
      out = feedback(ev, t);
      break;
    default:
      out = Outcome::reject("event has no body");
  }
  switch (out.kind) {
    case Outcome::applied:
      ++(released ? b_.result.released : b_.result.applied);
      if (ev.has_sale()) release_waiting(ev.event_id());
      break;
    case Outcome::deferred:
      defer(ev, t, src, out.text);
      break;
    case Outcome::rejected:
      reject(src, ev.event_id(), ev.customer_id(), std::move(out.text));
      break;
  }
}

Outcome BatchPoster::sale(const v1::PosEvent& ev, Micros t) {
  rules::SaleAmounts amounts;
  if (Outcome out = rules::check_sale(ev.sale(), amounts); !out.is_ok()) return out;
  CustomerState* st = uow_.find_customer(ev.customer_id());
  rules::Posting p;
  if (Outcome out = rules::post_sale(ev, t, amounts, st ? *st : rules::new_customer(), p); !out.is_ok()) {
    return out;
  }
  return commit(ev, t, p, st);
}

Outcome BatchPoster::refund(const v1::PosEvent& ev, Micros t) {
  const v1::Refund& r = ev.refund();
  if (Outcome out = rules::check_refund(r); !out.is_ok()) return out;
  int64_t margin = r.amount().minor_units();
  const EventRow* sale = nullptr;
  const std::string& orig = r.original_event_id();
  if (!orig.empty()) {
    sale = uow_.find_event(orig);
    if (Outcome out = rules::check_refunded_sale(ev, sale, margin); !out.is_ok()) return out;
  }
  CustomerState* st = uow_.find_customer(ev.customer_id());
  rules::Posting p;
  if (Outcome out = rules::post_refund(ev, t, margin, st ? *st : rules::new_customer(), p); !out.is_ok()) {
    return out;
  }
  const int64_t refunded = sale ? sale->refunded + p.amount : 0;
  Outcome out = commit(ev, t, p, st);
  if (out.is_ok() && sale) uow_.set_refunded(orig, refunded);
  return out;
}

Outcome BatchPoster::payment(const v1::PosEvent& ev, Micros t) {
  const v1::Payment& p = ev.payment();
  if (Outcome out = rules::check_payment(p); !out.is_ok()) return out;
  CustomerState* st = uow_.find_customer(ev.customer_id());
  const std::string& named = p.invoice_event_id();
  if (!named.empty() && !rules::holds_invoice(st, named)) {
    if (Outcome out = rules::check_named_invoice(ev, uow_.find_event(named)); !out.is_ok()) return out;
  }
  rules::Posting posting;
  if (Outcome out = rules::post_payment(ev, t, st, posting); !out.is_ok()) return out;
  return commit(ev, t, posting, st);
}

Outcome BatchPoster::feedback(const v1::PosEvent& ev, Micros t) {
  if (Outcome out = rules::check_feedback(ev.feedback()); !out.is_ok()) return out;
  CustomerState* st = uow_.find_customer(ev.customer_id());
  CustomerState& c = st ? *st : uow_.add_customer(ev.customer_id());
  uow_.touch(c, t, ev.backfill(), b_);
  rules::apply_feedback(ev.feedback(), t, c);
  uow_.put_event({ev.event_id(), ev.customer_id(), EventKind::feedback, t, ev.feedback().score(), 0, -1, ""});
  return Outcome::ok();
}

Outcome BatchPoster::commit(const v1::PosEvent& ev, Micros t, const rules::Posting& p, CustomerState* st) {
  if (!uow_.postable(p.lines, p.currency)) return Outcome::reject(rules::overflow_reason(p));
  CustomerState& c = st ? *st : uow_.add_customer(ev.customer_id());
  uow_.touch(c, t, ev.backfill(), b_);
  rules::apply_posting(p, ev, t, c);
  uow_.move_balances(p.lines, p.currency, b_);
  b_.changes.journal.push_back(
      {c.customer_id, ++c.journal_seq, t, p.receivable_delta, rules::journal_entry(ev, p, t, c.receivable)});
  const EventKind kind = ev.has_sale() ? EventKind::sale : ev.has_refund() ? EventKind::refund : EventKind::payment;
  uow_.put_event({ev.event_id(), ev.customer_id(), kind, t, p.amount, 0, p.cost, std::string(p.currency)});
  return Outcome::ok();
}

void BatchPoster::defer(const v1::PosEvent& ev, Micros t, const Source& src, const std::string& waiting_for) {
  DeferredRow row;
  row.event_id = ev.event_id();
  row.waiting_for = waiting_for;
  row.customer_id = ev.customer_id();
  row.topic = std::string(src.topic);
  row.partition = src.partition;
  row.offset = src.offset;
  row.since = ev.has_received_time() ? to_micros(ev.received_time()) : t;
  row.value = std::string(src.value);
  uow_.add_deferred(std::move(row), b_);
  uow_.put_event({ev.event_id(), ev.customer_id(), EventKind::deferred, t, 0, 0, -1, ""});
}

void BatchPoster::release_waiting(const std::string& sale_id) {
  for (const auto& row : uow_.take_waiting(sale_id, b_)) {
    uow_.erase_event(row.event_id);
    Source src{row.topic, row.partition, row.offset, {}, row.value};
    v1::PosEvent ev;
    if (!ev.ParseFromString(row.value)) {
      reject(src, row.event_id, row.customer_id, std::string(kUnparseable));
      continue;
    }
    handle_event(ev, src, /*released=*/true);
  }
}

void BatchPoster::reject(const Source& src, std::string event_id, std::string customer_id, std::string reason) {
  Rejection r;
  r.event_id = std::move(event_id);
  r.customer_id = std::move(customer_id);
  r.partition = src.partition;
  r.offset = src.offset;
  r.reason = std::move(reason);
  r.value = std::string(src.value);
  uow_.reject(src.topic, src.key, std::move(r), b_);
}

}  // namespace tierflow::ledger
