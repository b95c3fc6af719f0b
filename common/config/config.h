// Typed configuration from one YAML file per service, every key overridable by an
// environment variable, validated once at start.
//
// A service describes its config as plain structs and reads them through a Section:
//   config::Loader loader("deploy/local/ingest.yaml");
//   auto kafka = loader.root().section("kafka");
//   cfg.brokers = kafka.get_string("bootstrap_servers", "");
//   loader.finish();   // rejects keys nobody asked for, naming file, line and key
//
// Environment overrides: the key path in upper case with '.' as '_', after the prefix
// "TIERFLOW_": kafka.bootstrap_servers <- TIERFLOW_KAFKA_BOOTSTRAP_SERVERS. The
// environment wins over the file; both lose to nothing (there is no third layer).
//
// Errors are ConfigError with a message that names the file, the line, the key and what
// was allowed. Thread-compatible: load on one thread at start, then read the structs.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace YAML {
class Node;
}

namespace tierflow::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Loader;

// A view of one mapping in the file (or an absent one: then every key takes its default
// unless the environment sets it).
class Section {
 public:
  std::string get_string(std::string_view key, std::string_view fallback) const;
  // One of `allowed`, else ConfigError listing them.
  std::string get_enum(std::string_view key, std::string_view fallback,
                       const std::vector<std::string>& allowed) const;
  int64_t get_int(std::string_view key, int64_t fallback, int64_t min, int64_t max) const;
  double get_double(std::string_view key, double fallback, double min, double max) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::chrono::milliseconds get_millis(std::string_view key, std::chrono::milliseconds fallback) const;
  std::vector<std::string> get_string_list(std::string_view key,
                                           const std::vector<std::string>& fallback) const;
  // A free-form string map (e.g. extra librdkafka properties); no env override per entry.
  std::map<std::string, std::string> get_string_map(std::string_view key) const;
  Section section(std::string_view key) const;

  const std::string& path() const { return path_; }

 private:
  friend class Loader;
  Section(Loader* loader, std::shared_ptr<YAML::Node> node, std::string path);
  // The raw text for a key, from env or file; false when neither has it.
  bool lookup(std::string_view key, std::string* out, std::string* where) const;
  std::string full_key(std::string_view key) const;

  Loader* loader_;
  std::shared_ptr<YAML::Node> node_;  // null when the section is absent
  std::string path_;                  // dotted path, "" for the root
};

class Loader {
 public:
  // Reads `file`; an empty file name means "no file, defaults and environment only".
  explicit Loader(const std::string& file, std::string env_prefix = "TIERFLOW_");
  static Loader from_string(std::string_view yaml, std::string name, std::string env_prefix = "TIERFLOW_");
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  Section root();
  // Throws ConfigError naming every key in the file that no one read.
  void finish() const;
  const std::string& file() const { return file_; }

 private:
  friend class Section;
  Loader(std::string name, std::string env_prefix, std::shared_ptr<YAML::Node> doc);
  void mark_used(const std::string& key) { used_.insert(key); }
  [[noreturn]] void fail(const std::string& key, const std::string& where, const std::string& what) const;

  std::string file_;
  std::string env_prefix_;
  std::shared_ptr<YAML::Node> doc_;
  std::set<std::string> used_;
};

// TIERFLOW_KAFKA_BOOTSTRAP_SERVERS for "kafka.bootstrap_servers".
std::string env_name(std::string_view prefix, std::string_view dotted_key);

}  // namespace tierflow::config
