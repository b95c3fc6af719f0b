// Prometheus /metrics for a service: one registry, one HTTP exposer on its own port.
// Components register their own families on registry() once, at construction.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace prometheus {
class Exposer;
}

namespace tierflow::metrics {

class Server {
 public:
  // listen is "host:port"; port 0 picks a free one (see port()). Empty: no HTTP, the
  // registry still works (unit tests).
  explicit Server(const std::string& listen);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  prometheus::Registry& registry() { return *registry_; }
  int port() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

// Shorthands for a family with one unlabelled series.
prometheus::Counter& counter(prometheus::Registry& r, const std::string& name, const std::string& help,
                             const prometheus::Labels& labels = {});
prometheus::Gauge& gauge(prometheus::Registry& r, const std::string& name, const std::string& help,
                         const prometheus::Labels& labels = {});
prometheus::Histogram& histogram(prometheus::Registry& r, const std::string& name, const std::string& help,
                                 const prometheus::Histogram::BucketBoundaries& buckets,
                                 const prometheus::Labels& labels = {});

}  // namespace tierflow::metrics
