#include "common/config/sections.h"

#include <fmt/format.h>

#include <fstream>
#include <thread>

namespace tierflow::config {

KafkaConfig read_kafka(const Section& s, std::string_view default_client_id) {
  KafkaConfig k;
  k.bootstrap_servers = s.get_string("bootstrap_servers", "");
  k.bootstrap_file = s.get_string("bootstrap_file", "");
  k.bootstrap_wait = s.get_millis("bootstrap_wait_ms", k.bootstrap_wait);
  k.client_id = s.get_string("client_id", default_client_id);
  k.session_timeout = s.get_millis("session_timeout_ms", k.session_timeout);
  k.partitions = static_cast<int>(s.get_int("partitions", k.partitions, 1, 1024));
  k.properties = s.get_string_map("properties");
  if (k.bootstrap_servers.empty() && k.bootstrap_file.empty()) {
    throw ConfigError(fmt::format("key '{}.bootstrap_servers': set it, or '{}.bootstrap_file' (env {})", s.path(),
                                  s.path(), env_name("TIERFLOW_", s.path() + ".bootstrap_servers")));
  }
  return k;
}

RedisConfig read_redis(const Section& s) {
  RedisConfig r;
  r.host = s.get_string("host", r.host);
  r.port = static_cast<int>(s.get_int("port", r.port, 1, 65535));
  r.unix_socket = s.get_string("unix_socket", "");
  r.timeout = s.get_millis("timeout_ms", r.timeout);
  return r;
}

GrpcConfig read_grpc(const Section& s, std::string_view default_listen) {
  GrpcConfig g;
  g.listen = s.get_string("listen", default_listen);
  return g;
}

MetricsConfig read_metrics(const Section& s, std::string_view default_listen) {
  MetricsConfig m;
  m.listen = s.get_string("listen", default_listen);
  m.enabled = s.get_bool("enabled", true);
  return m;
}

LogConfig read_log(const Section& s) {
  LogConfig l;
  l.level = s.get_enum("level", l.level, {"trace", "debug", "info", "warn", "error"});
  return l;
}

void read_service(const Section& root, std::string_view name, std::string_view grpc_listen,
                  std::string_view metrics_listen, ServiceConfig& out) {
  out.kafka = read_kafka(root.section("kafka"), name);
  out.grpc = read_grpc(root.section("grpc"), grpc_listen);
  out.metrics = read_metrics(root.section("metrics"), metrics_listen);
  out.log = read_log(root.section("log"));
  out.access = read_access(root);
  out.ready_file = root.get_string("ready_file", "");
}

AccessConfig read_access(const Section& root) {
  AccessConfig a;
  const Section auth = root.section("auth");
  a.auth.tokens_file = auth.get_string("tokens_file", "");
  a.auth.reload_check = auth.get_millis("reload_check_ms", a.auth.reload_check);
  a.auth.pos_calls_per_s = auth.get_double("pos_calls_per_s", a.auth.pos_calls_per_s, 0, 1e9);
  a.auth.pos_burst = auth.get_double("pos_burst", a.auth.pos_burst, 1, 1e9);
  const Section tls = root.section("tls");
  a.tls.cert_file = tls.get_string("cert_file", "");
  a.tls.key_file = tls.get_string("key_file", "");
  a.tls.client_ca_file = tls.get_string("client_ca_file", "");
  if (a.tls.cert_file.empty() != a.tls.key_file.empty()) {
    throw ConfigError(fmt::format("keys '{0}.cert_file' and '{0}.key_file': set both or neither", tls.path()));
  }
  if (!a.tls.client_ca_file.empty() && a.tls.cert_file.empty()) {
    throw ConfigError(fmt::format("key '{0}.client_ca_file' needs '{0}.cert_file' and '{0}.key_file'", tls.path()));
  }
  return a;
}

std::string resolve_bootstrap(const KafkaConfig& kafka) {
  if (!kafka.bootstrap_servers.empty()) return kafka.bootstrap_servers;
  const auto deadline = std::chrono::steady_clock::now() + kafka.bootstrap_wait;
  for (;;) {
    std::ifstream in(kafka.bootstrap_file);
    std::string line;
    if (in && std::getline(in, line) && !line.empty()) return line;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw ConfigError(
          fmt::format("kafka.bootstrap_file '{}': no broker address there after {} ms (is devbroker running?)",
                      kafka.bootstrap_file, kafka.bootstrap_wait.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace tierflow::config
