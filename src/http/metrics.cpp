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

}  // namespace keel::http
