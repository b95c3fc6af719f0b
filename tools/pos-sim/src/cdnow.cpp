#include "cdnow.h"

#include <cctype>
#include <filesystem>
#include <limits>
#include <vector>

#include <charconv>
#include "absl/time/time.h"
#include "fmt/format.h"

namespace tierflow::pos_sim {
namespace {

// Abseil's string_view is not std::string_view in Debian's build, so no absl::StrSplit here.
std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (i < s.size()) {
    while (i < s.size() && ws(s[i])) ++i;
    const std::size_t b = i;
    while (i < s.size() && !ws(s[i])) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

template <typename T>
bool to_int(std::string_view s, T* out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void set_money(tierflow::v1::Money* m, std::int64_t minor) {
  m->set_minor_units(minor);
  m->set_currency("USD");
}

}  // namespace

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

absl::StatusOr<std::int64_t> parse_decimal_cents(std::string_view text) {
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(frac)) || frac.size() > 2) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not an amount with at most two decimals", text));
  }
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 100;
  std::int64_t units = 0;
  for (char c : whole) {
    if (units > (kMax - 9) / 10) return absl::OutOfRangeError(fmt::format("'{}' is too large", text));
    units = units * 10 + (c - '0');
  }
  std::int64_t cents = 0;
  if (!frac.empty()) cents = (frac[0] - '0') * 10 + (frac.size() == 2 ? frac[1] - '0' : 0);
  return units * 100 + cents;
}

absl::StatusOr<CdnowRow> parse_cdnow_line(std::string_view line, std::int64_t line_number) {
  const std::vector<std::string_view> fields = split_ws(line);
  auto fail = [&](std::string_view what) {
    return absl::InvalidArgumentError(fmt::format("line {}: {}", line_number, what));
  };
  if (fields.size() != 4) {
    return fail(fmt::format("expected 4 fields (customer_id date cds dollars), found {}", fields.size()));
  }
  CdnowRow row;
  row.line_number = line_number;
  if (!all_digits(fields[0])) return fail("customer_id is not a number");
  row.customer_id = std::string(fields[0]);
  int date = 0;
  if (fields[1].size() != 8 || !all_digits(fields[1]) || !to_int(fields[1], &date)) {
    return fail("date is not YYYYMMDD");
  }
  const int y = date / 10000, m = date / 100 % 100, d = date % 100;
  row.date = absl::CivilDay(y, m, d);
  if (row.date.year() != y || row.date.month() != m || row.date.day() != d) {
    return fail(fmt::format("{} is not a calendar date", fields[1]));
  }
  if (!all_digits(fields[2]) || !to_int(fields[2], &row.cds)) {
    return fail("number_of_cds is not a non-negative integer");
  }
  auto cents = parse_decimal_cents(fields[3]);
  if (!cents.ok()) return fail(std::string(cents.status().message()));
  row.cents = *cents;
  return row;
}

std::string cdnow_customer_id(std::string_view file_id) { return fmt::format("cdnow-{}", file_id); }

tierflow::v1::PosEvent cdnow_event(const CdnowRow& row) {
  tierflow::v1::PosEvent e;
  e.set_event_id(fmt::format("cdnow-{}", row.line_number));
  e.set_customer_id(cdnow_customer_id(row.customer_id));
  e.set_store_id("cdnow");
  e.set_terminal_id("cdnow-web");
  e.mutable_event_time()->set_seconds(
      absl::ToUnixSeconds(absl::FromCivil(row.date, absl::UTCTimeZone())));
  auto* sale = e.mutable_sale();
  set_money(sale->mutable_total(), row.cents);
  auto* line = sale->add_lines();
  line->set_sku("cdnow-cd");
  line->set_quantity(row.cds);
  // The file has only the row total; the unit price is that total shared out, rounded down.
  set_money(line->mutable_unit_price(), row.cds > 0 ? row.cents / row.cds : row.cents);
  set_money(line->mutable_amount(), row.cents);
  auto* tender = sale->add_tenders();
  tender->set_method(tierflow::v1::TENDER_METHOD_CASH);
  set_money(tender->mutable_amount(), row.cents);
  return e;
}

tierflow::v1::CustomerProfile cdnow_profile(const std::string& customer_id) {
  tierflow::v1::CustomerProfile p;
  p.set_customer_id(customer_id);
  p.set_name(fmt::format("CDNOW customer {}", customer_id.substr(6)));
  p.set_language("en");
  p.set_time_zone("UTC");
  return p;
}

absl::StatusOr<CdnowReader> CdnowReader::open(const std::string& path) {
  auto file = LineFile::open(path);
  if (!file.ok()) return file.status();
  return CdnowReader(std::move(*file));
}

bool CdnowReader::next(CdnowRow* row, std::string* error) {
  error->clear();
  std::string_view trimmed;
  while (file_.next(&trimmed)) {
    if (trimmed.empty()) continue;
    if (file_.line_number() == 1 && std::isalpha(static_cast<unsigned char>(trimmed[0]))) continue;
    auto parsed = parse_cdnow_line(trimmed, file_.line_number());
    if (!parsed.ok()) {
      *error = std::string(parsed.status().message());
      return true;
    }
    *row = std::move(*parsed);
    return true;
  }
  return false;
}

double CdnowReader::progress() const { return file_.progress(); }

}  // namespace tierflow::pos_sim
