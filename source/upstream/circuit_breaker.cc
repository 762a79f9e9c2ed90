#include "source/upstream/circuit_breaker.h"

#include <algorithm>

namespace gw::upstream {

namespace {
constexpr int64_t kHalfOpenRetryAfterNs = 1'000'000'000;  // a refused request while probing
}

CircuitBreaker::CircuitBreaker(std::string name, const CircuitBreakerSettings& settings)
    : name_(std::move(name)), settings_(settings),
      bucket_ns_(std::max<int64_t>(1, settings.window_ns / kBuckets)) {}

absl::string_view CircuitBreaker::stateName(State s) {
  switch (s) {
  case State::Closed:
    return "closed";
  case State::Open:
    return "open";
  case State::HalfOpen:
    return "half_open";
  }
  return "closed";
}

CircuitBreaker::Decision CircuitBreaker::admit(int64_t now_ns) {
  State s = state_.load(std::memory_order_acquire);
  if (s == State::Closed) {
    return {Admission::Normal};
  }
  if (s == State::Open) {
    const int64_t until = open_until_ns_.load(std::memory_order_acquire);
    if (now_ns < until) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return {Admission::Rejected, until - now_ns};
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_.load(std::memory_order_relaxed) == State::Open &&
          now_ns >= open_until_ns_.load(std::memory_order_relaxed)) {
        probes_in_flight_.store(0, std::memory_order_relaxed);
        probe_successes_.store(0, std::memory_order_relaxed);
        state_.store(State::HalfOpen, std::memory_order_release);
        if (hook_) {
          hook_(State::Open, State::HalfOpen, 0);
        }
      }
    }
    s = state_.load(std::memory_order_acquire);
    if (s == State::Closed) {
      return {Admission::Normal};
    }
    if (s == State::Open) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return {Admission::Rejected,
              std::max<int64_t>(0, open_until_ns_.load(std::memory_order_acquire) - now_ns)};
    }
  }
  // Half-open: the first K requests of this half-open period are the probes.
  if (probes_in_flight_.fetch_add(1, std::memory_order_acq_rel) < settings_.half_open_requests) {
    return {Admission::Probe};
  }
  probes_in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return {Admission::Rejected, kHalfOpenRetryAfterNs};
}

void CircuitBreaker::record(Admission admission, bool failure, int64_t now_ns) {
  if (admission == Admission::Probe) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_.load(std::memory_order_relaxed) != State::HalfOpen) {
      return;
    }
    if (failure) {
      reopens_++;
      openLocked(now_ns, State::HalfOpen);
    } else if (probe_successes_.fetch_add(1, std::memory_order_relaxed) + 1 >=
               settings_.half_open_requests) {
      closeLocked();
    }
    return;
  }
  if (admission != Admission::Normal ||
      state_.load(std::memory_order_acquire) != State::Closed) {
    return;  // admitted before the breaker opened: its result no longer matters
  }
  addToWindow(failure, now_ns);
  if (!failure) {
    if (consecutive_.load(std::memory_order_relaxed) != 0) {
      consecutive_.store(0, std::memory_order_relaxed);
    }
    return;
  }
  const uint32_t run = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
  if ((settings_.consecutive_failures > 0 && run >= settings_.consecutive_failures) ||
      rateTripped(now_ns)) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_.load(std::memory_order_relaxed) == State::Closed) {
      reopens_ = 0;
      openLocked(now_ns, State::Closed);
    }
  }
}

void CircuitBreaker::release(Admission admission) {
  if (admission != Admission::Probe) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.load(std::memory_order_relaxed) == State::HalfOpen &&
      probes_in_flight_.load(std::memory_order_relaxed) > 0) {
    probes_in_flight_.fetch_sub(1, std::memory_order_relaxed);  // another request may probe
  }
}

CircuitBreaker::State CircuitBreaker::state(int64_t now_ns) const {
  const State s = state_.load(std::memory_order_acquire);
  if (s == State::Open && now_ns >= open_until_ns_.load(std::memory_order_acquire)) {
    return State::HalfOpen;
  }
  return s;
}

int64_t CircuitBreaker::openRemainingNs(int64_t now_ns) const {
  if (state_.load(std::memory_order_acquire) != State::Open) {
    return 0;
  }
  return std::max<int64_t>(0, open_until_ns_.load(std::memory_order_acquire) - now_ns);
}

// The window is kBuckets buckets of window/kBuckets each, indexed by time. A bucket found holding
// an older period is reset by whoever claims it first; an increment racing that reset may be
// lost, which only makes the error rate approximate by a request or two.
void CircuitBreaker::addToWindow(bool failure, int64_t now_ns) {
  if (settings_.error_rate_percent == 0) {
    return;
  }
  const int64_t epoch = now_ns / bucket_ns_;
  Bucket& b = buckets_[epoch % kBuckets];
  int64_t seen = b.epoch.load(std::memory_order_acquire);
  if (seen != epoch && b.epoch.compare_exchange_strong(seen, epoch, std::memory_order_acq_rel)) {
    b.requests.store(0, std::memory_order_relaxed);
    b.failures.store(0, std::memory_order_relaxed);
  }
  b.requests.fetch_add(1, std::memory_order_relaxed);
  if (failure) {
    b.failures.fetch_add(1, std::memory_order_relaxed);
  }
}

bool CircuitBreaker::rateTripped(int64_t now_ns) const {
  if (settings_.error_rate_percent == 0) {
    return false;
  }
  const int64_t epoch = now_ns / bucket_ns_;
  uint64_t requests = 0;
  uint64_t failures = 0;
  for (const Bucket& b : buckets_) {
    const int64_t e = b.epoch.load(std::memory_order_acquire);
    if (e >= 0 && e > epoch - kBuckets && e <= epoch) {
      requests += b.requests.load(std::memory_order_relaxed);
      failures += b.failures.load(std::memory_order_relaxed);
    }
  }
  return requests >= std::max<uint32_t>(1, settings_.min_requests) &&
         failures * 100 >= requests * settings_.error_rate_percent;
}

void CircuitBreaker::openLocked(int64_t now_ns, State from) {
  int64_t period = std::max<int64_t>(1, settings_.open_ns);
  for (uint32_t i = 0; i < reopens_ && period < settings_.max_open_ns; i++) {
    period *= 2;
  }
  period = std::min(period, std::max(settings_.max_open_ns, settings_.open_ns));
  open_until_ns_.store(now_ns + period, std::memory_order_release);
  state_.store(State::Open, std::memory_order_release);
  opened_.fetch_add(1, std::memory_order_relaxed);
  if (hook_) {
    hook_(from, State::Open, period);
  }
}

void CircuitBreaker::closeLocked() {
  reopens_ = 0;
  consecutive_.store(0, std::memory_order_relaxed);
  for (Bucket& b : buckets_) {
    b.epoch.store(-1, std::memory_order_relaxed);
    b.requests.store(0, std::memory_order_relaxed);
    b.failures.store(0, std::memory_order_relaxed);
  }
  state_.store(State::Closed, std::memory_order_release);
  closed_.fetch_add(1, std::memory_order_relaxed);
  if (hook_) {
    hook_(State::HalfOpen, State::Closed, 0);
  }
}

} // namespace gw::upstream
