#include "common/config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/config/sections.h"

namespace tierflow::config {
namespace {

TEST(Config, ReadsTypedValuesWithDefaults) {
  auto loader = Loader::from_string("kafka:\n  partitions: 24\n  bootstrap_servers: a:1\nname: x\n", "t.yaml", "TFTEST1_");
  auto root = loader.root();
  EXPECT_EQ(root.section("kafka").get_int("partitions", 12, 1, 100), 24);
  EXPECT_EQ(root.section("kafka").get_string("bootstrap_servers", ""), "a:1");
  EXPECT_EQ(root.get_string("name", ""), "x");
  EXPECT_EQ(root.get_bool("absent", true), true);
  EXPECT_EQ(root.section("missing").get_int("n", 7, 0, 10), 7);
  EXPECT_NO_THROW(loader.finish());
}

TEST(Config, EnvironmentOverridesTheFile) {
  ::setenv("TFTEST2_KAFKA_PARTITIONS", "48", 1);
  auto loader = Loader::from_string("kafka:\n  partitions: 24\n", "t.yaml", "TFTEST2_");
  EXPECT_EQ(loader.root().section("kafka").get_int("partitions", 12, 1, 100), 48);
  ::unsetenv("TFTEST2_KAFKA_PARTITIONS");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  auto loader = Loader::from_string("kafka:\n  partitions: 24\n  bootstrap_sevrers: x\n", "ingest.yaml", "TFTEST3_");
  loader.root().section("kafka").get_int("partitions", 12, 1, 100);
  try {
    loader.finish();
    FAIL() << "finish() accepted an unknown key";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "ingest.yaml: line 3: unknown key 'kafka.bootstrap_sevrers'");
  }
}

TEST(Config, OutOfRangeAndBadTypesNameTheKey) {
  auto loader = Loader::from_string("a: 500\nb: yes-ish\nc: fast\n", "s.yaml", "TFTEST4_");
  auto root = loader.root();
  EXPECT_THROW(
      {
        try {
          root.get_int("a", 1, 1, 100);
        } catch (const ConfigError& e) {
          EXPECT_STREQ(e.what(), "s.yaml: line 1: key 'a': 500 is outside the allowed range 1..100");
          throw;
        }
      },
      ConfigError);
  EXPECT_THROW(root.get_bool("b", false), ConfigError);
  try {
    root.get_enum("c", "wall", {"wall", "watermark"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "s.yaml: line 3: key 'c': 'fast' is not one of: wall, watermark");
  }
}

TEST(Config, EnvNameFollowsTheKeyPath) {
  EXPECT_EQ(env_name("TIERFLOW_", "kafka.bootstrap_servers"), "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS");
  EXPECT_EQ(env_name("TIERFLOW_", "channels.file.path"), "TIERFLOW_CHANNELS_FILE_PATH");
}

TEST(Config, KafkaSectionRequiresABroker) {
  auto loader = Loader::from_string("kafka:\n  partitions: 3\n", "k.yaml", "TFTEST5_");
  EXPECT_THROW(read_kafka(loader.root().section("kafka"), "x"), ConfigError);
}

TEST(Config, StringListsAndMaps) {
  auto loader = Loader::from_string("tiers: [a, b]\nprops:\n  linger.ms: '5'\n", "l.yaml", "TFTEST6_");
  auto root = loader.root();
  EXPECT_EQ(root.get_string_list("tiers", {}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(root.get_string_map("props").at("linger.ms"), "5");
  EXPECT_NO_THROW(loader.finish());
}

}  // namespace
}  // namespace tierflow::config
