#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "source/server/runtime_config.h"
#include "source/upstream/cluster_runtime.h"

namespace gw::server {

// How endpoint health is shown by the admin views (/clusters, the gRPC ProxyAdmin, /metrics).
// Reads only the shared atomics of a ClusterRuntime: callable from any thread.

// Why a host is out of rotation: "active_check", "outlier" (in that order); empty when healthy.
std::vector<std::string> unhealthyReasons(uint8_t flags);

// One endpoint's health as JSON members, each with a leading comma, for /clusters:
// ,"healthy":false,"unhealthy_reasons":["outlier"],"outlier_ejections":2,"ejected_remaining_ms":1200
std::string endpointHealthJson(const upstream::ClusterRuntime& runtime, size_t index,
                               int64_t now_ns);

// Milliseconds until an ejected endpoint returns (at the detector's next sweep after it); 0 when
// it is not ejected.
int64_t ejectedRemainingMs(const upstream::ClusterRuntime& runtime, size_t index, int64_t now_ns);

// Prometheus text for every cluster of `config`:
//   gateway_upstream_host_healthy{cluster,endpoint} 0/1 (only with a health_check or
//   outlier_detection), gateway_outlier_ejections_total{cluster},
//   gateway_health_checks_total{cluster,result="success"|"failure"}, gateway_cluster_panic{cluster}.
std::string renderHealthMetrics(const RuntimeConfig& config);

} // namespace gw::server
