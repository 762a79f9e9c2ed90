#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/strings/string_view.h"
#include "source/upstream/attempt.h"
#include "source/upstream/host_health.h"

namespace gw::upstream {

// Settings of passive outlier ejection (compiled from gateway.v1.OutlierDetection; see
// docs/health-checking.md). Envoy's consecutive-failure detectors and ejection arithmetic.
struct OutlierSettings {
  uint32_t consecutive_5xx = 5;                // 5xx or no response, in a row; 0: off
  uint32_t consecutive_gateway_failure = 0;    // 502/503/504 or no response, in a row; 0: off
  int64_t base_ejection_ns = 30'000'000'000;   // ejection time = base * times ejected ...
  int64_t max_ejection_ns = 300'000'000'000;   // ... up to this
  uint32_t max_ejection_percent = 10;          // of the hosts at once (one host always may be)
  int64_t interval_ns = 10'000'000'000;        // how often sweep() runs (un-ejection, decay)
};

// Passive outlier detection for one cluster's endpoints. onAttempt() runs on any worker and
// touches only per-host atomics unless a threshold is reached; the ejection decision (max
// percent, duration) and sweep() (un-ejection) run under one mutex. Ejection sets
// HostHealth::kOutlierEjected on the shared flags the balancers read; sweep() clears it.
// Every method takes the time, so tests drive it with a fake clock.
class OutlierDetector {
public:
  // Called (under the detector's mutex) after every ejection or un-ejection: `duration_ns` is the
  // ejection time (0 when returning), `why` e.g. "5 consecutive 5xx".
  using Hook = std::function<void(size_t host, bool ejected, int64_t duration_ns,
                                  absl::string_view why)>;

  // `hosts` (count `n`) are the cluster's shared HostHealth flags; they outlive the detector.
  OutlierDetector(const OutlierSettings& settings, HostHealth* hosts, size_t n);
  void setHook(Hook hook) { hook_ = std::move(hook); }
  const OutlierSettings& settings() const { return settings_; }

  // Any thread: one attempt's result on endpoint `host`. True when this call ejected it.
  bool onAttempt(size_t host, const AttemptResult& result, int64_t now_ns);
  // One thread (the main loop, every settings().interval_ns): returns the hosts whose ejection
  // time has passed and lowers the ejection multiplier of hosts that stayed in. Returns how many
  // hosts came back.
  size_t sweep(int64_t now_ns);

  // Readers for the admin views (any thread).
  uint64_t ejectionsTotal() const { return ejections_total_.load(std::memory_order_relaxed); }
  uint32_t ejections(size_t host) const {
    return state_[host].ejections.load(std::memory_order_relaxed);
  }
  // When the host comes back (monotonic ns; returned at the first sweep after it); 0 when it is
  // not ejected.
  int64_t ejectedUntilNs(size_t host) const {
    return state_[host].ejected_until_ns.load(std::memory_order_relaxed);
  }
  size_t ejectedCount() const;

private:
  struct alignas(64) HostState {
    std::atomic<uint32_t> consecutive_5xx{0};
    std::atomic<uint32_t> consecutive_gateway{0};
    std::atomic<int64_t> ejected_until_ns{0};  // written under mu_
    std::atomic<uint32_t> ejections{0};        // times ejected (admin views); written under mu_
    uint32_t multiplier = 0;                   // under mu_: the ejection time's factor
    bool ejected = false;                      // under mu_
  };

  bool tryEject(size_t host, int64_t now_ns, absl::string_view why);
  static void resetCounters(HostState& h);

  const OutlierSettings settings_;
  HostHealth* const hosts_;
  const size_t n_;
  std::unique_ptr<HostState[]> state_;
  mutable std::mutex mu_;
  size_t ejected_count_ = 0;  // under mu_
  std::atomic<uint64_t> ejections_total_{0};
  Hook hook_;
};

} // namespace gw::upstream
