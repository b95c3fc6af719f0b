#include <algorithm>

#include "state.h"
#include "wire.h"

#include <absl/time/civil_time.h>
#include <absl/time/time.h>

namespace tierflow::ledger {

Micros to_micros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * kSecond + ts.nanos() / 1000;
}

void set_timestamp(Micros t, google::protobuf::Timestamp* ts) {
  Micros secs = t / kSecond;
  Micros rem = t % kSecond;
  if (rem < 0) {
    rem += kSecond;
    --secs;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(rem * 1000));
}

std::string format_time(Micros t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", absl::FromUnixMicros(t), absl::UTCTimeZone());
}

int64_t days_past(Micros t, Micros due) {
  if (t <= due) return 0;
  return (t - due + kDay - 1) / kDay;
}

int32_t month_key(Micros t) {
  absl::CivilMonth m(absl::ToCivilSecond(absl::FromUnixMicros(t), absl::UTCTimeZone()));
  return static_cast<int32_t>(m.year() * 12 + (m.month() - 1));
}

namespace {

void fill_totals(const CustomerState& s, v1::AccountSnapshot& out) {
  out.set_customer_id(s.customer_id);
  out.set_version(s.version);
  out.set_currency(s.currency);
  out.set_receivable_minor(s.receivable);
  out.set_credit_minor(s.credit);
  out.set_lifetime_sales_minor(s.lifetime_sales);
  out.set_lifetime_refunds_minor(s.lifetime_refunds);
  out.set_lifetime_gross_profit_minor(s.lifetime_gross_profit);
  out.set_lifetime_orders(s.lifetime_orders);
  out.set_lifetime_payments_minor(s.lifetime_payments);
  if (s.first_purchase) set_timestamp(*s.first_purchase, out.mutable_first_purchase());
  if (s.last_purchase) set_timestamp(*s.last_purchase, out.mutable_last_purchase());
  for (const auto& [key, m] : s.months) {
    auto* b = out.add_months();
    b->set_year(key / 12);
    b->set_month(key % 12 + 1);
    b->set_sales_minor(m.sales);
    b->set_refunds_minor(m.refunds);
    b->set_gross_profit_minor(m.gross_profit);
    b->set_orders(m.orders);
    b->set_refund_count(m.refund_count);
  }
  auto* f = out.mutable_feedback();
  f->set_count(s.feedback_count);
  f->set_promoters(s.promoters);
  f->set_passives(s.passives);
  f->set_detractors(s.detractors);
  f->set_average_score(s.feedback_count > 0 ? static_cast<double>(s.feedback_score_sum) /
                                                  s.feedback_count
                                            : 0.0);
  if (s.feedback_last) set_timestamp(*s.feedback_last, f->mutable_last_time());
}

}  // namespace

namespace {

// The compact stored form: kCompactMarker, then varints (signed values zigzag-encoded).
// A protobuf message never starts with a 0 byte (field number 0 is invalid), so files
// written before it (an AccountSnapshot per row) still decode.
constexpr char kCompactMarker = 0;
// kBackfillDay: CustomerState::backfill (rows written before it kept none: false).
enum : unsigned { kHasFirst = 1, kHasLast = 2, kHasFeedbackLast = 4, kBackfillDay = 8 };

void put(std::string& out, int64_t v) {
  wire::varint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t raw() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.empty()) break;
      const auto b = static_cast<uint8_t>(in.front());
      in.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok = false;
    return 0;
  }
  int64_t get() {
    const uint64_t v = raw();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
};

bool decode_compact(std::string_view bytes, CustomerState& s) {
  Reader r{bytes.substr(1)};
  const uint64_t currency_size = r.raw();
  if (!r.ok || currency_size > r.in.size()) return false;
  s.currency = r.in.substr(0, currency_size);
  r.in.remove_prefix(currency_size);
  s.last_event_time = r.get();
  s.receivable = r.get();
  s.credit = r.get();
  s.lifetime_sales = r.get();
  s.lifetime_refunds = r.get();
  s.lifetime_gross_profit = r.get();
  s.lifetime_orders = r.get();
  s.lifetime_payments = r.get();
  const uint64_t flags = r.raw();
  if (flags & kHasFirst) s.first_purchase = s.last_event_time - r.get();
  if (flags & kHasLast) s.last_purchase = s.last_event_time - r.get();
  s.backfill = (flags & kBackfillDay) != 0;
  s.feedback_count = static_cast<int32_t>(r.get());
  s.promoters = static_cast<int32_t>(r.get());
  s.passives = static_cast<int32_t>(r.get());
  s.detractors = static_cast<int32_t>(r.get());
  if (flags & kHasFeedbackLast) s.feedback_last = s.last_event_time - r.get();
  s.months.clear();
  const uint64_t months = r.raw();
  if (!r.ok || months > r.in.size()) return false;
  int64_t key = 0;
  for (uint64_t i = 0; i < months; ++i) {
    key += r.get();
    MonthTotals& m = s.months[static_cast<int32_t>(key)];
    m.sales = r.get();
    m.refunds = r.get();
    m.gross_profit = r.get();
    m.orders = r.get();
    m.refund_count = r.get();
  }
  return r.ok && r.in.empty();
}

}  // namespace

std::string encode_state(const CustomerState& s) {
  // customer_id, version and the feedback score sum are columns of their own.
  std::string out;
  out.reserve(64 + s.currency.size() + s.months.size() * 16);
  out.push_back(kCompactMarker);
  wire::varint(out, s.currency.size());
  out.append(s.currency);
  put(out, s.last_event_time);
  put(out, s.receivable);
  put(out, s.credit);
  put(out, s.lifetime_sales);
  put(out, s.lifetime_refunds);
  put(out, s.lifetime_gross_profit);
  put(out, s.lifetime_orders);
  put(out, s.lifetime_payments);
  wire::varint(out, (s.first_purchase ? kHasFirst : 0u) | (s.last_purchase ? kHasLast : 0u) |
                        (s.feedback_last ? kHasFeedbackLast : 0u) | (s.backfill ? kBackfillDay : 0u));
  // Times as distances back from the newest event time: short varints.
  if (s.first_purchase) put(out, s.last_event_time - *s.first_purchase);
  if (s.last_purchase) put(out, s.last_event_time - *s.last_purchase);
  put(out, s.feedback_count);
  put(out, s.promoters);
  put(out, s.passives);
  put(out, s.detractors);
  if (s.feedback_last) put(out, s.last_event_time - *s.feedback_last);
  wire::varint(out, s.months.size());
  int64_t key = 0;
  for (const auto& [k, m] : s.months) {
    put(out, k - key);
    key = k;
    put(out, m.sales);
    put(out, m.refunds);
    put(out, m.gross_profit);
    put(out, m.orders);
    put(out, m.refund_count);
  }
  return out;
}

bool decode_state(std::string_view bytes, CustomerState& s) {
  if (!bytes.empty() && bytes.front() == kCompactMarker) return decode_compact(bytes, s);
  // The older form: an AccountSnapshot of the totals, as_of = the newest event time.
  v1::AccountSnapshot snap;
  if (!snap.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  s.currency = snap.currency();
  s.last_event_time = to_micros(snap.as_of());
  s.receivable = snap.receivable_minor();
  s.credit = snap.credit_minor();
  s.lifetime_sales = snap.lifetime_sales_minor();
  s.lifetime_refunds = snap.lifetime_refunds_minor();
  s.lifetime_gross_profit = snap.lifetime_gross_profit_minor();
  s.lifetime_orders = snap.lifetime_orders();
  s.lifetime_payments = snap.lifetime_payments_minor();
  if (snap.has_first_purchase()) s.first_purchase = to_micros(snap.first_purchase());
  if (snap.has_last_purchase()) s.last_purchase = to_micros(snap.last_purchase());
  s.months.clear();
  for (const auto& b : snap.months()) {
    MonthTotals& m = s.months[b.year() * 12 + (b.month() - 1)];
    m.sales = b.sales_minor();
    m.refunds = b.refunds_minor();
    m.gross_profit = b.gross_profit_minor();
    m.orders = b.orders();
    m.refund_count = b.refund_count();
  }
  const auto& f = snap.feedback();
  s.feedback_count = f.count();
  s.promoters = f.promoters();
  s.passives = f.passives();
  s.detractors = f.detractors();
  if (f.has_last_time()) s.feedback_last = to_micros(f.last_time());
  return true;
}

v1::Ageing compute_ageing(const CustomerState& state, Micros as_of) {
  v1::Ageing a;
  for (const auto& inv : state.invoices) {
    if (inv.open <= 0 || inv.issued > as_of) continue;
    int64_t days = days_past(as_of, inv.due);
    if (days == 0) {
      a.set_current_minor(a.current_minor() + inv.open);
    } else if (days <= 30) {
      a.set_days_1_30_minor(a.days_1_30_minor() + inv.open);
    } else if (days <= 60) {
      a.set_days_31_60_minor(a.days_31_60_minor() + inv.open);
    } else if (days <= 90) {
      a.set_days_61_90_minor(a.days_61_90_minor() + inv.open);
    } else {
      a.set_over_90_minor(a.over_90_minor() + inv.open);
    }
  }
  return a;
}

v1::PaymentBehaviour compute_behaviour(const CustomerState& state, Micros as_of) {
  v1::PaymentBehaviour p;
  int32_t paid = 0, on_time = 0, late = 0;
  int64_t late_days_sum = 0, max_late = 0, overdue = 0;
  int32_t open = 0;
  const Micros window_start = as_of - 365 * kDay;
  for (const auto& inv : state.invoices) {
    if (inv.issued > as_of) continue;
    if (inv.open > 0) {
      ++open;
      if (inv.due < as_of) overdue += inv.open;
      continue;
    }
    if (!inv.closed || !inv.closed_by_payment) continue;
    if (*inv.closed <= window_start || *inv.closed > as_of) continue;
    ++paid;
    int64_t days = days_past(*inv.closed, inv.due);
    if (days == 0) {
      ++on_time;
    } else {
      ++late;
      late_days_sum += days;
      if (days > max_late) max_late = days;
    }
  }
  // No paid invoice in the window: no evidence of lateness, so the ratio is 1.
  p.set_on_time_ratio(paid > 0 ? static_cast<double>(on_time) / paid : 1.0);
  p.set_avg_days_late(late > 0 ? static_cast<double>(late_days_sum) / late : 0.0);
  p.set_max_days_late(static_cast<int32_t>(max_late));
  p.set_overdue_minor(overdue);
  p.set_invoices_paid(paid);
  p.set_invoices_open(open);
  return p;
}

namespace {

// The parts of a snapshot that are not totals: ageing, payment behaviour, open invoices.
void fill_derived(const CustomerState& state, Micros as_of, v1::AccountSnapshot& snap) {
  *snap.mutable_ageing() = compute_ageing(state, as_of);
  *snap.mutable_payment() = compute_behaviour(state, as_of);
  // Oldest first, so a reader can age them as of its own clock.
  std::vector<const Invoice*> open;
  for (const auto& inv : state.invoices) {
    if (inv.open > 0) open.push_back(&inv);
  }
  std::sort(open.begin(), open.end(), [](const Invoice* a, const Invoice* b) {
    return a->issued != b->issued ? a->issued < b->issued : a->sale_event_id < b->sale_event_id;
  });
  for (const Invoice* inv : open) {
    v1::OpenInvoice* o = snap.add_open_invoices();
    o->set_event_id(inv->sale_event_id);
    set_timestamp(inv->issued, o->mutable_issued_time());
    set_timestamp(inv->due, o->mutable_due_time());
    o->set_open_minor(inv->open);
  }
}

}  // namespace

v1::AccountSnapshot build_snapshot(const CustomerState& state, Micros as_of) {
  v1::AccountSnapshot snap;
  fill_totals(state, snap);
  set_timestamp(as_of, snap.mutable_as_of());
  fill_derived(state, as_of, snap);
  return snap;
}

namespace {

// fill_totals() written straight to the wire: the bytes SerializeAsString() gives for the
// message fill_totals() builds (fields in number order, zeros omitted), with no message
// in between. `scratch` holds one sub-message at a time.
void append_totals(const CustomerState& s, std::string& out, std::string& scratch) {
  auto sub = [&](int field) {
    wire::tag(out, field, 2);
    wire::varint(out, scratch.size());
    out += scratch;
    scratch.clear();
  };
  wire::string_field(out, 1, s.customer_id);
  wire::int64_field(out, 2, s.version);
  wire::string_field(out, 3, s.currency);
  wire::int64_field(out, 5, s.receivable);
  wire::int64_field(out, 6, s.credit);
  wire::int64_field(out, 7, s.lifetime_sales);
  wire::int64_field(out, 8, s.lifetime_refunds);
  wire::int64_field(out, 9, s.lifetime_gross_profit);
  wire::int64_field(out, 10, s.lifetime_orders);
  wire::int64_field(out, 11, s.lifetime_payments);
  if (s.first_purchase) wire::timestamp_field(out, 12, *s.first_purchase);
  if (s.last_purchase) wire::timestamp_field(out, 13, *s.last_purchase);
  scratch.clear();
  for (const auto& [key, m] : s.months) {
    wire::int64_field(scratch, 1, key / 12);
    wire::int64_field(scratch, 2, key % 12 + 1);
    wire::int64_field(scratch, 3, m.sales);
    wire::int64_field(scratch, 4, m.refunds);
    wire::int64_field(scratch, 5, m.gross_profit);
    wire::int64_field(scratch, 6, m.orders);
    wire::int64_field(scratch, 7, m.refund_count);
    sub(16);
  }
  wire::int64_field(scratch, 1, s.feedback_count);
  wire::int64_field(scratch, 2, s.promoters);
  wire::int64_field(scratch, 3, s.passives);
  wire::int64_field(scratch, 4, s.detractors);
  if (s.feedback_count > 0) {
    wire::double_field(scratch, 5, static_cast<double>(s.feedback_score_sum) / s.feedback_count);
  }
  if (s.feedback_last) wire::timestamp_field(scratch, 6, *s.feedback_last);
  sub(17);  // always present, as after mutable_feedback()
}

}  // namespace

void encode_state_and_snapshot(const CustomerState& state, const std::vector<Invoice>& invoices,
                               Micros as_of, google::protobuf::Arena& arena, std::string& stored,
                               std::string& snapshot) {
  stored = encode_state(state);
  encode_snapshot(state, invoices, as_of, arena, snapshot);
}

void encode_snapshot(const CustomerState& state, const std::vector<Invoice>& invoices, Micros as_of,
                     google::protobuf::Arena& arena, std::string& snapshot) {
  snapshot.clear();
  std::string scratch;
  append_totals(state, snapshot, scratch);
  auto* derived = google::protobuf::Arena::CreateMessage<v1::AccountSnapshot>(&arena);
  set_timestamp(as_of, derived->mutable_as_of());
  if (&invoices == &state.invoices) {
    fill_derived(state, as_of, *derived);
  } else {
    CustomerState view;
    view.invoices = invoices;
    fill_derived(view, as_of, *derived);
  }
  derived->AppendToString(&snapshot);
}

}  // namespace tierflow::ledger
