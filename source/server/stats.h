#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"

namespace gw::server {

// Latency histogram buckets in milliseconds (Prometheus `le` bounds).
inline constexpr std::array<double, 14> kLatencyBucketsMs = {1,   2,   5,    10,   25,   50,  100,
                                                             250, 500, 1000, 2500, 5000, 10000, 30000};

struct RouteClusterStats {
  std::array<uint64_t, 6> by_class{};  // index = status / 100 (0 unused)
  std::array<uint64_t, kLatencyBucketsMs.size() + 1> latency_buckets{};
  double latency_sum_ms = 0;
  uint64_t latency_count = 0;
};

// Counters owned by one worker. The worker writes them; the admin thread reads them. The mutex is
// per worker (never shared between workers) and only contended while /metrics is being scraped.
struct WorkerStats {
  std::mutex mu;
  // key: route '\x1f' cluster. Node map: `last` below points into it.
  absl::node_hash_map<std::string, RouteClusterStats> routes;
  // The entry of the previous request: consecutive requests mostly share route and cluster.
  std::string last_route, last_cluster;
  RouteClusterStats* last = nullptr;
  uint64_t downstream_cx_total = 0;
  uint64_t downstream_rq_total = 0;
  uint64_t downstream_rq_rejected = 0;  // codec errors (400/431/...)
  uint64_t upstream_cx_total = 0;
  uint64_t upstream_cx_connect_fail = 0;
  uint64_t upstream_rq_retry = 0;
  uint64_t upstream_rq_timeout = 0;
  std::atomic<int64_t> downstream_cx_active{0};
  std::atomic<int64_t> downstream_rq_active{0};
  std::atomic<int64_t> upstream_cx_active{0};

  void recordRequest(const std::string& route, const std::string& cluster, int status,
                     double latency_ms);
};

} // namespace gw::server
