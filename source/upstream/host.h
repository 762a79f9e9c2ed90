#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "source/upstream/host_health.h"

namespace gw::upstream {

// One upstream endpoint as seen by one worker. The address part is immutable config; the counters
// are owned by the worker (never shared across threads). Health is the process's: `shared`
// points at the endpoint's HostHealth in the cluster's ClusterRuntime (every worker reads the same
// atomics); `healthy` is a per-worker override the balancer tests use.
struct Host {
  std::string address;          // "host:port" as configured
  sockaddr_storage sockaddr{};  // resolved at config load
  socklen_t sockaddr_len = 0;
  uint32_t weight = 1;
  uint32_t index = 0;           // position in the cluster's endpoints
  bool healthy = true;
  const HostHealth* shared = nullptr;
  uint32_t active_requests = 0;  // in flight on this worker
  uint64_t total_requests = 0;

  // Whether the balancers may pick this host (outside panic mode).
  bool usable() const { return healthy && (shared == nullptr || shared->healthy()); }
};

} // namespace gw::upstream
