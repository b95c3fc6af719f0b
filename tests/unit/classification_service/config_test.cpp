// The classification config: the shipped local file loads; new keys are validated with
// errors that name them; unknown keys are rejected.
#include <gtest/gtest.h>

#include <string>

#include "service/config.h"
#include "tests/support/config_file.h"

namespace tierflow::classification {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& yaml) { return file_.write(yaml); }
  std::string error_of(const std::string& yaml) { return file_.error_of(load_config, yaml); }
  test_support::ConfigFile file_{"tf-cls-config"};
};

TEST_F(ConfigTest, ShippedLocalFileLoads) {
  const Config c = load_config(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/classification.yaml");
  EXPECT_EQ(c.store_path, ".run/classification.db");
  EXPECT_EQ(c.clock, "events");
  EXPECT_EQ(c.reevaluate_interval, std::chrono::milliseconds(10000));
  EXPECT_EQ(c.evaluate_delay, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.watch_queue_size, 1024);
}

TEST_F(ConfigTest, DefaultsAndValidation) {
  const Config c = load_config(write("clock: wall\n"));
  EXPECT_EQ(c.store_path, "classification.db");
  EXPECT_EQ(c.reevaluate_interval, std::chrono::milliseconds(60000));
  EXPECT_NE(error_of("store_path: ''\n").find("store_path"), std::string::npos);
  EXPECT_NE(error_of("reevaluate_interval_ms: 0\n").find("reevaluate_interval_ms"), std::string::npos);
  EXPECT_NE(error_of("evaluate_delay_ms: -5\n").find("evaluate_delay_ms"), std::string::npos);
  EXPECT_NE(error_of("watch_queue_size: 0\n").find("watch_queue_size"), std::string::npos);
  EXPECT_NE(error_of("stor_path: x.db\n").find("stor_path"), std::string::npos);
}

// Evaluation points on the ledger's watermarks (issue 10): the keys, their defaults and
// their ranges; two instances differ in store_path (and instance_id) only.
TEST_F(ConfigTest, EvaluationPointKeys) {
  const Config d = load_config(write("clock: events\n"));
  EXPECT_EQ(d.evaluation_points, "watermarks");  // the default with clock: events
  EXPECT_EQ(load_config(write("clock: events\nevaluation_points: newest_event\n")).evaluation_points, "newest_event");
  EXPECT_EQ(d.accounts_partitions, 0);
  EXPECT_EQ(d.instance_id, "");
  EXPECT_EQ(d.points_chunk_bytes, 900000);
  EXPECT_EQ(d.points_keep_days, 35);
  EXPECT_EQ(load_config(write("points_keep_days: 7\n")).points_keep_days, 7);
  EXPECT_NE(error_of("points_keep_days: 0\n").find("points_keep_days"), std::string::npos);
  const Config c = load_config(write(
      "clock: events\nevaluation_points: watermarks\naccounts_partitions: 12\ninstance_id: b\n"
      "points_chunk_bytes: 4096\nstore_path: b.db\n"));
  EXPECT_EQ(c.evaluation_points, "watermarks");
  EXPECT_EQ(c.accounts_partitions, 12);
  EXPECT_EQ(c.instance_id, "b");
  EXPECT_EQ(c.points_chunk_bytes, 4096);
  EXPECT_NE(error_of("evaluation_points: hourly\n").find("evaluation_points"), std::string::npos);
  EXPECT_NE(error_of("accounts_partitions: -1\n").find("accounts_partitions"), std::string::npos);
  EXPECT_NE(error_of("points_chunk_bytes: 2000000\n").find("points_chunk_bytes"), std::string::npos);
}

}  // namespace
}  // namespace tierflow::classification
