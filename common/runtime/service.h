// The run loop every service's main shares, so each main only parses config and wires.
//
// Publishes the ready file (ports the kernel chose), runs `worker` (a Kafka consumer
// loop; may be empty) on a thread of its own, and waits for SIGTERM/SIGINT or the
// worker's failure. Then shuts down in phases: the gRPC server stops taking calls and
// lets running ones finish (bounded), the worker sees its stop token and finishes its
// batch (commit, leave the group), the producer flushes (bounded). Rethrows the
// worker's exception after shutdown, so main exits non-zero with its message.
#pragma once

#include <functional>
#include <stop_token>
#include <string>

namespace tierflow::grpcx {
class Server;
}
namespace tierflow::metrics {
class Server;
}
namespace tierflow::kafka {
class Producer;
}

namespace tierflow::runtime {

class StopSignals;

// `before_drain` (may be empty) runs first at shutdown, e.g. to end long-lived streams
// that would otherwise hold the gRPC drain until its deadline.
void run_service(StopSignals& stop, grpcx::Server& server, metrics::Server& metrics, kafka::Producer& producer,
                 const std::string& ready_file, const std::function<void(std::stop_token)>& worker,
                 const std::function<void()>& before_drain = {});

}  // namespace tierflow::runtime
