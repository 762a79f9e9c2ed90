#pragma once

#include <string>
#include <vector>

#include "gateway/v1/config.pb.h"
#include "source/config/config_error.h"

namespace gw::config {

// Checks of the resilience settings, shared by the cluster walk (validate.cc) and the router
// filter (its per-route breaker). Each problem is appended with its path under `base`, e.g.
// "clusters[0].circuit_breaker.half_open_requests".
void validateCircuitBreaker(const gateway::v1::CircuitBreaker& cb, const std::string& base,
                            std::vector<ConfigError>& errors);
void validateRetryBudget(const gateway::v1::RetryBudget& rb, const std::string& base,
                         std::vector<ConfigError>& errors);
// Cluster.health_check, Cluster.outlier_detection and Cluster.panic_threshold_percent
// (docs/health-checking.md); `base` is the cluster's path ("clusters[0]").
void validateHealthCheck(const gateway::v1::HealthCheck& hc, const std::string& base,
                         std::vector<ConfigError>& errors);
void validateOutlierDetection(const gateway::v1::OutlierDetection& od, const std::string& base,
                              std::vector<ConfigError>& errors);
void validateClusterHealth(const gateway::v1::Cluster& c, const std::string& base,
                           std::vector<ConfigError>& errors);
// A Duration that must be positive ("must be positive" / "must not be negative" otherwise).
void validatePositiveDuration(const google::protobuf::Duration& d, const std::string& path,
                              std::vector<ConfigError>& errors);

} // namespace gw::config
