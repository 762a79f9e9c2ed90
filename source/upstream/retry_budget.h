#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace gw::upstream {

// Envoy's retry budget for one cluster, shared by every worker of the process: a retry may start
// while the retries in flight stay within max(min_retry_concurrency, budget_percent% of the
// cluster's active requests). Without a configured budget (`enabled` false) only the floor
// applies (3 retries in flight), so a cluster without one still cannot feed a retry storm.
class RetryBudget {
public:
  struct Settings {
    bool enabled = false;  // count active requests (Cluster.retry_budget is set)
    uint32_t budget_percent = 20;
    uint32_t min_retry_concurrency = 3;
  };
  explicit RetryBudget(const Settings& s) : settings_(s) {}

  // The arithmetic alone (unit-tested): may one more retry start?
  static bool allows(const Settings& s, uint64_t active_requests, uint64_t active_retries) {
    const uint64_t budget =
        s.enabled ? active_requests * s.budget_percent / 100 : 0;  // floor of the percentage
    return active_retries < std::max<uint64_t>(budget, s.min_retry_concurrency);
  }

  bool counting() const { return settings_.enabled; }
  // A request to the cluster started / ended (only when counting()).
  void requestStarted() { active_requests_.fetch_add(1, std::memory_order_relaxed); }
  void requestEnded() { active_requests_.fetch_sub(1, std::memory_order_relaxed); }
  // Takes a retry slot, or counts the refusal. A taken slot is given back by retryEnded().
  bool tryStartRetry() {
    const uint64_t retries = active_retries_.fetch_add(1, std::memory_order_acq_rel);
    if (allows(settings_, active_requests_.load(std::memory_order_relaxed), retries)) {
      return true;
    }
    active_retries_.fetch_sub(1, std::memory_order_acq_rel);
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  void retryEnded() { active_retries_.fetch_sub(1, std::memory_order_acq_rel); }

  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  uint64_t activeRetries() const { return active_retries_.load(std::memory_order_relaxed); }
  const Settings& settings() const { return settings_; }

private:
  const Settings settings_;
  std::atomic<uint64_t> active_requests_{0};
  std::atomic<uint64_t> active_retries_{0};
  std::atomic<uint64_t> rejected_{0};
};

} // namespace gw::upstream
