#include "common/runtime/ready_file.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace tierflow::runtime {

void write_ready_file(const std::string& path, const std::map<std::string, int>& ports) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{";
    bool first = true;
    for (const auto& [name, port] : ports) {
      out << (first ? "" : ", ") << '"' << name << "\": " << port;
      first = false;
    }
    out << ", \"pid\": " << getpid() << "}\n";
    if (!out) throw std::runtime_error("cannot write ready file " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename ready file to " + path);
}

}  // namespace tierflow::runtime
