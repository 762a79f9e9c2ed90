#include "source/server/tunnel_stats.h"

#include "absl/strings/str_cat.h"

namespace gw::server {

const char* tunnelCloseReasonName(TunnelCloseReason r) {
  switch (r) {
  case TunnelCloseReason::ClientClosed: return "client_closed";
  case TunnelCloseReason::UpstreamClosed: return "upstream_closed";
  case TunnelCloseReason::ClientError: return "client_error";
  case TunnelCloseReason::UpstreamError: return "upstream_error";
  case TunnelCloseReason::IdleTimeout: return "idle_timeout";
  case TunnelCloseReason::MaxDuration: return "max_duration";
  case TunnelCloseReason::Drain: return "drain";
  }
  return "unknown";
}

void renderTunnelMetrics(const std::vector<const TunnelStats*>& workers, std::string& out) {
  int64_t active = 0;
  uint64_t upgrades = 0, refused = 0, from_client = 0, from_upstream = 0;
  uint64_t closed[kTunnelCloseReasons] = {};
  for (const TunnelStats* s : workers) {
    active += s->active.value();
    upgrades += s->upgrades.value();
    refused += s->refused.value();
    from_client += s->bytes_from_client.value();
    from_upstream += s->bytes_from_upstream.value();
    for (int i = 0; i < kTunnelCloseReasons; i++) {
      closed[i] += s->closed[i].value();
    }
  }
  absl::StrAppend(&out,
                  "# HELP gateway_upgrade_tunnels_active Open Upgrade (WebSocket) tunnels.\n"
                  "# TYPE gateway_upgrade_tunnels_active gauge\n"
                  "gateway_upgrade_tunnels_active ", active, "\n",
                  "# HELP gateway_upgrades_total Upgrade tunnels opened (the upstream answered "
                  "101).\n"
                  "# TYPE gateway_upgrades_total counter\n"
                  "gateway_upgrades_total ", upgrades, "\n",
                  "# HELP gateway_upgrades_refused_total Upgrade requests refused: the route does "
                  "not allow the protocol.\n"
                  "# TYPE gateway_upgrades_refused_total counter\n"
                  "gateway_upgrades_refused_total ", refused, "\n",
                  "# HELP gateway_upgrade_tunnel_bytes_total Bytes tunnelled, by direction.\n"
                  "# TYPE gateway_upgrade_tunnel_bytes_total counter\n"
                  "gateway_upgrade_tunnel_bytes_total{direction=\"client_to_upstream\"} ",
                  from_client, "\n",
                  "gateway_upgrade_tunnel_bytes_total{direction=\"upstream_to_client\"} ",
                  from_upstream, "\n",
                  "# HELP gateway_upgrade_tunnels_closed_total Tunnels ended, by reason.\n"
                  "# TYPE gateway_upgrade_tunnels_closed_total counter\n");
  for (int i = 0; i < kTunnelCloseReasons; i++) {
    absl::StrAppend(&out, "gateway_upgrade_tunnels_closed_total{reason=\"",
                    tunnelCloseReasonName(static_cast<TunnelCloseReason>(i)), "\"} ", closed[i],
                    "\n");
  }
}

} // namespace gw::server
