// devbroker: a local Kafka-protocol broker for development and tests, built on
// librdkafka's mock cluster (rdkafka_mock.h). It speaks the real protocol to real
// clients, keeps data in memory only (at most 5 MiB or 100,000 records per partition),
// and forgets everything when it stops. Production uses Apache Kafka (deploy/).
//
//   devbroker --brokers 3 --partitions 12 --addr-file .run/broker.addr
//
// Creates the suite's topics and their .dlq twins with one partition count, writes the
// bootstrap address to --addr-file (atomically) once they exist, and runs until SIGINT or
// SIGTERM, then removes the file and stops.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>

#include "common/kafka/topics.h"
#include "common/log/log.h"
#include "common/runtime/stop.h"

namespace {

struct KafkaHandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct MockClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* mc) const { rd_kafka_mock_cluster_destroy(mc); }
};

}  // namespace

int main(int argc, char** argv) {
  tierflow::runtime::StopSignals stop;
  CLI::App app{"devbroker: local Kafka-protocol broker (librdkafka mock cluster)"};
  int brokers = 3;
  int partitions = 12;
  std::string addr_file;
  std::string level = "info";
  app.add_option("--brokers", brokers, "number of brokers")->check(CLI::Range(1, 9));
  app.add_option("--partitions", partitions, "partitions per topic (every topic the same)")->check(CLI::Range(1, 256));
  app.add_option("--addr-file", addr_file, "where to write the bootstrap address");
  app.add_option("--log-level", level, "trace|debug|info|warn|error");
  CLI11_PARSE(app, argc, argv);
  tierflow::log::init("devbroker", level);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    spdlog::error("kafka property log_level: {}", err);
    return 1;
  }
  std::unique_ptr<rd_kafka_t, KafkaHandleDeleter> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) {
    spdlog::error("cannot create the mock cluster's handle: {}", err);
    return 1;
  }
  std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDeleter> cluster(rd_kafka_mock_cluster_new(rk.get(), brokers));
  if (!cluster) {
    spdlog::error("cannot start the mock cluster");
    return 1;
  }
  for (std::string_view topic : tierflow::topics::kAll) {
    for (const std::string& name : {std::string(topic), tierflow::topics::dlq(topic)}) {
      if (rd_kafka_mock_topic_create(cluster.get(), name.c_str(), partitions, std::min(brokers, 3)) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::error("cannot create topic {}", name);
        return 1;
      }
    }
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster.get());
  if (!addr_file.empty()) {
    const std::string tmp = addr_file + ".tmp";
    std::ofstream(tmp) << bootstrap << "\n";
    if (std::rename(tmp.c_str(), addr_file.c_str()) != 0) {
      spdlog::error("cannot write {}", addr_file);
      return 1;
    }
  }
  spdlog::info("{} brokers at {}, {} topics with {} partitions each", brokers, bootstrap,
               tierflow::topics::kAll.size() * 2, partitions);

  while (!stop.wait_for(std::chrono::seconds(1))) {
  }
  if (!addr_file.empty()) std::remove(addr_file.c_str());
  spdlog::info("stopped");
  return 0;
}
