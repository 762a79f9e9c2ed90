#include "source/upstream/outlier_detector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gw::upstream {

namespace {

// Counts one failure (`failed`) or resets the run; true when the run reaches a multiple of
// `threshold` (the first time at `threshold`, then again every `threshold` failures while an
// ejection is refused by max_ejection_percent: a refused host is reconsidered, but the mutex is
// not taken on every failure).
bool countRun(std::atomic<uint32_t>& run, bool failed, uint32_t threshold) {
  if (threshold == 0) {
    return false;
  }
  if (!failed) {
    if (run.load(std::memory_order_relaxed) != 0) {  // a success on a clean host writes nothing
      run.store(0, std::memory_order_relaxed);
    }
    return false;
  }
  const uint32_t n = run.fetch_add(1, std::memory_order_relaxed) + 1;
  return n % threshold == 0;
}

} // namespace

OutlierDetector::OutlierDetector(const OutlierSettings& settings, HostHealth* hosts, size_t n)
    : settings_(settings), hosts_(hosts), n_(n), state_(new HostState[n == 0 ? 1 : n]) {}

void OutlierDetector::resetCounters(HostState& h) {
  h.consecutive_5xx.store(0, std::memory_order_relaxed);
  h.consecutive_gateway.store(0, std::memory_order_relaxed);
}

bool OutlierDetector::onAttempt(size_t host, const AttemptResult& result, int64_t now_ns) {
  if (host >= n_) {
    return false;
  }
  // Results of requests to an ejected host (in flight when it was ejected, or sent in panic
  // mode) do not count: its runs start over when it returns.
  if ((hosts_[host].reasons() & HostHealth::kOutlierEjected) != 0) {
    return false;
  }
  HostState& h = state_[host];
  // As in Envoy (without split local-origin errors): no response at all counts as a 5xx.
  const bool as_5xx = result.is5xx() || result.kind != AttemptResult::Kind::Response;
  const bool gateway = result.isGatewayError();
  const bool trip_5xx = countRun(h.consecutive_5xx, as_5xx, settings_.consecutive_5xx);
  const bool trip_gw =
      countRun(h.consecutive_gateway, gateway, settings_.consecutive_gateway_failure);
  if (trip_5xx) {
    return tryEject(host, now_ns, absl::StrCat(settings_.consecutive_5xx, " consecutive 5xx"));
  }
  if (trip_gw) {
    return tryEject(host, now_ns, absl::StrCat(settings_.consecutive_gateway_failure,
                                               " consecutive gateway failures"));
  }
  return false;
}

bool OutlierDetector::tryEject(size_t host, int64_t now_ns, absl::string_view why) {
  std::lock_guard<std::mutex> lock(mu_);
  HostState& h = state_[host];
  if (h.ejected) {
    return false;
  }
  // Envoy: at most max_ejection_percent of the hosts, but one host may always be ejected.
  if (ejected_count_ > 0 &&
      (ejected_count_ + 1) * 100 > static_cast<size_t>(settings_.max_ejection_percent) * n_) {
    return false;
  }
  h.ejected = true;
  ejected_count_++;
  // base * multiplier up to the cap; the multiplier itself stops one step past the cap so that a
  // host that stays in comes down from the cap at once.
  const int64_t base = std::max<int64_t>(settings_.base_ejection_ns, 1);
  const int64_t cap = std::max(settings_.max_ejection_ns, base);
  const uint32_t max_multiplier = static_cast<uint32_t>(std::min<int64_t>(cap / base + 1, 1 << 20));
  if (h.multiplier < max_multiplier) {
    h.multiplier++;
  }
  const int64_t duration = std::min(cap, base * static_cast<int64_t>(h.multiplier));
  h.ejected_until_ns.store(now_ns + duration, std::memory_order_relaxed);
  h.ejections.fetch_add(1, std::memory_order_relaxed);
  ejections_total_.fetch_add(1, std::memory_order_relaxed);
  hosts_[host].set(HostHealth::kOutlierEjected);
  resetCounters(h);
  if (hook_) {
    hook_(host, true, duration, why);
  }
  return true;
}

size_t OutlierDetector::sweep(int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t back = 0;
  for (size_t i = 0; i < n_; i++) {
    HostState& h = state_[i];
    if (h.ejected) {
      if (now_ns >= h.ejected_until_ns.load(std::memory_order_relaxed)) {
        h.ejected = false;
        ejected_count_--;
        h.ejected_until_ns.store(0, std::memory_order_relaxed);
        resetCounters(h);
        hosts_[i].clear(HostHealth::kOutlierEjected);
        back++;
        if (hook_) {
          hook_(i, false, 0, "ejection time over");
        }
      }
    } else if (h.multiplier > 0) {
      // Envoy: each interval a host stays in lowers its next ejection time by one step.
      h.multiplier--;
    }
  }
  return back;
}

size_t OutlierDetector::ejectedCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ejected_count_;
}

} // namespace gw::upstream
