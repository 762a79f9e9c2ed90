#pragma once

// The counters of HTTP/1.1 Upgrade tunnels (WebSocket), one set per worker (written by the
// worker's loop, read by /metrics without locks), and their /metrics lines.

#include <cstdint>
#include <string>
#include <vector>

#include "source/common/local_counter.h"

namespace gw::server {

// Why a tunnel ended (the access log's `close_reason` and the metric's `reason` label).
enum class TunnelCloseReason : uint8_t {
  ClientClosed,    // the client closed its side first (FIN), then both sides finished
  UpstreamClosed,  // the upstream closed its side first
  ClientError,     // the client connection failed (reset, write error)
  UpstreamError,   // the upstream connection failed (reset, write error)
  IdleTimeout,     // no byte either way for upgrade.idle_timeout
  MaxDuration,     // upgrade.max_duration reached
  Drain,           // the proxy drained; upgrade.drain_timeout ran out
};
inline constexpr int kTunnelCloseReasons = 7;
const char* tunnelCloseReasonName(TunnelCloseReason r);

struct TunnelStats {
  LocalCounter<int64_t> active;
  LocalCounter<uint64_t> upgrades;  // tunnels opened (the upstream answered 101)
  LocalCounter<uint64_t> refused;   // upgrade requests refused: type not allowed on the route
  LocalCounter<uint64_t> bytes_from_client;    // tunnelled client -> upstream
  LocalCounter<uint64_t> bytes_from_upstream;  // tunnelled upstream -> client
  LocalCounter<uint64_t> closed[kTunnelCloseReasons];
};

// Appends gateway_upgrade_* lines for the workers' counters (summed) to `out`.
void renderTunnelMetrics(const std::vector<const TunnelStats*>& workers, std::string& out);

} // namespace gw::server
