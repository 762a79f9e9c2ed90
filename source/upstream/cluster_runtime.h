#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/v1/config.pb.h"
#include "source/upstream/attempt.h"
#include "source/upstream/circuit_breaker.h"
#include "source/upstream/health_check.h"
#include "source/upstream/host_health.h"
#include "source/upstream/outlier_detector.h"
#include "source/upstream/retry_budget.h"

namespace gw::upstream {

// What one cluster keeps for the whole process, beyond any one worker: its circuit breaker, its
// retry budget and the health of each endpoint. Built with the cluster's config (ClusterConfig)
// and carried from one config to the next while the cluster's definition is unchanged
// (Server::publish, RuntimeConfig::adoptClusterRuntimes), so that a push of unrelated routes does
// not close an open breaker or forget an unhealthy host. Thread-safe: workers touch only atomics.
class ClusterRuntime {
public:
  // `proto` is a validated cluster.
  explicit ClusterRuntime(const gateway::v1::Cluster& proto);
  ClusterRuntime(const ClusterRuntime&) = delete;
  ClusterRuntime& operator=(const ClusterRuntime&) = delete;

  const std::string& name() const { return name_; }
  size_t hostCount() const { return host_count_; }
  HostHealth& health(size_t index) { return hosts_[index]; }
  const HostHealth& health(size_t index) const { return hosts_[index]; }
  // nullptr without Cluster.circuit_breaker.
  CircuitBreaker* breaker() const { return breaker_.get(); }
  RetryBudget& retryBudget() { return retry_budget_; }
  const RetryBudget& retryBudget() const { return retry_budget_; }
  // Too few hosts are healthy: the balancers use all of them. Recomputed by recomputePanic()
  // after every health change (active check, ejection, return).
  bool panic() const { return panic_.load(std::memory_order_relaxed); }
  void setPanic(bool on) { panic_.store(on, std::memory_order_relaxed); }
  // Any thread: panic = fewer than panic_threshold_percent of the hosts are healthy (never with
  // a threshold of 0). Logs a change. Serialised by a mutex (health changes are rare).
  void recomputePanic();
  uint32_t panicThresholdPercent() const { return panic_threshold_percent_; }
  size_t healthyCount() const;

  // The result of one attempt on endpoint `host` (any worker): feeds outlier detection.
  void onAttempt(size_t host, const AttemptResult& result, int64_t now_ns);
  // Whether onAttempt wants results (outlier detection is configured); without it and without a
  // breaker, a request's result is not reported at all.
  bool observesAttempts() const { return outlier_ != nullptr; }

  // nullptr without Cluster.outlier_detection.
  OutlierDetector* outlier() const { return outlier_.get(); }
  // nullptr without Cluster.health_check; the checks themselves run on the main loop
  // (source/server/health_checker.h).
  const HealthCheckSettings* healthCheck() const { return health_check_.get(); }
  // Active check results, counted by the health checker (main loop), read by /metrics.
  std::atomic<uint64_t> health_checks_success{0};
  std::atomic<uint64_t> health_checks_failure{0};

private:
  const std::string name_;
  const size_t host_count_;
  std::unique_ptr<HostHealth[]> hosts_;
  std::unique_ptr<CircuitBreaker> breaker_;
  RetryBudget retry_budget_;
  std::atomic<bool> panic_{false};
  uint32_t panic_threshold_percent_ = 50;
  std::mutex panic_mu_;
  std::unique_ptr<OutlierDetector> outlier_;
  std::unique_ptr<const HealthCheckSettings> health_check_;
};

// gateway.v1.CircuitBreaker (validated) -> settings, defaults filled in.
OutlierSettings outlierSettings(const gateway::v1::OutlierDetection& proto);
CircuitBreakerSettings breakerSettings(const gateway::v1::CircuitBreaker& proto);
RetryBudget::Settings retryBudgetSettings(const gateway::v1::Cluster& proto);
// A breaker that logs its transitions to stderr ("circuit breaker 'orders' closed -> open ...").
std::unique_ptr<CircuitBreaker> makeLoggedBreaker(std::string name,
                                                  const CircuitBreakerSettings& settings);

// The breaker named `name` with these settings: the one alive in this process if there is one
// (a config push that leaves a route's breaker unchanged keeps its state), else a new logged one.
// Config time only (a registry under a mutex), never on the request path.
std::shared_ptr<CircuitBreaker> sharedBreaker(const std::string& name,
                                              const gateway::v1::CircuitBreaker& proto);

// Monotonic now in ns (the clock every breaker and ejection uses in the server).
int64_t monotonicNowNs();

} // namespace gw::upstream
