#include "http/metrics.hpp"

#include <array>
#include <cstdio>

namespace keel::http {

namespace {
constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

void Metrics::record(const std::string& route, const std::string& method, int status,
                     double seconds) {
  std::lock_guard lock(mutex_);
  auto& s = series_[{route, method, status}];
  if (s.buckets.empty()) s.buckets.resize(kBounds.size());
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) ++s.buckets[i];
  ++s.count;
  s.sum += seconds;
}

std::string Metrics::render(const std::string& extra) const {
  std::string out =
      "# HELP keel_http_requests_total HTTP requests by route, method and status.\n"
      "# TYPE keel_http_requests_total counter\n";
  std::string hist =
      "# HELP keel_http_request_duration_seconds Time to answer a request.\n"
      "# TYPE keel_http_request_duration_seconds histogram\n";
  std::lock_guard lock(mutex_);
  char buf[64];
  for (const auto& [key, s] : series_) {
    const auto& [route, method, status] = key;
    std::string labels = "route=\"" + escape(route) + "\",method=\"" + escape(method) +
                         "\",status=\"" + std::to_string(status) + "\"";
    out += "keel_http_requests_total{" + labels + "} " + std::to_string(s.count) + "\n";
    for (size_t i = 0; i < kBounds.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%g", kBounds[i]);
      hist += "keel_http_request_duration_seconds_bucket{" + labels + ",le=\"" + buf + "\"} " +
              std::to_string(s.buckets[i]) + "\n";
    }
    hist += "keel_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
            std::to_string(s.count) + "\n";
    std::snprintf(buf, sizeof buf, "%.6f", s.sum);
    hist += "keel_http_request_duration_seconds_sum{" + labels + "} " + buf + "\n";
    hist += "keel_http_request_duration_seconds_count{" + labels + "} " + std::to_string(s.count) +
            "\n";
  }
  return out + hist + extra;
}

std::string replica_metrics(const db::Replicas::Stats& rs) {
  std::string extra;
  extra +=
      "# HELP keel_db_reads_total One-statement reads of records by where they ran "
      "(with database.replica_urls).\n"
      "# TYPE keel_db_reads_total counter\n"
      "keel_db_reads_total{target=\"primary\"} " +
      std::to_string(rs.primary_reads) + "\n";
  std::string up, lag, failures;
  for (size_t i = 0; i < rs.replicas.size(); ++i) {
    const auto& r = rs.replicas[i];
    std::string label = "{replica=\"" + std::to_string(i) + "\"}";
    extra += "keel_db_reads_total{target=\"replica\",replica=\"" + std::to_string(i) + "\"} " +
             std::to_string(r.reads) + "\n";
    up += "keel_db_replica_up" + label + (r.up ? " 1\n" : " 0\n");
    lag += "keel_db_replica_lag_seconds" + label + " " + std::to_string(r.lag_seconds) + "\n";
    failures +=
        "keel_db_replica_read_failures_total" + label + " " + std::to_string(r.failures) + "\n";
  }
  extra +=
      "# HELP keel_db_replica_up 1 while the last check reached the replica.\n"
      "# TYPE keel_db_replica_up gauge\n" +
      up +
      "# HELP keel_db_replica_lag_seconds How far the replica is behind the primary "
      "(-1: unknown).\n"
      "# TYPE keel_db_replica_lag_seconds gauge\n" +
      lag +
      "# HELP keel_db_replica_read_failures_total Reads that failed on the replica and "
      "were run on the primary.\n"
      "# TYPE keel_db_replica_read_failures_total counter\n" +
      failures;
  return extra;
}

}  // namespace keel::http
