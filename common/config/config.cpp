#include "common/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>

namespace tierflow::config {

std::string env_name(std::string_view prefix, std::string_view dotted_key) {
  std::string name(prefix);
  for (char c : dotted_key) {
    name += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

namespace {

std::string line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? fmt::format("line {}", mark.line + 1) : std::string("(no line)");
}

void collect_keys(const YAML::Node& node, const std::string& prefix,
                  std::vector<std::pair<std::string, std::string>>* out) {
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    const std::string key = prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>();
    out->emplace_back(key, line_of(kv.first));
    collect_keys(kv.second, key, out);
  }
}

}  // namespace

Loader::Loader(std::string name, std::string env_prefix, std::shared_ptr<YAML::Node> doc)
    : file_(std::move(name)), env_prefix_(std::move(env_prefix)), doc_(std::move(doc)) {}

Loader::Loader(const std::string& file, std::string env_prefix)
    : file_(file.empty() ? "(defaults)" : file), env_prefix_(std::move(env_prefix)) {
  if (file.empty()) {
    doc_ = std::make_shared<YAML::Node>(YAML::NodeType::Map);
    return;
  }
  try {
    doc_ = std::make_shared<YAML::Node>(YAML::LoadFile(file));
  } catch (const YAML::BadFile&) {
    throw ConfigError(fmt::format("{}: cannot read the config file", file));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}: line {}: {}", file, e.mark.line + 1, e.msg));
  }
  if (doc_->IsNull()) *doc_ = YAML::Node(YAML::NodeType::Map);
  if (!doc_->IsMap()) throw ConfigError(fmt::format("{}: the top level must be a mapping of keys", file));
}

Loader Loader::from_string(std::string_view yaml, std::string name, std::string env_prefix) {
  std::shared_ptr<YAML::Node> doc;
  try {
    doc = std::make_shared<YAML::Node>(YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}: line {}: {}", name, e.mark.line + 1, e.msg));
  }
  if (doc->IsNull()) *doc = YAML::Node(YAML::NodeType::Map);
  if (!doc->IsMap()) throw ConfigError(fmt::format("{}: the top level must be a mapping of keys", name));
  return Loader(std::move(name), std::move(env_prefix), std::move(doc));
}

Loader::~Loader() = default;

Section Loader::root() { return Section(this, doc_, ""); }

void Loader::fail(const std::string& key, const std::string& where, const std::string& what) const {
  throw ConfigError(fmt::format("{}: {}: key '{}': {}", file_, where, key, what));
}

void Loader::finish() const {
  std::vector<std::pair<std::string, std::string>> keys;
  collect_keys(*doc_, "", &keys);
  std::vector<std::string> unknown;
  for (const auto& [key, line] : keys) {
    // A key is known when it was read, or is the parent of / inside a key that was read
    // (free-form maps read whole).
    bool known = used_.count(key) > 0;
    if (!known) {
      for (const auto& u : used_) {
        if (u.starts_with(key + ".") || key.starts_with(u + ".")) {
          known = true;
          break;
        }
      }
    }
    if (!known) unknown.push_back(fmt::format("{}: {}: unknown key '{}'", file_, line, key));
  }
  if (!unknown.empty()) {
    std::string msg = unknown.front();
    for (size_t i = 1; i < unknown.size(); ++i) msg += "; " + unknown[i];
    throw ConfigError(msg);
  }
}

Section::Section(Loader* loader, std::shared_ptr<YAML::Node> node, std::string path)
    : loader_(loader), node_(std::move(node)), path_(std::move(path)) {}

std::string Section::full_key(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool Section::lookup(std::string_view key, std::string* out, std::string* where) const {
  const std::string full = full_key(key);
  loader_->mark_used(full);
  const std::string env = env_name(loader_->env_prefix_, full);
  if (const char* value = std::getenv(env.c_str()); value != nullptr) {
    *out = value;
    *where = "environment " + env;
    return true;
  }
  if (!node_ || !node_->IsMap()) return false;
  const YAML::Node child = (*node_)[std::string(key)];
  if (!child.IsDefined() || child.IsNull()) return false;
  *where = line_of(child);
  if (!child.IsScalar()) loader_->fail(full, *where, "expected a single value, found a list or mapping");
  *out = child.Scalar();
  return true;
}

std::string Section::get_string(std::string_view key, std::string_view fallback) const {
  std::string value, where;
  return lookup(key, &value, &where) ? value : std::string(fallback);
}

std::string Section::get_enum(std::string_view key, std::string_view fallback,
                              const std::vector<std::string>& allowed) const {
  std::string value, where;
  if (!lookup(key, &value, &where)) return std::string(fallback);
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    loader_->fail(full_key(key), where, fmt::format("'{}' is not one of: {}", value, fmt::join(allowed, ", ")));
  }
  return value;
}

int64_t Section::get_int(std::string_view key, int64_t fallback, int64_t min, int64_t max) const {
  std::string value, where;
  if (!lookup(key, &value, &where)) return fallback;
  int64_t parsed = 0;
  size_t used = 0;
  try {
    parsed = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size()) loader_->fail(full_key(key), where, fmt::format("'{}' is not a whole number", value));
  if (parsed < min || parsed > max) {
    loader_->fail(full_key(key), where, fmt::format("{} is outside the allowed range {}..{}", parsed, min, max));
  }
  return parsed;
}

double Section::get_double(std::string_view key, double fallback, double min, double max) const {
  std::string value, where;
  if (!lookup(key, &value, &where)) return fallback;
  double parsed = 0;
  size_t used = 0;
  try {
    parsed = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size()) loader_->fail(full_key(key), where, fmt::format("'{}' is not a number", value));
  if (parsed < min || parsed > max) {
    loader_->fail(full_key(key), where, fmt::format("{} is outside the allowed range {}..{}", parsed, min, max));
  }
  return parsed;
}

bool Section::get_bool(std::string_view key, bool fallback) const {
  std::string value, where;
  if (!lookup(key, &value, &where)) return fallback;
  if (value == "true" || value == "yes" || value == "on" || value == "1") return true;
  if (value == "false" || value == "no" || value == "off" || value == "0") return false;
  loader_->fail(full_key(key), where, fmt::format("'{}' is not true or false", value));
}

std::chrono::milliseconds Section::get_millis(std::string_view key, std::chrono::milliseconds fallback) const {
  return std::chrono::milliseconds(get_int(key, fallback.count(), 0, int64_t{1} << 40));
}

std::vector<std::string> Section::get_string_list(std::string_view key,
                                                  const std::vector<std::string>& fallback) const {
  const std::string full = full_key(key);
  loader_->mark_used(full);
  const std::string env = env_name(loader_->env_prefix_, full);
  if (const char* value = std::getenv(env.c_str()); value != nullptr) {
    std::vector<std::string> out;
    std::string_view rest(value);
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      if (std::string_view item = rest.substr(0, comma); !item.empty()) out.emplace_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return out;
  }
  if (!node_ || !node_->IsMap()) return fallback;
  const YAML::Node child = (*node_)[std::string(key)];
  if (!child.IsDefined() || child.IsNull()) return fallback;
  if (!child.IsSequence()) loader_->fail(full, line_of(child), "expected a list");
  std::vector<std::string> out;
  for (const auto& item : child) {
    if (!item.IsScalar()) loader_->fail(full, line_of(item), "expected a list of single values");
    out.push_back(item.Scalar());
  }
  return out;
}

std::map<std::string, std::string> Section::get_string_map(std::string_view key) const {
  const std::string full = full_key(key);
  loader_->mark_used(full);
  std::map<std::string, std::string> out;
  if (!node_ || !node_->IsMap()) return out;
  const YAML::Node child = (*node_)[std::string(key)];
  if (!child.IsDefined() || child.IsNull()) return out;
  if (!child.IsMap()) loader_->fail(full, line_of(child), "expected a mapping of names to values");
  for (const auto& kv : child) {
    if (!kv.second.IsScalar()) loader_->fail(full + "." + kv.first.as<std::string>(), line_of(kv.second), "expected a single value");
    out[kv.first.as<std::string>()] = kv.second.Scalar();
  }
  return out;
}

Section Section::section(std::string_view key) const {
  const std::string full = full_key(key);
  if (!node_ || !node_->IsMap()) return Section(loader_, nullptr, full);
  const YAML::Node child = (*node_)[std::string(key)];
  if (!child.IsDefined() || child.IsNull()) return Section(loader_, nullptr, full);
  if (!child.IsMap()) loader_->fail(full, line_of(child), "expected a mapping of keys");
  return Section(loader_, std::make_shared<YAML::Node>(child), full);
}

}  // namespace tierflow::config
