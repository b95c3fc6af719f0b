// Where a service tells the world it is up: a small JSON file written atomically after
// every listener is bound, naming the ports the kernel chose (services bind port 0 in
// tests and in the local stack). The stack scripts and e2e tests wait for it.
#pragma once

#include <map>
#include <string>

namespace tierflow::runtime {

// Writes {"grpc": 12345, "metrics": 23456, ...} to path.tmp and renames it to path.
// An empty path does nothing. Throws std::runtime_error naming the path on failure.
void write_ready_file(const std::string& path, const std::map<std::string, int>& ports);

}  // namespace tierflow::runtime
