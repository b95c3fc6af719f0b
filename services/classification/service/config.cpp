#include "service/config.h"

#include <fmt/format.h>

#include <string_view>
#include <utility>

#include "common/config/config.h"

namespace tierflow::classification {

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  Config c;
  config::read_service(root, "classification", "127.0.0.1:7003", "127.0.0.1:9103", c);
  c.redis = config::read_redis(root.section("redis"));
  c.standard_path = root.get_string("standard_path", c.standard_path);
  c.store_path = root.get_string("store_path", c.store_path);
  c.clock = root.get_enum("clock", c.clock, {"wall", "events", "watermark"});
  if (c.clock == "watermark") c.clock = "events";  // the older name of the same clock
  c.reevaluate_interval = std::chrono::milliseconds(
      root.get_int("reevaluate_interval_ms", c.reevaluate_interval.count(), 10, int64_t{7} * 24 * 3600 * 1000));
  c.evaluate_delay =
      std::chrono::milliseconds(root.get_int("evaluate_delay_ms", c.evaluate_delay.count(), 1, int64_t{3600} * 1000));
  c.watch_queue_size = static_cast<int>(root.get_int("watch_queue_size", c.watch_queue_size, 1, 1000000));
  c.group_id = root.get_string("group_id", c.group_id);
  c.evaluation_points = root.get_enum("evaluation_points", c.evaluation_points, {"newest_event", "watermarks"});
  c.accounts_partitions = static_cast<int>(root.get_int("accounts_partitions", c.accounts_partitions, 0, 100000));
  c.instance_id = root.get_string("instance_id", c.instance_id);
  c.points_chunk_bytes = static_cast<int>(root.get_int("points_chunk_bytes", c.points_chunk_bytes, 64, 950000));
  c.points_keep_days = static_cast<int>(root.get_int("points_keep_days", c.points_keep_days, 1, 3650));
  loader.finish();
  for (const auto& [key, value] : {std::pair<std::string_view, const std::string*>{"standard_path", &c.standard_path},
                                   {"store_path", &c.store_path},
                                   {"group_id", &c.group_id}}) {
    if (value->empty()) {
      throw config::ConfigError(fmt::format("{}: {}: must not be empty", path.empty() ? "(environment)" : path, key));
    }
  }
  return c;
}

}  // namespace tierflow::classification
