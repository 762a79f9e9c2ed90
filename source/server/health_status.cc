#include "source/server/health_status.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace gw::server {

namespace {

// A Prometheus label value / JSON string body: backslash, quote and newline escaped.
std::string escape(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

} // namespace

std::vector<std::string> unhealthyReasons(uint8_t flags) {
  std::vector<std::string> out;
  if ((flags & upstream::HostHealth::kActiveCheckFailed) != 0) {
    out.emplace_back("active_check");
  }
  if ((flags & upstream::HostHealth::kOutlierEjected) != 0) {
    out.emplace_back("outlier");
  }
  return out;
}

int64_t ejectedRemainingMs(const upstream::ClusterRuntime& runtime, size_t index,
                           int64_t now_ns) {
  const upstream::OutlierDetector* od = runtime.outlier();
  if (od == nullptr || index >= runtime.hostCount()) {
    return 0;
  }
  const int64_t until = od->ejectedUntilNs(index);
  if (until == 0) {
    return 0;
  }
  return std::max<int64_t>(0, (until - now_ns + 999'999) / 1'000'000);
}

std::string endpointHealthJson(const upstream::ClusterRuntime& runtime, size_t index,
                               int64_t now_ns) {
  if (index >= runtime.hostCount()) {
    return "";
  }
  const uint8_t flags = runtime.health(index).reasons();
  std::string reasons;
  for (const std::string& r : unhealthyReasons(flags)) {
    absl::StrAppend(&reasons, reasons.empty() ? "" : ",", "\"", r, "\"");
  }
  const upstream::OutlierDetector* od = runtime.outlier();
  return absl::StrCat(",\"healthy\":", flags == 0 ? "true" : "false", ",\"unhealthy_reasons\":[",
                      reasons, "],\"outlier_ejections\":", od ? od->ejections(index) : 0,
                      ",\"ejected_remaining_ms\":", ejectedRemainingMs(runtime, index, now_ns));
}

std::string renderHealthMetrics(const RuntimeConfig& config) {
  std::map<std::string, const ClusterConfig*> sorted;
  for (const auto& [name, cc] : config.clusters) {
    sorted[name] = cc.get();
  }
  std::string healthy, ejections, checks, panic;
  for (const auto& [name, cc] : sorted) {
    const upstream::ClusterRuntime* rt = cc->runtime.get();
    if (rt == nullptr) {
      continue;
    }
    const std::string cl = escape(name);
    absl::StrAppend(&panic, "gateway_cluster_panic{cluster=\"", cl, "\"} ", rt->panic() ? 1 : 0,
                    "\n");
    if (rt->outlier() != nullptr) {
      absl::StrAppend(&ejections, "gateway_outlier_ejections_total{cluster=\"", cl, "\"} ",
                      rt->outlier()->ejectionsTotal(), "\n");
    }
    if (rt->healthCheck() != nullptr) {
      absl::StrAppend(&checks, "gateway_health_checks_total{cluster=\"", cl,
                      "\",result=\"success\"} ", rt->health_checks_success.load(), "\n",
                      "gateway_health_checks_total{cluster=\"", cl, "\",result=\"failure\"} ",
                      rt->health_checks_failure.load(), "\n");
    }
    if (rt->healthCheck() != nullptr || rt->outlier() != nullptr) {
      for (size_t i = 0; i < cc->endpoints.size() && i < rt->hostCount(); i++) {
        absl::StrAppend(&healthy, "gateway_upstream_host_healthy{cluster=\"", cl,
                        "\",endpoint=\"", escape(cc->endpoints[i].address), "\"} ",
                        rt->health(i).healthy() ? 1 : 0, "\n");
      }
    }
  }
  return absl::StrCat(
      "# HELP gateway_upstream_host_healthy 1 while the endpoint is in rotation (active check "
      "passing and not ejected).\n# TYPE gateway_upstream_host_healthy gauge\n", healthy,
      "# HELP gateway_outlier_ejections_total Endpoints ejected by outlier detection.\n"
      "# TYPE gateway_outlier_ejections_total counter\n", ejections,
      "# HELP gateway_health_checks_total Active health checks by result.\n"
      "# TYPE gateway_health_checks_total counter\n", checks,
      "# HELP gateway_cluster_panic 1 while too few endpoints are healthy and the cluster "
      "balances across all of them.\n# TYPE gateway_cluster_panic gauge\n", panic);
}

} // namespace gw::server
