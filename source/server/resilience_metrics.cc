#include "source/server/resilience_metrics.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace gw::server {

std::vector<RouteBreakerRef> routeBreakers(const RuntimeConfig& config) {
  std::vector<RouteBreakerRef> out;
  for (const auto& l : config.listeners) {
    if (l->routes == nullptr) {
      continue;
    }
    for (router::RouteEntry* r : l->routes->allRoutes()) {
      const FilterChain& chain = filterChainOf(*r);
      if (chain.route == nullptr) {
        continue;
      }
      const filters::StaticRoute* action = chain.route->staticRoute();
      if (action == nullptr || action->policy == nullptr || action->policy->breaker == nullptr) {
        continue;
      }
      const upstream::CircuitBreaker* b = action->policy->breaker.get();
      if (std::any_of(out.begin(), out.end(),
                      [b](const RouteBreakerRef& x) { return x.breaker == b; })) {
        continue;
      }
      out.push_back({action->cluster, action->policy->route_name, b});
    }
  }
  return out;
}

void renderResilienceMetrics(const RuntimeConfig& config, const std::vector<WorkerStats*>& workers,
                             std::string& out) {
  const int64_t now = upstream::monotonicNowNs();
  struct Row {
    std::string labels;
    const upstream::CircuitBreaker* breaker;
  };
  std::vector<Row> rows;
  std::map<std::string, const ClusterConfig*> sorted;
  for (const auto& [name, cc] : config.clusters) {
    sorted[name] = cc.get();
  }
  for (const auto& [name, cc] : sorted) {
    if (cc->runtime != nullptr && cc->runtime->breaker() != nullptr) {
      rows.push_back({absl::StrCat("cluster=\"", name, "\""), cc->runtime->breaker()});
    }
  }
  for (const RouteBreakerRef& r : routeBreakers(config)) {
    rows.push_back({absl::StrCat("cluster=\"", r.cluster, "\",route=\"", r.route, "\""), r.breaker});
  }
  out += "# HELP gateway_circuit_state Circuit breaker state: 0 closed, 1 open, 2 half-open.\n"
         "# TYPE gateway_circuit_state gauge\n";
  for (const Row& r : rows) {
    absl::StrAppend(&out, "gateway_circuit_state{", r.labels, "} ",
                    static_cast<int>(r.breaker->state(now)), "\n");
  }
  out += "# HELP gateway_circuit_opened_total Times the breaker opened.\n"
         "# TYPE gateway_circuit_opened_total counter\n";
  for (const Row& r : rows) {
    absl::StrAppend(&out, "gateway_circuit_opened_total{", r.labels, "} ", r.breaker->opened(),
                    "\n");
  }
  out += "# HELP gateway_circuit_rejected_total Requests refused while the breaker was open or "
         "probing.\n# TYPE gateway_circuit_rejected_total counter\n";
  for (const Row& r : rows) {
    absl::StrAppend(&out, "gateway_circuit_rejected_total{", r.labels, "} ",
                    r.breaker->rejected(), "\n");
  }
  out += "# HELP gateway_retry_budget_rejected_total Retries the cluster's retry budget refused.\n"
         "# TYPE gateway_retry_budget_rejected_total counter\n";
  for (const auto& [name, cc] : sorted) {
    if (cc->runtime != nullptr) {
      absl::StrAppend(&out, "gateway_retry_budget_rejected_total{cluster=\"", name, "\"} ",
                      cc->runtime->retryBudget().rejected(), "\n");
    }
  }
  uint64_t exhausted = 0, budget = 0, per_try = 0, circuit = 0, fb_open = 0, fb_unhealthy = 0,
           fb_failure = 0;
  for (WorkerStats* w : workers) {
    exhausted += w->upstream_rq_retry_exhausted.value();
    budget += w->upstream_rq_retry_budget_exceeded.value();
    per_try += w->upstream_rq_per_try_timeout.value();
    circuit += w->upstream_rq_circuit_open.value();
    fb_open += w->fallback_circuit_open.value();
    fb_unhealthy += w->fallback_no_healthy_upstream.value();
    fb_failure += w->fallback_upstream_failure.value();
  }
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ",
                    v, "\n");
  };
  counter("gateway_upstream_retries_exhausted_total",
          "Retriable failures returned because the route's retries were spent.", exhausted);
  counter("gateway_upstream_retries_budget_exceeded_total",
          "Retries refused by a cluster's retry budget (all clusters).", budget);
  counter("gateway_upstream_per_try_timeouts_total", "Attempts that hit the per-try timeout.",
          per_try);
  counter("gateway_upstream_circuit_open_total",
          "Requests that never went upstream because a breaker was open.", circuit);
  absl::StrAppend(&out,
                  "# HELP gateway_fallback_responses_total Fallback responses by reason.\n"
                  "# TYPE gateway_fallback_responses_total counter\n"
                  "gateway_fallback_responses_total{reason=\"circuit_open\"} ", fb_open, "\n",
                  "gateway_fallback_responses_total{reason=\"no_healthy_upstream\"} ",
                  fb_unhealthy, "\n",
                  "gateway_fallback_responses_total{reason=\"upstream_failure\"} ", fb_failure,
                  "\n");
}

} // namespace gw::server
