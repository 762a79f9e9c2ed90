#include "source/server/stats.h"

#include "absl/strings/str_cat.h"

namespace gw::server {

void WorkerStats::recordRequest(const std::string& route, const std::string& cluster, int status,
                                double latency_ms) {
  std::lock_guard<std::mutex> lock(mu);
  downstream_rq_total++;
  if (last == nullptr || last_route != route || last_cluster != cluster) {
    last = &routes[absl::StrCat(route, "\x1f", cluster)];
    last_route = route;
    last_cluster = cluster;
  }
  auto& s = *last;
  const int cls = status / 100;
  if (cls >= 1 && cls <= 5) {
    s.by_class[cls]++;
  }
  size_t b = 0;
  while (b < kLatencyBucketsMs.size() && latency_ms > kLatencyBucketsMs[b]) {
    b++;
  }
  s.latency_buckets[b]++;
  s.latency_sum_ms += latency_ms;
  s.latency_count++;
}

} // namespace gw::server
