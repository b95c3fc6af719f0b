// A service's YAML config file for the tests of its load_config: one file in a temporary
// directory of its own, each write() replacing its content after the minimal `kafka`
// section every service requires.
//
// Threading: thread-compatible (one thread at a time). Errors: write() throws
// std::runtime_error when the file cannot be written; error_of() catches only
// config::ConfigError, anything else `load` throws goes on to the test.
#pragma once

#include <string>

#include "common/config/config.h"
#include "tests/support/process.h"

namespace tierflow::test_support {

class ConfigFile {
 public:
  // `prefix` names the temporary directory (see TempDir).
  explicit ConfigFile(const std::string& prefix) : dir_(prefix) {}

  // Writes the kafka section and `yaml`; returns the file's path.
  std::string write(const std::string& yaml) const;

  // The message of the config::ConfigError `load(path)` throws for `yaml`; "" when it loads.
  template <class Load>
  std::string error_of(Load&& load, const std::string& yaml) const {
    const std::string path = write(yaml);
    try {
      load(path);
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "";
  }

 private:
  TempDir dir_;
};

}  // namespace tierflow::test_support
