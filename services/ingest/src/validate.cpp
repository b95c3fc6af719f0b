#include "src/validate.h"

#include <absl/time/civil_time.h>
#include <fmt/format.h>

#include "common/money/money.h"
#include "common/time/time.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/events.pb.h"

namespace tierflow::ingest {

namespace {

constexpr size_t kMaxIdLength = 128;
constexpr int64_t kMaxAmount = int64_t{1} << 53;  // far above any real till, far below overflow

std::optional<std::string> check_id(std::string_view field, const std::string& id) {
  if (id.empty()) return fmt::format("{} is missing", field);
  if (id.size() > kMaxIdLength) return fmt::format("{} is longer than {} characters", field, kMaxIdLength);
  for (unsigned char c : id) {
    if (c < 0x21 || c == 0x7f) return fmt::format("{} contains a space or control character", field);
  }
  return std::nullopt;
}

std::optional<std::string> check_money(std::string_view field, const v1::Money& m, bool allow_zero) {
  if (!money::is_known_currency(m.currency())) {
    return m.currency().empty() ? fmt::format("{}.currency is missing", field)
                                : fmt::format("{}.currency '{}' is not a known ISO 4217 code", field, m.currency());
  }
  if (m.minor_units() < 0) return fmt::format("{} is negative ({})", field, m.minor_units());
  if (!allow_zero && m.minor_units() == 0) return fmt::format("{} must be above zero", field);
  if (m.minor_units() > kMaxAmount) return fmt::format("{} is implausibly large ({})", field, m.minor_units());
  return std::nullopt;
}

std::optional<std::string> check_sale(const v1::Sale& sale) {
  if (auto e = check_money("sale.total", sale.total(), true)) return e;
  const std::string& currency = sale.total().currency();
  if (sale.lines_size() > 0) {
    int64_t sum = 0;
    for (int i = 0; i < sale.lines_size(); ++i) {
      const auto& line = sale.lines(i);
      const std::string field = fmt::format("sale.lines[{}].amount", i);
      if (auto e = check_money(field, line.amount(), true)) return e;
      if (line.amount().currency() != currency) return fmt::format("{} is in {}, the sale in {}", field, line.amount().currency(), currency);
      if (line.quantity() < 0) return fmt::format("sale.lines[{}].quantity is negative", i);
      sum += line.amount().minor_units();  // each <= kMaxAmount, so this never overflows
      if (sum > kMaxAmount) return fmt::format("sale.lines: they sum to more than {}", kMaxAmount);
    }
    if (sum != sale.total().minor_units()) {
      return fmt::format("sale.lines: they sum to {} but the total is {}", money::format(sum, currency),
                         money::format(sale.total().minor_units(), currency));
    }
  }
  if (sale.tenders_size() > 0) {
    int64_t sum = 0;
    for (int i = 0; i < sale.tenders_size(); ++i) {
      const auto& t = sale.tenders(i);
      const std::string field = fmt::format("sale.tenders[{}]", i);
      if (t.method() == v1::TENDER_METHOD_UNSPECIFIED) return field + ".method is missing";
      if (auto e = check_money(field + ".amount", t.amount(), true)) return e;
      if (t.amount().currency() != currency) return fmt::format("{} is in {}, the sale in {}", field, t.amount().currency(), currency);
      sum += t.amount().minor_units();
      if (sum > kMaxAmount) return fmt::format("sale.tenders: they sum to more than {}", kMaxAmount);
    }
    if (sum != sale.total().minor_units()) {
      return fmt::format("sale.tenders: they sum to {} but the total is {}", money::format(sum, currency),
                         money::format(sale.total().minor_units(), currency));
    }
  }
  if (sale.payment_terms_days() < 0 || sale.payment_terms_days() > 3650) {
    return fmt::format("sale.payment_terms_days {} is outside 0..3650", sale.payment_terms_days());
  }
  if (sale.has_cost()) {
    if (auto e = check_money("sale.cost", sale.cost(), true)) return e;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> validate_event(const v1::PosEvent& event, absl::Time now) {
  if (auto e = check_id("event_id", event.event_id())) return e;
  if (auto e = check_id("customer_id", event.customer_id())) return e;
  if (!event.has_event_time()) return std::string("event_time is missing");
  const absl::Time t = timeutil::from_proto(event.event_time());
  if (t < absl::FromCivil(absl::CivilDay(1990, 1, 1), absl::UTCTimeZone())) {
    return fmt::format("event_time {} is before 1990", timeutil::format(t));
  }
  if (t > now + absl::Hours(24)) return fmt::format("event_time {} is more than a day in the future", timeutil::format(t));
  switch (event.body_case()) {
    case v1::PosEvent::kSale:
      return check_sale(event.sale());
    case v1::PosEvent::kRefund:
      if (!event.refund().original_event_id().empty()) {
        if (auto e = check_id("refund.original_event_id", event.refund().original_event_id())) return e;
      }
      return check_money("refund.amount", event.refund().amount(), false);
    case v1::PosEvent::kPayment:
      return check_money("payment.amount", event.payment().amount(), false);
    case v1::PosEvent::kFeedback:
      if (event.feedback().score() < 0 || event.feedback().score() > 10) {
        return fmt::format("feedback.score {} is outside 0..10", event.feedback().score());
      }
      return std::nullopt;
    case v1::PosEvent::BODY_NOT_SET:
      break;
  }
  return std::string("the event has no body (sale, refund, payment or feedback)");
}

std::optional<std::string> validate_profile(const v1::CustomerProfile& p) {
  if (auto e = check_id("customer_id", p.customer_id())) return e;
  if (!p.time_zone().empty()) {
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(p.time_zone(), &tz)) return fmt::format("time_zone '{}' is not an IANA zone", p.time_zone());
  }
  if (p.has_birthday()) {
    const auto& b = p.birthday();
    const int year = b.year() == 0 ? 2000 : b.year();  // a leap year, so 02-29 passes without a year
    const absl::CivilDay day(year, b.month(), b.day());
    if (b.month() < 1 || b.month() > 12 || day.month() != b.month() || day.day() != b.day()) {
      return fmt::format("birthday {:04}-{:02}-{:02} is not a date", b.year(), b.month(), b.day());
    }
  }
  if (p.has_lunar_birthday()) {
    const auto& l = p.lunar_birthday();
    if (l.month() < 1 || l.month() > 12 || l.day() < 1 || l.day() > 30) {
      return fmt::format("lunar_birthday month {} day {} is not a lunar date", l.month(), l.day());
    }
  }
  if (!p.email().empty() && p.email().find('@') == std::string::npos) return std::string("email has no '@'");
  return std::nullopt;
}

}  // namespace tierflow::ingest
