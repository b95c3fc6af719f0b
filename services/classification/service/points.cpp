#include "service/points.h"

#include <absl/time/civil_time.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "common/config/config.h"
#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"

namespace tierflow::classification::points {

namespace {
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
uint64_t get_varint(std::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) throw std::invalid_argument("truncated");
    const auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  throw std::invalid_argument("bad varint");
}
// Times as microseconds, the infinities as the int64 extremes, zigzag-coded.
void put_time(std::string& out, absl::Time t) {
  const int64_t us = t == absl::InfinitePast()     ? INT64_MIN
                     : t == absl::InfiniteFuture() ? INT64_MAX
                                                   : absl::ToUnixMicros(t);
  put_varint(out, (static_cast<uint64_t>(us) << 1) ^ static_cast<uint64_t>(us >> 63));
}
absl::Time get_time(std::string_view& in) {
  const uint64_t raw = get_varint(in);
  const auto us = static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
  if (us == INT64_MIN) return absl::InfinitePast();
  if (us == INT64_MAX) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}
constexpr char kProgress = 'P';
constexpr char kSummary = 'S';
constexpr char kRows = 'D';
}  // namespace

absl::Time point_of(absl::Time t, const absl::TimeZone& zone) {
  // Days are (midnight, next midnight], as the ledger splits snapshots: a time at the
  // midnight itself belongs to the day that ends there.
  const absl::CivilDay day = absl::ToCivilDay(t, zone);
  const absl::Time midnight = absl::FromCivil(day, zone);
  return midnight >= t ? midnight : absl::FromCivil(day + 1, zone);
}

absl::Time next_point(absl::Time t, const absl::TimeZone& zone) { return point_of(t + absl::Microseconds(1), zone); }

KeyValue progress_record(const Progress& p) {
  std::string v(1, kProgress);
  put_varint(v, static_cast<uint64_t>(p.partition));
  put_time(v, p.watermark);
  put_time(v, p.first_as_of);
  return {fmt::format("~progress/{}", p.partition), std::move(v)};
}

std::vector<KeyValue> summary_records(absl::Time point, int32_t partition, const PopulationSummary& s,
                                      const absl::TimeZone& zone, size_t chunk_bytes) {
  const std::string bytes = s.encode();
  const size_t count = std::max<size_t>(1, (bytes.size() + chunk_bytes - 1) / chunk_bytes);
  const std::string day = absl::FormatCivilTime(absl::ToCivilDay(point, zone));
  std::vector<KeyValue> out;
  for (size_t k = 0; k < count; ++k) {
    std::string v(1, kSummary);
    put_time(v, point);
    put_varint(v, static_cast<uint64_t>(partition));
    put_varint(v, k);
    put_varint(v, count);
    v.append(bytes, std::min(bytes.size(), k * chunk_bytes), chunk_bytes);
    out.emplace_back(fmt::format("{}/{}/{}", day, partition, k), std::move(v));
  }
  return out;
}

std::vector<KeyValue> rows_records(absl::Time point, int32_t partition, const std::string& bytes,
                                   const absl::TimeZone& zone, size_t chunk_bytes) {
  const size_t count = std::max<size_t>(1, (bytes.size() + chunk_bytes - 1) / chunk_bytes);
  const std::string day = absl::FormatCivilTime(absl::ToCivilDay(point, zone));
  std::vector<KeyValue> out;
  for (size_t k = 0; k < count; ++k) {
    std::string v(1, kRows);
    put_time(v, point);
    put_varint(v, static_cast<uint64_t>(partition));
    put_varint(v, k);
    put_varint(v, count);
    v.append(bytes, std::min(bytes.size(), k * chunk_bytes), chunk_bytes);
    out.emplace_back(fmt::format("{}/{}/d{}", day, partition, k), std::move(v));
  }
  return out;
}

void Board::set_rows(absl::Time point, int32_t partition, std::string rows) {
  rows_.insert_or_assign({absl::ToUnixMicros(point), partition}, std::move(rows));
}

std::optional<std::vector<std::string>> Board::rows(absl::Time point, int partitions) const {
  const int64_t us = absl::ToUnixMicros(point);
  std::vector<std::string> out;
  for (int32_t p = 0; p < partitions; ++p) {
    auto it = rows_.find({us, p});
    if (it == rows_.end()) return std::nullopt;
    out.push_back(it->second);
  }
  return out;
}

bool Board::add(std::string_view key, std::string_view value) {
  try {
    if (value.empty()) {  // a tombstone (retention): its key is gone
      keys_.erase(std::string(key));
      return false;
    }
    const char kind = value.front();
    value.remove_prefix(1);
    if (kind == kProgress) {
      Progress p;
      p.partition = static_cast<int32_t>(get_varint(value));
      p.watermark = get_time(value);
      p.first_as_of = get_time(value);
      Progress& held = progress_[p.partition];
      // Records of one partition can be read twice (a restart's republish): keep the newest.
      held.partition = p.partition;
      held.watermark = std::max(held.watermark, p.watermark);
      held.first_as_of = p.first_as_of;
      return true;
    }
    if (kind != kSummary && kind != kRows) return false;
    const absl::Time point = get_time(value);
    const auto partition = static_cast<int32_t>(get_varint(value));
    const auto k = static_cast<uint32_t>(get_varint(value));
    const auto count = static_cast<uint32_t>(get_varint(value));
    if (count == 0 || k >= count) return false;
    note_key(std::string(key), point, partition);
    if (point < floor_) return true;  // evaluated already
    const std::pair<int64_t, int32_t> key{absl::ToUnixMicros(point), partition};
    if (kind == kRows) {
      // The newest copy wins (a restart may publish a partition's rows again).
      Chunks& c = row_chunks_[key];
      if (c.count != count) c = Chunks{count, {}};
      c.parts[k] = std::string(value);
      if (c.parts.size() < c.count) return true;
      std::string bytes;
      for (const auto& [i, part] : c.parts) bytes += part;
      row_chunks_.erase(key);
      rows_.insert_or_assign(key, std::move(bytes));
      return true;
    }
    if (summaries_.count(key) != 0) return true;
    Chunks& c = chunks_[key];
    c.count = count;
    c.parts[k] = std::string(value);
    if (c.parts.size() < c.count) return true;
    std::string bytes;
    for (const auto& [i, part] : c.parts) bytes += part;
    chunks_.erase(key);
    summaries_.emplace(key, PopulationSummary::decode(bytes));
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

void Board::set_summary(absl::Time point, int32_t partition, PopulationSummary s) {
  summaries_.insert_or_assign({absl::ToUnixMicros(point), partition}, std::move(s));
}

bool Board::has_summary(absl::Time point, int32_t partition) const {
  return summaries_.count({absl::ToUnixMicros(point), partition}) != 0;
}

std::optional<absl::Time> Board::first_point(int partitions, const absl::TimeZone& zone) const {
  absl::Time first = absl::InfiniteFuture();
  for (int32_t p = 0; p < partitions; ++p) {
    auto it = progress_.find(p);
    if (it == progress_.end()) return std::nullopt;
    first = std::min(first, it->second.first_as_of);
  }
  if (first == absl::InfiniteFuture()) return std::nullopt;
  for (int32_t p = 0; p < partitions; ++p) {
    if (progress_.at(p).watermark <= first) return std::nullopt;  // an earlier snapshot may still come
  }
  return point_of(first, zone);
}

std::optional<PopulationSummary> Board::merged(absl::Time point, int partitions) const {
  const int64_t us = absl::ToUnixMicros(point);
  std::optional<PopulationSummary> out;
  for (int32_t p = 0; p < partitions; ++p) {
    auto it = summaries_.find({us, p});
    if (it == summaries_.end()) return std::nullopt;
    if (!out) {
      out = it->second;
    } else {
      out->merge(it->second);
    }
  }
  return out;
}

void Board::forget_before(absl::Time point) {
  floor_ = std::max(floor_, point);
  const std::pair<int64_t, int32_t> lo{absl::ToUnixMicros(point), INT32_MIN};
  summaries_.erase(summaries_.begin(), summaries_.lower_bound(lo));
  chunks_.erase(chunks_.begin(), chunks_.lower_bound(lo));
  rows_.erase(rows_.begin(), rows_.lower_bound(lo));
  row_chunks_.erase(row_chunks_.begin(), row_chunks_.lower_bound(lo));
}

void Board::note_key(std::string key, absl::Time point, int32_t partition) {
  keys_.insert_or_assign(std::move(key), std::pair{absl::ToUnixMicros(point), partition});
}

std::vector<std::string> Board::take_expired(absl::Time before, const std::set<int32_t>& partitions) {
  const int64_t us = absl::ToUnixMicros(before);
  std::vector<std::string> out;
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (it->second.first < us && partitions.contains(it->second.second)) {
      out.push_back(it->first);
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

namespace {
class KafkaFeed final : public Feed {
 public:
  explicit KafkaFeed(const Config& cfg) {
    kafka::ConsumerOptions o;
    o.bootstrap = config::resolve_bootstrap(cfg.kafka);
    std::string id = cfg.instance_id;
    if (id.empty()) {
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      id = fmt::format("{}:{}", host, cfg.store_path);
    }
    o.group_id = cfg.group_id + ".points." + id;
    o.client_id = cfg.kafka.client_id;
    o.topics = {std::string(topics::kPoints)};
    o.session_timeout = cfg.kafka.session_timeout;
    o.properties = cfg.kafka.properties;
    // Every partition from its beginning, at every start: the topic is compacted and small.
    consumer_ = std::make_unique<kafka::Consumer>(
        o,
        kafka::RecordSource::Callbacks{[](std::string_view, int32_t) -> std::optional<int64_t> { return -2; }, {}, {}});
  }
  std::vector<KeyValue> poll() override {
    std::vector<KeyValue> out;
    for (;;) {
      auto records = consumer_->poll(1000, std::chrono::milliseconds(0));
      if (records.empty()) return out;
      for (const auto& r : records) out.emplace_back(std::string(r.key()), std::string(r.value()));
    }
  }

 private:
  std::unique_ptr<kafka::Consumer> consumer_;
};
}  // namespace

std::unique_ptr<Feed> kafka_feed(const Config& cfg) { return std::make_unique<KafkaFeed>(cfg); }

}  // namespace tierflow::classification::points
