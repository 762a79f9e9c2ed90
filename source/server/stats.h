#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "source/common/local_counter.h"
#include "source/server/tunnel_stats.h"

namespace gw::server {

// Latency histogram buckets in milliseconds (Prometheus `le` bounds).
inline constexpr std::array<double, 14> kLatencyBucketsMs = {1,   2,   5,    10,   25,   50,  100,
                                                             250, 500, 1000, 2500, 5000, 10000, 30000};

// HTTP/2 downstream counters: connections, streams, and each limit or abuse mitigation that
// fired (indexed by http2::Event; http2_metrics.cc names them).
struct Http2Stats {
  LocalCounter<uint64_t> connections;
  LocalCounter<uint64_t> streams;
  LocalCounter<uint64_t> stream_idle_timeouts;
  LocalCounter<uint64_t> goaway_sent;
  std::array<LocalCounter<uint64_t>, 9> events;
};

struct RouteClusterStats {
  std::array<uint64_t, 6> by_class{};  // index = status / 100 (0 unused)
  std::array<uint64_t, kLatencyBucketsMs.size() + 1> latency_buckets{};
  double latency_sum_ms = 0;
  uint64_t latency_count = 0;
};

// Stats owned by one worker. The worker writes them; the admin thread reads them. The scalar
// counters are LocalCounters (no lock). The per-route map changes shape as requests arrive, so it
// and the totals recorded with it (recordRequest) are guarded by `mu`: per worker, never shared
// between workers, taken by the worker once per request and contended only while /metrics is
// being scraped.
struct WorkerStats {
  std::mutex mu;
  // key: route '\x1f' cluster. Node map: `last` below points into it. Guarded by mu.
  absl::node_hash_map<std::string, RouteClusterStats> routes;
  // The entry of the previous request: consecutive requests mostly share route and cluster.
  std::string last_route, last_cluster;
  RouteClusterStats* last = nullptr;
  uint64_t downstream_rq_total = 0;  // guarded by mu
  LocalCounter<uint64_t> downstream_cx_total;
  LocalCounter<uint64_t> downstream_rq_rejected;  // codec errors (400/431/...)
  LocalCounter<uint64_t> upstream_cx_total;
  LocalCounter<uint64_t> upstream_cx_connect_fail;
  LocalCounter<uint64_t> downstream_tls_handshakes;        // completed
  LocalCounter<uint64_t> downstream_tls_handshake_failed;  // failed (logged with the reason)
  LocalCounter<uint64_t> upstream_tls_handshake_failed;
  LocalCounter<uint64_t> upstream_rq_retry;          // every retry (policy or stale connection)
  LocalCounter<uint64_t> upstream_rq_retry_exhausted; // retriable, but the retries were spent
  LocalCounter<uint64_t> upstream_rq_retry_budget_exceeded;  // refused by the cluster's budget
  LocalCounter<uint64_t> upstream_rq_per_try_timeout;
  LocalCounter<uint64_t> upstream_rq_circuit_open;    // refused by an open breaker
  LocalCounter<uint64_t> upstream_rq_timeout;
  // Fallback responses by reason (x-gateway-fallback).
  LocalCounter<uint64_t> fallback_circuit_open;
  LocalCounter<uint64_t> fallback_no_healthy_upstream;
  LocalCounter<uint64_t> fallback_upstream_failure;
  LocalCounter<int64_t> downstream_cx_active;
  LocalCounter<int64_t> downstream_rq_active;
  LocalCounter<int64_t> upstream_cx_active;
  Http2Stats http2;
  TunnelStats tunnel;  // Upgrade (WebSocket) tunnels

  void recordRequest(const std::string& route, const std::string& cluster, int status,
                     double latency_ms);
};

} // namespace gw::server
