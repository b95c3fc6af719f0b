#include "services/notification/src/calendar/holidays.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "fmt/format.h"
#include "services/notification/src/calendar/solar_term.h"
#include "yaml-cpp/yaml.h"

namespace tierflow::notification::calendar {
namespace {

const std::set<std::string, std::less<>> kEntryKeys = {"id", "names", "solar", "lunar", "solar_term", "date"};
const std::set<std::string, std::less<>> kRuleKeys = {"solar", "lunar", "solar_term", "date"};
const char* const kRequiredLanguages[] = {"zh-CN", "en"};

// Errors name the place in the file: "<source>:<line>:<column>: <field>: <message>".
class Context {
 public:
  explicit Context(const std::string& source) : source_(source) {}
  [[noreturn]] void fail(const YAML::Node& at, const std::string& field, const std::string& message) const {
    const YAML::Mark mark = at.Mark();
    if (mark.is_null()) throw HolidayError(fmt::format("{}: {}: {}", source_, field, message));
    throw HolidayError(fmt::format("{}:{}:{}: {}: {}", source_, mark.line + 1, mark.column + 1, field, message));
  }
  std::string scalar(const YAML::Node& node, const std::string& field) const {
    if (!node.IsScalar()) fail(node, field, "expected a scalar");
    return node.Scalar();
  }

 private:
  const std::string& source_;
};

bool to_int(std::string_view s, int* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool valid_gregorian(int year, int month, int day) {
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  const absl::CivilDay d(year, month, day);
  return d.month() == month && d.day() == day;
}

// "YYYY-MM-DD", no normalization: 2026-02-30 is an error, not 2 March.
std::optional<absl::CivilDay> parse_day(std::string_view s) {
  int y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !to_int(s.substr(0, 4), &y) || !to_int(s.substr(5, 2), &m) ||
      !to_int(s.substr(8, 2), &d) || !valid_gregorian(y, m, d)) {
    return std::nullopt;
  }
  return absl::CivilDay(y, m, d);
}

HolidayRule parse_rule(const Context& ctx, const std::string& key, const YAML::Node& node, const std::string& field) {
  if (key == "solar") {
    const std::string text = ctx.scalar(node, field);
    SolarRule rule;
    const auto dash = text.find('-');
    // A leap year (2000) accepts 02-29, which then falls in leap years only.
    if (dash == std::string::npos || !to_int(std::string_view(text).substr(0, dash), &rule.month) ||
        !to_int(std::string_view(text).substr(dash + 1), &rule.day) || !valid_gregorian(2000, rule.month, rule.day)) {
      ctx.fail(node, field, fmt::format("'{}' is not a month-day like 10-01", text));
    }
    return rule;
  }
  if (key == "lunar") {
    const std::string text = ctx.scalar(node, field);
    LunarRule rule;
    if (text.rfind("last-of-", 0) == 0) {
      rule.last_of_month = true;
      if (!to_int(std::string_view(text).substr(8), &rule.month) || rule.month < 1 || rule.month > 12) {
        ctx.fail(node, field, fmt::format("'{}': expected last-of-<month 1..12>, like last-of-12", text));
      }
      return rule;
    }
    const auto date = parse_lunar_date(text);
    if (!date) ctx.fail(node, field, fmt::format("'{}' is not a lunar month-day like 8-15 or last-of-12", text));
    if (date->leap) ctx.fail(node, field, "holidays are in regular months; a leap month (L) is not allowed");
    rule.month = date->month;
    rule.day = date->day;
    return rule;
  }
  if (key == "solar_term") {
    SolarTermRule rule;
    rule.name = ctx.scalar(node, field);
    const auto longitude = solar_term_longitude(rule.name);
    if (!longitude) ctx.fail(node, field, fmt::format("unknown solar term '{}' (pinyin, like qingming)", rule.name));
    rule.longitude = *longitude;
    return rule;
  }
  ExplicitDatesRule rule;
  auto add = [&](const YAML::Node& item, const std::string& item_field) {
    const std::string text = ctx.scalar(item, item_field);
    const auto day = parse_day(text);
    if (!day) ctx.fail(item, item_field, fmt::format("'{}' is not a date like 2026-05-01", text));
    rule.days.push_back(*day);
  };
  if (node.IsSequence()) {
    if (node.size() == 0) ctx.fail(node, field, "an empty list of dates");
    for (std::size_t i = 0; i < node.size(); ++i) add(node[i], fmt::format("{}[{}]", field, i));
  } else {
    add(node, field);
  }
  std::sort(rule.days.begin(), rule.days.end());
  return rule;
}

Holiday parse_entry(const Context& ctx, const YAML::Node& entry, const std::string& field) {
  if (!entry.IsMap()) ctx.fail(entry, field, "expected a map with id, names and one rule");
  Holiday holiday;
  std::optional<std::string> rule_key;
  for (const auto& kv : entry) {
    const std::string key = kv.first.Scalar();
    const std::string key_field = field + "." + key;
    if (!kEntryKeys.contains(key)) {
      ctx.fail(kv.first, key_field, "unknown key (allowed: id, names, solar, lunar, solar_term, date)");
    }
    if (kRuleKeys.contains(key)) {
      if (rule_key)
        ctx.fail(kv.first, key_field, fmt::format("a second rule (already '{}'): one rule per entry", *rule_key));
      rule_key = key;
      holiday.rule = parse_rule(ctx, key, kv.second, key_field);
    }
  }
  const YAML::Node id = entry["id"];
  if (!id) ctx.fail(entry, field + ".id", "missing");
  holiday.id = ctx.scalar(id, field + ".id");
  if (holiday.id.empty() || !std::all_of(holiday.id.begin(), holiday.id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    ctx.fail(id, field + ".id", fmt::format("'{}': use [a-z0-9_]+", holiday.id));
  }
  const YAML::Node names = entry["names"];
  if (!names) ctx.fail(entry, field + ".names", "missing (zh-CN and en)");
  if (!names.IsMap()) ctx.fail(names, field + ".names", "expected a map of language -> name");
  for (const auto& kv : names) {
    const std::string lang = kv.first.Scalar();
    const std::string name = ctx.scalar(kv.second, field + ".names." + lang);
    if (name.empty()) ctx.fail(kv.second, field + ".names." + lang, "empty");
    holiday.names[lang] = name;
  }
  for (const char* lang : kRequiredLanguages) {
    if (!holiday.names.contains(lang)) ctx.fail(names, field + ".names", fmt::format("missing language {}", lang));
  }
  if (!rule_key) ctx.fail(entry, field, "no rule: one of solar, lunar, solar_term, date");
  return holiday;
}

void check_unique(const std::vector<Holiday>& holidays, const std::string& source) {
  std::set<std::string_view> ids;
  for (const auto& h : holidays) {
    if (!ids.insert(h.id).second) throw HolidayError(fmt::format("{}: duplicate holiday id '{}'", source, h.id));
    for (const char* lang : kRequiredLanguages) {
      if (!h.names.contains(lang))
        throw HolidayError(fmt::format("{}: holiday '{}' has no {} name", source, h.id, lang));
    }
  }
}

void add_lunar(const LunarRule& rule, int gregorian_year, std::vector<absl::CivilDay>* out) {
  // Lunar year Y starts in Jan/Feb of Gregorian Y and ends in Jan/Feb of Y+1.
  for (int lunar_year : {gregorian_year - 1, gregorian_year}) {
    const LunarDate date{rule.month, rule.last_of_month ? 30 : rule.day, false};
    const absl::CivilDay day = observed_in(lunar_year, date);
    if (day.year() == gregorian_year) out->push_back(day);
  }
}

}  // namespace

const std::string& Holiday::name(std::string_view language) const {
  auto it = names.find(language);
  if (it == names.end()) it = names.find("en");
  if (it == names.end()) it = names.begin();
  return it->second;
}

HolidayCalendar::HolidayCalendar(std::vector<Holiday> holidays) : holidays_(std::move(holidays)) {
  check_unique(holidays_, "holiday calendar");
}

HolidayCalendar HolidayCalendar::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw HolidayError(fmt::format("{}: cannot open", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

HolidayCalendar HolidayCalendar::parse(std::string_view yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    throw HolidayError(fmt::format("{}:{}:{}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  const Context ctx(source);
  if (!root.IsMap()) ctx.fail(root, "(top)", "expected a map with the key 'holidays'");
  for (const auto& kv : root) {
    if (kv.first.Scalar() != "holidays") ctx.fail(kv.first, kv.first.Scalar(), "unknown key (allowed: holidays)");
  }
  const YAML::Node list = root["holidays"];
  if (!list || !list.IsSequence()) ctx.fail(root, "holidays", "expected a list of holidays");
  std::vector<Holiday> holidays;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string field = fmt::format("holidays[{}]", i);
    holidays.push_back(parse_entry(ctx, list[i], field));
    if (!ids.insert(holidays.back().id).second) {
      ctx.fail(list[i]["id"], field + ".id", fmt::format("duplicate id '{}'", holidays.back().id));
    }
  }
  return HolidayCalendar(std::move(holidays));
}

std::vector<absl::CivilDay> HolidayCalendar::dates_of(const Holiday& holiday, int year) const {
  std::vector<absl::CivilDay> out;
  std::visit(
      [&](const auto& rule) {
        using R = std::decay_t<decltype(rule)>;
        if constexpr (std::is_same_v<R, SolarRule>) {
          if (valid_gregorian(year, rule.month, rule.day)) out.emplace_back(year, rule.month, rule.day);
        } else if constexpr (std::is_same_v<R, LunarRule>) {
          add_lunar(rule, year, &out);
        } else if constexpr (std::is_same_v<R, SolarTermRule>) {
          out.push_back(solar_term_day(year, rule.longitude));
        } else {
          for (const auto& d : rule.days) {
            if (d.year() == year) out.push_back(d);
          }
        }
      },
      holiday.rule);
  return out;
}

std::vector<HolidayOccurrence> HolidayCalendar::occurrences(int year) const {
  std::vector<HolidayOccurrence> out;
  for (const auto& h : holidays_) {
    for (const auto& day : dates_of(h, year)) out.push_back({day, &h});
  }
  std::sort(out.begin(), out.end(), [](const HolidayOccurrence& a, const HolidayOccurrence& b) {
    return a.day != b.day ? a.day < b.day : a.holiday->id < b.holiday->id;
  });
  return out;
}

std::vector<const Holiday*> HolidayCalendar::holidays_on(absl::CivilDay day) const {
  std::vector<const Holiday*> out;
  for (const auto& h : holidays_) {
    for (const auto& d : dates_of(h, static_cast<int>(day.year()))) {
      if (d == day) out.push_back(&h);
    }
  }
  std::sort(out.begin(), out.end(), [](const Holiday* a, const Holiday* b) { return a->id < b->id; });
  return out;
}

const Holiday* HolidayCalendar::find(std::string_view id) const {
  for (const auto& h : holidays_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

}  // namespace tierflow::notification::calendar
