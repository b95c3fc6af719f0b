#include "common/log/log.h"

#include <spdlog/spdlog.h>

#include <cctype>

namespace tierflow::log {

void init(std::string_view service, std::string_view level) {
  spdlog::set_pattern(fmt::format("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ {} %v", service), spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

std::string mask_email(std::string_view email) {
  const size_t at = email.find('@');
  if (at == std::string_view::npos) return email.empty() ? "" : "***";
  return (at > 0 ? std::string(1, email[0]) : std::string()) + "***" + std::string(email.substr(at));
}

std::string mask_phone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
  }
  if (digits.empty()) return "";
  return "***" + digits.substr(digits.size() > 4 ? digits.size() - 4 : 0);
}

}  // namespace tierflow::log
