#pragma once

#include <string>
#include <vector>

#include "source/server/runtime_config.h"
#include "source/server/stats.h"

namespace gw::server {

// The /metrics lines of breakers, retries and fallbacks (appended to `out`):
// gateway_circuit_state{cluster} (0 closed, 1 open, 2 half-open; a route's own breaker adds
// route=...), its opened/rejected counters, retry outcomes and fallback responses by reason.
// `workers` are the workers' stats (their counters are read without locks).
void renderResilienceMetrics(const RuntimeConfig& config, const std::vector<WorkerStats*>& workers,
                             std::string& out);

// Every route breaker of `config` (a router's circuit_breaker), with its cluster and route names.
struct RouteBreakerRef {
  std::string cluster;
  std::string route;
  const upstream::CircuitBreaker* breaker;
};
std::vector<RouteBreakerRef> routeBreakers(const RuntimeConfig& config);

} // namespace gw::server
