// Logging: spdlog with one pattern for the suite. Logs name customer ids and event ids,
// never personal data: pass e-mail addresses and phone numbers through mask_*() first.
#pragma once

#include <string>
#include <string_view>

namespace tierflow::log {

// Sets the default logger's level and a pattern that names the service. Call once in main.
void init(std::string_view service, std::string_view level);

// "alice@example.com" -> "a***@example.com"; "" stays "".
std::string mask_email(std::string_view email);
// "+86 138 0013 8000" -> "***8000" (only the last four digits survive).
std::string mask_phone(std::string_view phone);

}  // namespace tierflow::log
