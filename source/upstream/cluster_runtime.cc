#include "source/upstream/cluster_runtime.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

namespace gw::upstream {

namespace {

int64_t durationNs(bool has, const google::protobuf::Duration& d, int64_t dflt) {
  if (!has) {
    return dflt;
  }
  return d.seconds() * 1'000'000'000 + d.nanos();
}

} // namespace

int64_t monotonicNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

CircuitBreakerSettings breakerSettings(const gateway::v1::CircuitBreaker& p) {
  CircuitBreakerSettings s;
  if (p.has_consecutive_failures()) {
    s.consecutive_failures = p.consecutive_failures();
  }
  s.error_rate_percent = p.error_rate_percent();
  if (p.min_requests() > 0) {
    s.min_requests = p.min_requests();
  }
  s.window_ns = durationNs(p.has_window(), p.window(), s.window_ns);
  s.open_ns = durationNs(p.has_open_duration(), p.open_duration(), s.open_ns);
  s.max_open_ns = durationNs(p.has_max_open_duration(), p.max_open_duration(), s.max_open_ns);
  if (s.max_open_ns < s.open_ns) {
    s.max_open_ns = s.open_ns;
  }
  if (p.half_open_requests() > 0) {
    s.half_open_requests = p.half_open_requests();
  }
  if (p.failure_on_size() > 0) {
    s.failures = FailurePolicy{false, false, false, false, false, {}};
    for (const std::string& f : p.failure_on()) {
      if (f == "5xx") {
        s.failures.on_5xx = true;
      } else if (f == "gateway-error") {
        s.failures.on_gateway_error = true;
      } else if (f == "connect-failure") {
        s.failures.on_connect_failure = true;
      } else if (f == "reset") {
        s.failures.on_reset = true;
      } else if (f == "timeout") {
        s.failures.on_timeout = true;
      }
    }
  }
  for (uint32_t st : p.failure_statuses()) {
    s.failures.statuses.push_back(static_cast<uint16_t>(st));
  }
  return s;
}

RetryBudget::Settings retryBudgetSettings(const gateway::v1::Cluster& proto) {
  RetryBudget::Settings s;
  if (proto.has_retry_budget()) {
    s.enabled = true;
    if (proto.retry_budget().budget_percent() > 0) {
      s.budget_percent = proto.retry_budget().budget_percent();
    }
    if (proto.retry_budget().min_retry_concurrency() > 0) {
      s.min_retry_concurrency = proto.retry_budget().min_retry_concurrency();
    }
  }
  return s;
}

std::unique_ptr<CircuitBreaker> makeLoggedBreaker(std::string name,
                                                  const CircuitBreakerSettings& settings) {
  auto b = std::make_unique<CircuitBreaker>(std::move(name), settings);
  CircuitBreaker* raw = b.get();
  b->setTransitionHook([raw](CircuitBreaker::State from, CircuitBreaker::State to,
                             int64_t open_ns) {
    if (to == CircuitBreaker::State::Open) {
      fprintf(stderr, "gatewayd: circuit breaker '%s' %s -> open for %lld ms\n",
              raw->name().c_str(), std::string(CircuitBreaker::stateName(from)).c_str(),
              static_cast<long long>(open_ns / 1'000'000));
    } else {
      fprintf(stderr, "gatewayd: circuit breaker '%s' %s -> %s\n", raw->name().c_str(),
              std::string(CircuitBreaker::stateName(from)).c_str(),
              std::string(CircuitBreaker::stateName(to)).c_str());
    }
  });
  return b;
}

std::shared_ptr<CircuitBreaker> sharedBreaker(const std::string& name,
                                              const gateway::v1::CircuitBreaker& proto) {
  static std::mutex mu;
  static auto* live = new std::map<std::string, std::weak_ptr<CircuitBreaker>>();
  const std::string key = name + "\n" + proto.SerializeAsString();
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = live->begin(); it != live->end();) {
    it = it->second.expired() ? live->erase(it) : std::next(it);
  }
  if (auto it = live->find(key); it != live->end()) {
    if (auto existing = it->second.lock()) {
      return existing;
    }
  }
  std::shared_ptr<CircuitBreaker> created = makeLoggedBreaker(name, breakerSettings(proto));
  (*live)[key] = created;
  return created;
}

OutlierSettings outlierSettings(const gateway::v1::OutlierDetection& p) {
  OutlierSettings s;
  if (p.has_consecutive_5xx()) {
    s.consecutive_5xx = p.consecutive_5xx();
  }
  s.consecutive_gateway_failure = p.consecutive_gateway_failure();
  s.base_ejection_ns =
      durationNs(p.has_base_ejection_time(), p.base_ejection_time(), s.base_ejection_ns);
  s.max_ejection_ns = durationNs(p.has_max_ejection_time(), p.max_ejection_time(),
                                 std::max(s.max_ejection_ns, s.base_ejection_ns));
  if (s.max_ejection_ns < s.base_ejection_ns) {
    s.max_ejection_ns = s.base_ejection_ns;
  }
  if (p.max_ejection_percent() > 0) {
    s.max_ejection_percent = p.max_ejection_percent();
  }
  s.interval_ns = durationNs(p.has_interval(), p.interval(), s.interval_ns);
  return s;
}

ClusterRuntime::ClusterRuntime(const gateway::v1::Cluster& proto)
    : name_(proto.name()), host_count_(static_cast<size_t>(proto.endpoints_size())),
      hosts_(new HostHealth[host_count_ == 0 ? 1 : host_count_]),
      retry_budget_(retryBudgetSettings(proto)) {
  if (proto.has_circuit_breaker()) {
    breaker_ = makeLoggedBreaker(name_, breakerSettings(proto.circuit_breaker()));
  }
  if (proto.has_panic_threshold_percent()) {
    panic_threshold_percent_ = proto.panic_threshold_percent();
  }
  if (proto.has_health_check()) {
    health_check_ = std::make_unique<const HealthCheckSettings>(
        healthCheckSettings(proto.health_check(), name_));
  }
  if (proto.has_outlier_detection()) {
    outlier_ = std::make_unique<OutlierDetector>(outlierSettings(proto.outlier_detection()),
                                                 hosts_.get(), host_count_);
    std::vector<std::string> addresses;
    for (const auto& e : proto.endpoints()) {
      addresses.push_back(e.address());
    }
    outlier_->setHook([this, addresses = std::move(addresses)](size_t host, bool ejected,
                                                               int64_t duration_ns,
                                                               absl::string_view why) {
      if (ejected) {
        fprintf(stderr,
                "gatewayd: outlier: cluster '%s' endpoint %s ejected for %lld ms (%s)\n",
                name_.c_str(), addresses[host].c_str(),
                static_cast<long long>(duration_ns / 1'000'000), std::string(why).c_str());
      } else {
        fprintf(stderr, "gatewayd: outlier: cluster '%s' endpoint %s back in rotation (%s)\n",
                name_.c_str(), addresses[host].c_str(), std::string(why).c_str());
      }
      recomputePanic();
    });
  }
}

void ClusterRuntime::onAttempt(size_t host, const AttemptResult& result, int64_t now_ns) {
  if (outlier_ != nullptr) {
    outlier_->onAttempt(host, result, now_ns);
  }
}

size_t ClusterRuntime::healthyCount() const {
  size_t healthy = 0;
  for (size_t i = 0; i < host_count_; i++) {
    healthy += hosts_[i].healthy() ? 1 : 0;
  }
  return healthy;
}

void ClusterRuntime::recomputePanic() {
  std::lock_guard<std::mutex> lock(panic_mu_);
  const size_t healthy = healthyCount();
  // With no healthy endpoint at all there is no panic: requests get 503 no_healthy_upstream
  // rather than connect failures against endpoints known to be down (docs/health-checking.md).
  const bool on = panic_threshold_percent_ > 0 && healthy > 0 &&
                  healthy * 100 < static_cast<size_t>(panic_threshold_percent_) * host_count_;
  if (on != panic_.load(std::memory_order_relaxed)) {
    panic_.store(on, std::memory_order_relaxed);
    fprintf(stderr,
            on ? "gatewayd: cluster '%s' in panic mode: %zu of %zu endpoints healthy (threshold "
                 "%u%%), balancing across all of them\n"
               : "gatewayd: cluster '%s' out of panic mode: %zu of %zu endpoints healthy "
                 "(threshold %u%%)\n",
            name_.c_str(), healthy, host_count_, panic_threshold_percent_);
  }
}

} // namespace gw::upstream
