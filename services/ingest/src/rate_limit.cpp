#include "src/rate_limit.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace tierflow::ingest {

namespace {
constexpr auto kLogEvery = std::chrono::minutes(1);

std::string key_of(std::string_view caller, std::string_view terminal_id) {
  std::string key = std::to_string(caller.size());
  key.push_back(':');
  key.append(caller);
  key.append(terminal_id.substr(0, TerminalLimits::kMaxTerminalKey));
  return key;
}

struct LogLine {
  std::string caller, terminal;
  int64_t refused;
};
}  // namespace

TerminalLimits::TerminalLimits(Options options)
    : options_(std::move(options)),
      forget_after_(std::max<Clock::duration>(
          std::chrono::minutes(1), options_.events_per_s > 0
                                       ? std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(options_.burst / options_.events_per_s))
                                       : Clock::duration::zero())) {}

std::string TerminalLimits::printable(std::string_view terminal_id) {
  if (terminal_id.empty()) return "(none)";
  constexpr size_t kShown = 64;
  std::string out;
  for (unsigned char c : terminal_id.substr(0, kShown))
    out.push_back(c < 0x21 || c == 0x7f ? '?' : static_cast<char>(c));
  if (terminal_id.size() > kShown) out += "...";
  return out;
}

size_t TerminalLimits::terminals() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

TerminalLimits::Bucket& TerminalLimits::bucket(const std::string& key, Clock::time_point now) {
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return *it->second;
  }
  lru_.push_front(Bucket{key, options_.burst, now, {}, false, 0});
  by_key_.emplace(lru_.front().key, lru_.begin());
  return lru_.front();
}

void TerminalLimits::forget(Clock::time_point now) {
  while (!lru_.empty() &&
         (now - lru_.back().at >= forget_after_ || lru_.size() > static_cast<size_t>(options_.max_terminals))) {
    by_key_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

void TerminalLimits::take(std::string_view caller, std::span<v1::PosEvent* const> events, std::vector<bool>& allowed) {
  allowed.assign(events.size(), true);
  if (!enabled() || events.empty()) return;
  std::vector<LogLine> lines;
  {
    std::lock_guard lock(mu_);
    const Clock::time_point t = now();
    Bucket* b = nullptr;
    std::string_view terminal;
    for (size_t i = 0; i < events.size(); ++i) {
      const std::string_view id(events[i]->terminal_id());
      // A message's events mostly come from one terminal: one lookup per run of them.
      if (b == nullptr || id.substr(0, kMaxTerminalKey) != terminal.substr(0, kMaxTerminalKey)) {
        b = &bucket(key_of(caller, id), t);
        terminal = id;
        if (t > b->at) {
          b->tokens = std::min(options_.burst,
                               b->tokens + std::chrono::duration<double>(t - b->at).count() * options_.events_per_s);
          b->at = t;
        }
      }
      if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        continue;
      }
      allowed[i] = false;
      ++b->refused_since_log;
      if (!b->ever_logged || t - b->logged >= kLogEvery) {
        lines.push_back({std::string(caller), printable(id), b->refused_since_log});
        b->ever_logged = true;
        b->logged = t;
        b->refused_since_log = 0;
      }
    }
    forget(t);
  }
  for (const auto& l : lines) {
    spdlog::warn(
        "ingest: terminal {} of caller '{}' is over its limit of {} events/s; {} event(s) answered RETRY since "
        "the last such line",
        l.terminal, l.caller, options_.events_per_s, l.refused);
  }
}

}  // namespace tierflow::ingest
