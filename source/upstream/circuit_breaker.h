#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/upstream/attempt.h"

namespace gw::upstream {

// Which attempt results count as failures (CircuitBreaker.failure_on / failure_statuses).
struct FailurePolicy {
  bool on_5xx = true;
  bool on_gateway_error = false;
  bool on_connect_failure = true;
  bool on_reset = true;
  bool on_timeout = true;
  std::vector<uint16_t> statuses;

  bool isFailure(const AttemptResult& r) const {
    switch (r.kind) {
    case AttemptResult::Kind::Response:
      if ((on_5xx && r.is5xx()) || (on_gateway_error && r.isGatewayError())) {
        return true;
      }
      for (uint16_t s : statuses) {
        if (s == r.status) {
          return true;
        }
      }
      return false;
    case AttemptResult::Kind::ConnectFailure:
      return on_connect_failure || on_gateway_error;
    case AttemptResult::Kind::Reset:
    case AttemptResult::Kind::ProtocolError:
      return on_reset || on_gateway_error;
    case AttemptResult::Kind::Timeout:
      return on_timeout || on_gateway_error;
    }
    return false;
  }
};

// Settings of one breaker (compiled from gateway.v1.CircuitBreaker; see docs/resilience.md).
struct CircuitBreakerSettings {
  uint32_t consecutive_failures = 5;    // open after this many failures in a row; 0: off
  uint32_t error_rate_percent = 0;      // open when failures/requests >= this in the window; 0: off
  uint32_t min_requests = 20;           // requests the window needs before the rate applies
  int64_t window_ns = 10'000'000'000;   // sliding window of the error rate
  int64_t open_ns = 5'000'000'000;      // first open period
  int64_t max_open_ns = 60'000'000'000; // cap of the doubling open period
  uint32_t half_open_requests = 1;      // probes admitted while half-open
  FailurePolicy failures;
};

// A closed -> open -> half-open -> closed state machine shared by every worker of the process
// (one per cluster, one per route that asks for its own). Every method takes the time, so tests
// drive it with a fake clock.
//
//   closed --(N consecutive failures, or error rate >= X% over the window with >= M requests)--> open
//   open --(open period over: the next request)--> half-open
//   half-open --(K probes all succeed)--> closed          (the open period resets to its base)
//   half-open --(a probe fails)--> open                   (the open period doubles, up to the cap)
//
// The request path only touches atomics: admit() is one load while closed; record() adds to the
// consecutive counter and the window's bucket. Transitions take mu_ (rare: they happen once per
// open, probe or close), so two workers never both open or close the breaker.
class CircuitBreaker {
public:
  enum class State : uint8_t { Closed = 0, Open = 1, HalfOpen = 2 };
  // How a request was let through: it reports its result with the same value.
  enum class Admission : uint8_t { Rejected, Normal, Probe };
  struct Decision {
    Admission admission;
    int64_t retry_after_ns = 0;  // Rejected: time until the breaker lets a probe through
  };
  // Logs and counts a transition (called under mu_, from whichever thread made it).
  using TransitionHook = std::function<void(State from, State to, int64_t open_ns)>;

  CircuitBreaker(std::string name, const CircuitBreakerSettings& settings);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  const std::string& name() const { return name_; }
  const CircuitBreakerSettings& settings() const { return settings_; }
  void setTransitionHook(TransitionHook hook) { hook_ = std::move(hook); }

  Decision admit(int64_t now_ns);
  // The result of a request admitted by admit(). A request that ends without a result (the
  // client left) calls release() instead, so that a probe slot is not held forever.
  void record(Admission admission, bool failure, int64_t now_ns);
  void release(Admission admission);

  // The state as /metrics shows it: an open breaker whose period is over reads half-open (the
  // next request is a probe).
  State state(int64_t now_ns) const;
  // Time left in the open period (0 unless open).
  int64_t openRemainingNs(int64_t now_ns) const;

  // Counters (relaxed; any thread).
  uint64_t opened() const { return opened_.load(std::memory_order_relaxed); }
  uint64_t closed() const { return closed_.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

  static absl::string_view stateName(State s);

private:
  static constexpr int kBuckets = 10;
  struct Bucket {
    std::atomic<int64_t> epoch{-1};
    std::atomic<uint32_t> requests{0};
    std::atomic<uint32_t> failures{0};
  };
  void addToWindow(bool failure, int64_t now_ns);
  bool rateTripped(int64_t now_ns) const;
  // Under mu_.
  void openLocked(int64_t now_ns, State from);
  void closeLocked();

  const std::string name_;
  const CircuitBreakerSettings settings_;
  const int64_t bucket_ns_;
  TransitionHook hook_;
  std::atomic<State> state_{State::Closed};
  std::atomic<int64_t> open_until_ns_{0};
  std::atomic<uint32_t> consecutive_{0};
  std::atomic<uint32_t> probes_in_flight_{0};
  std::atomic<uint32_t> probe_successes_{0};
  Bucket buckets_[kBuckets];
  std::mutex mu_;
  uint32_t reopens_ = 0;  // under mu_: consecutive re-opens from half-open (the doubling)
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> closed_{0};
  std::atomic<uint64_t> rejected_{0};
};

} // namespace gw::upstream
