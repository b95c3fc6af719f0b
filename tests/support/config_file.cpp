#include "tests/support/config_file.h"

#include <fstream>
#include <stdexcept>

namespace tierflow::test_support {

std::string ConfigFile::write(const std::string& yaml) const {
  const std::string path = dir_.file("config.yaml");
  std::ofstream out(path, std::ios::trunc);
  out << "kafka: {bootstrap_servers: 127.0.0.1:9092}\n" << yaml;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

}  // namespace tierflow::test_support
