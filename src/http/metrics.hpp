#pragma once

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "db/replicas.hpp"

namespace keel::http {

// Request counters and a latency histogram by route, method and status, in Prometheus text
// format. Recording takes a short lock (no I/O under it).
class Metrics {
 public:
  void record(const std::string& route, const std::string& method, int status, double seconds);
  // Prometheus exposition text; `extra` is appended as is (gauges from elsewhere).
  std::string render(const std::string& extra = {}) const;

 private:
  struct Series {
    std::vector<unsigned long long> buckets;  // cumulative counts per bound
    unsigned long long count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, Series> series_;
};

// The replicas' lines of /metrics (database.replica_urls): reads by target, and per replica
// whether it is up, its lag and its failed reads.
std::string replica_metrics(const db::Replicas::Stats& stats);

}  // namespace keel::http
