#include "format.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "fmt/format.h"

namespace tierflow::tierctl {

std::string format_int(std::int64_t n) {
  // Work on the unsigned magnitude so INT64_MIN does not overflow.
  const bool negative = n < 0;
  std::uint64_t u = negative ? ~static_cast<std::uint64_t>(n) + 1 : static_cast<std::uint64_t>(n);
  std::string digits = std::to_string(u);
  std::string out;
  const std::size_t lead = digits.size() % 3 == 0 ? 3 : digits.size() % 3;
  out.append(digits, 0, lead);
  for (std::size_t i = lead; i < digits.size(); i += 3) {
    out.push_back(',');
    out.append(digits, i, 3);
  }
  return negative ? "-" + out : out;
}

int currency_digits(std::string_view c) {
  static constexpr std::array<std::string_view, 16> kZero = {
      "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
      "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF"};
  static constexpr std::array<std::string_view, 7> kThree = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
  if (std::find(kZero.begin(), kZero.end(), c) != kZero.end()) return 0;
  if (std::find(kThree.begin(), kThree.end(), c) != kThree.end()) return 3;
  return 2;
}

std::string format_money(std::int64_t minor, std::string_view currency) {
  const int digits = currency_digits(currency);
  const bool negative = minor < 0;
  const std::uint64_t u = negative ? ~static_cast<std::uint64_t>(minor) + 1 : static_cast<std::uint64_t>(minor);
  std::uint64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  const std::uint64_t major = u / scale;
  const std::uint64_t fraction = u % scale;
  // format_int of the major part cannot overflow: |INT64_MIN| / 10^d fits for d >= 1, and
  // for d == 0 the magnitude is formatted from the unsigned value directly.
  std::string out = digits == 0 && u > static_cast<std::uint64_t>(INT64_MAX)
                        ? std::to_string(u)
                        : format_int(static_cast<std::int64_t>(major));
  if (digits > 0) out += fmt::format(".{:0{}}", fraction, digits);
  if (negative) out = "-" + out;
  if (!currency.empty()) out += fmt::format(" {}", currency);
  return out;
}

std::string format_share(double share) { return fmt::format("{:.1f}%", share * 100.0); }

std::string format_time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

bool parse_time(std::string_view text, google::protobuf::Timestamp* out) {
  const std::string s(text);
  absl::CivilDay day;
  if (s.size() == 10 && absl::ParseCivilTime(s, &day)) {
    out->set_seconds(absl::ToUnixSeconds(absl::FromCivil(day, absl::UTCTimeZone())));
    out->set_nanos(0);
    return true;
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, s, &t, &err)) {
    out->set_seconds(absl::ToUnixSeconds(t));
    out->set_nanos(0);
    return true;
  }
  return false;
}

std::size_t display_width(std::string_view s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = c;
    int len = 1;
    if (c >= 0xF0) { cp = c & 0x07; len = 4; }
    else if (c >= 0xE0) { cp = c & 0x0F; len = 3; }
    else if (c >= 0xC0) { cp = c & 0x1F; len = 2; }
    for (int k = 1; k < len && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    i += static_cast<std::size_t>(len);
    const bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
    width += wide ? 2 : 1;
  }
  return width;
}

Table::Table(std::vector<std::string> headers, std::vector<Align> align)
    : headers_(std::move(headers)), align_(std::move(align)) {
  align_.resize(headers_.size(), Align::kLeft);
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> width(headers_.size(), 0);
  for (std::size_t c = 0; c < headers_.size(); ++c) width[c] = display_width(headers_[c]);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], display_width(row[c]));
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(width[c] - display_width(cells[c]), ' ');
      if (c > 0) line += "  ";
      line += align_[c] == Align::kRight ? pad + cells[c] : cells[c] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  emit(headers_);
  std::vector<std::string> rule;
  for (std::size_t w : width) rule.emplace_back(w, '-');
  emit(rule);
  for (const auto& row : rows_) emit(row);
  return out;
}

std::string status_code_name(int code) {
  static constexpr std::array<std::string_view, 17> kNames = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(kNames.size())) return std::string(kNames[static_cast<std::size_t>(code)]);
  return fmt::format("CODE_{}", code);
}

std::string format_rpc_error(std::string_view verb, int code, std::string_view message) {
  std::string text(message);
  if (code == 12) {  // UNIMPLEMENTED
    text = text.empty() ? "not implemented yet by the server"
                        : fmt::format("not implemented yet by the server ({})", text);
  } else if (code == 14 && text.empty()) {  // UNAVAILABLE
    text = "the server is unreachable";
  }
  return fmt::format("tierctl: {}: {}: {}", verb, status_code_name(code), text);
}

}  // namespace tierflow::tierctl
