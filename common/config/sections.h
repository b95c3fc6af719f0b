// The config sections every service shares: kafka, redis, grpc, metrics, log, and the
// access sections (auth, tls).
// Each is a plain struct with defaults, read by one function that validates it.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/config/config.h"

namespace tierflow::config {

struct KafkaConfig {
  // Comma-separated host:port list. When empty, read from bootstrap_file (what devbroker
  // publishes), waiting for it to appear up to bootstrap_wait.
  std::string bootstrap_servers;
  std::string bootstrap_file;
  std::chrono::milliseconds bootstrap_wait{30000};
  std::string client_id;
  // Short, because librdkafka's mock cluster makes a restarted member wait a whole
  // session timeout before it rejoins (DESIGN.md, Storage).
  std::chrono::milliseconds session_timeout{6000};
  int partitions = 12;                            // for topic creation and validation; every topic has the same count
  std::map<std::string, std::string> properties;  // extra librdkafka properties, verbatim
};

struct RedisConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket;  // wins over host/port when set
  std::chrono::milliseconds timeout{2000};
};

struct GrpcConfig {
  std::string listen = "127.0.0.1:0";  // port 0: the kernel picks, written to the ready file
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:0";
  bool enabled = true;
};

struct LogConfig {
  std::string level = "info";
};

// Who may call: the tokens file (hashed tokens, roles; see common/grpc/auth.h) and the
// rate limit of calls per `pos` token (a stream is one call; ingest's own `rate_limit`
// section limits the events of each terminal). The tokens themselves never appear in config.
struct AuthConfig {
  std::string tokens_file;                       // env TIERFLOW_AUTH_TOKENS_FILE
  std::chrono::milliseconds reload_check{1000};  // how often the file's mtime/size is checked
  double pos_calls_per_s = 200;                  // token bucket per pos token name; 0: no limit
  double pos_burst = 400;
};

// TLS for the gRPC listener. Off when cert_file is empty: then the server listens on a
// loopback address only (see common/grpc/README.md).
struct TlsConfig {
  std::string cert_file;       // PEM certificate chain
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // set: clients must present a certificate signed by this CA
  bool enabled() const { return !cert_file.empty(); }
};

struct AccessConfig {
  AuthConfig auth;
  TlsConfig tls;
};

// What every service's config has: the edges common/ wires for it (Kafka, gRPC with access
// control, /metrics, logging, the ready file). A service's Config derives from it.
struct ServiceConfig {
  KafkaConfig kafka;
  GrpcConfig grpc;
  MetricsConfig metrics;
  LogConfig log;
  AccessConfig access;  // tokens and roles per call, TLS (common/grpc/auth.h)
  std::string ready_file;
};

KafkaConfig read_kafka(const Section& s, std::string_view default_client_id);
RedisConfig read_redis(const Section& s);
GrpcConfig read_grpc(const Section& s, std::string_view default_listen);
MetricsConfig read_metrics(const Section& s, std::string_view default_listen);
LogConfig read_log(const Section& s);
// Reads the `auth` and `tls` sections of `root`. A tls section with only one of cert_file /
// key_file, or a client CA without them, is a ConfigError. An empty auth.tokens_file is
// allowed here (unit tests load configs); the server refuses to start without one.
AccessConfig read_access(const Section& root);
// Reads the ServiceConfig keys of `root` (kafka, grpc, metrics, log, auth, tls, ready_file)
// into `out`; `name` is the default Kafka client id.
void read_service(const Section& root, std::string_view name, std::string_view grpc_listen,
                  std::string_view metrics_listen, ServiceConfig& out);

// Resolves bootstrap_servers, reading bootstrap_file when needed. Blocks up to
// bootstrap_wait for the file; throws ConfigError naming the file when it never comes.
std::string resolve_bootstrap(const KafkaConfig& kafka);

}  // namespace tierflow::config
