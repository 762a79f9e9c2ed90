// The breaker's state machine, driven by a fake clock (every method takes the time).
#include <vector>

#include "catch2/catch.hpp"
#include "source/upstream/circuit_breaker.h"
#include "source/upstream/cluster_runtime.h"

namespace gw::upstream {
namespace {

using State = CircuitBreaker::State;
using Admission = CircuitBreaker::Admission;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;

CircuitBreakerSettings consecutive(uint32_t n) {
  CircuitBreakerSettings s;
  s.consecutive_failures = n;
  s.open_ns = 5 * kS;
  s.max_open_ns = 20 * kS;
  s.half_open_requests = 1;
  return s;
}

// Sends one request through the breaker; returns its admission.
Admission request(CircuitBreaker& b, int64_t now, bool failure) {
  const auto d = b.admit(now);
  if (d.admission != Admission::Rejected) {
    b.record(d.admission, failure, now);
  }
  return d.admission;
}

TEST_CASE("closed -> open after N consecutive failures; a success resets the run", "[breaker]") {
  CircuitBreaker b("c", consecutive(3));
  REQUIRE(request(b, 0, true) == Admission::Normal);
  REQUIRE(request(b, 1, true) == Admission::Normal);
  REQUIRE(request(b, 2, false) == Admission::Normal);  // the run starts over
  REQUIRE(request(b, 3, true) == Admission::Normal);
  REQUIRE(request(b, 4, true) == Admission::Normal);
  REQUIRE(b.state(5) == State::Closed);
  REQUIRE(request(b, 5, true) == Admission::Normal);
  REQUIRE(b.state(6) == State::Open);
  REQUIRE(b.opened() == 1);
}

TEST_CASE("open rejects with the time left, then admits one probe", "[breaker]") {
  CircuitBreaker b("c", consecutive(1));
  request(b, 0, true);
  auto d = b.admit(2 * kS);
  REQUIRE(d.admission == Admission::Rejected);
  REQUIRE(d.retry_after_ns == 3 * kS);
  REQUIRE(b.openRemainingNs(2 * kS) == 3 * kS);
  REQUIRE(b.rejected() == 1);
  // The open period is over: /metrics reads half-open before any request arrives.
  REQUIRE(b.state(5 * kS) == State::HalfOpen);
  auto probe = b.admit(5 * kS);
  REQUIRE(probe.admission == Admission::Probe);
  // A second request while the probe is out is refused (one probe configured).
  auto second = b.admit(5 * kS + kMs);
  REQUIRE(second.admission == Admission::Rejected);
  REQUIRE(second.retry_after_ns > 0);
  b.record(Admission::Probe, false, 5 * kS + 2 * kMs);
  REQUIRE(b.state(5 * kS + 3 * kMs) == State::Closed);
  REQUIRE(b.closed() == 1);
  REQUIRE(b.admit(6 * kS).admission == Admission::Normal);
}

TEST_CASE("a failed probe re-opens for twice as long, capped; closing resets it", "[breaker]") {
  CircuitBreaker b("c", consecutive(1));
  request(b, 0, true);  // open for 5 s
  int64_t t = 5 * kS;
  const int64_t expected[] = {10 * kS, 20 * kS, 20 * kS};  // 5 -> 10 -> 20 -> capped at 20
  for (int64_t period : expected) {
    REQUIRE(b.admit(t).admission == Admission::Probe);
    b.record(Admission::Probe, true, t);
    REQUIRE(b.state(t) == State::Open);
    REQUIRE(b.openRemainingNs(t) == period);
    REQUIRE(b.admit(t + period - 1).admission == Admission::Rejected);
    t += period;
  }
  REQUIRE(b.admit(t).admission == Admission::Probe);
  b.record(Admission::Probe, false, t);
  REQUIRE(b.state(t) == State::Closed);
  // Open again from closed: back to the base period.
  request(b, t + 1, true);
  REQUIRE(b.openRemainingNs(t + 1) == 5 * kS);
}

TEST_CASE("half-open closes only after all K probes succeed", "[breaker]") {
  auto s = consecutive(1);
  s.half_open_requests = 3;
  CircuitBreaker b("c", s);
  request(b, 0, true);
  const int64_t t = 5 * kS;
  REQUIRE(b.admit(t).admission == Admission::Probe);
  REQUIRE(b.admit(t).admission == Admission::Probe);
  REQUIRE(b.admit(t).admission == Admission::Probe);
  REQUIRE(b.admit(t).admission == Admission::Rejected);  // a fourth is not a probe
  b.record(Admission::Probe, false, t);
  b.record(Admission::Probe, false, t);
  REQUIRE(b.state(t) == State::HalfOpen);
  b.record(Admission::Probe, false, t);
  REQUIRE(b.state(t) == State::Closed);
}

TEST_CASE("any failed probe re-opens even after successes", "[breaker]") {
  auto s = consecutive(1);
  s.half_open_requests = 2;
  CircuitBreaker b("c", s);
  request(b, 0, true);
  REQUIRE(b.admit(5 * kS).admission == Admission::Probe);
  REQUIRE(b.admit(5 * kS).admission == Admission::Probe);
  b.record(Admission::Probe, false, 5 * kS);
  b.record(Admission::Probe, true, 5 * kS);
  REQUIRE(b.state(5 * kS) == State::Open);
}

TEST_CASE("a probe that ends without a result frees its slot", "[breaker]") {
  CircuitBreaker b("c", consecutive(1));
  request(b, 0, true);
  REQUIRE(b.admit(5 * kS).admission == Admission::Probe);
  REQUIRE(b.admit(5 * kS).admission == Admission::Rejected);
  b.release(Admission::Probe);  // the client left before the upstream answered
  REQUIRE(b.admit(5 * kS).admission == Admission::Probe);
}

TEST_CASE("results of requests admitted before the breaker opened are ignored", "[breaker]") {
  CircuitBreaker b("c", consecutive(2));
  const auto early = b.admit(0);
  request(b, 1, true);
  request(b, 2, true);  // opens
  REQUIRE(b.state(3) == State::Open);
  b.record(early.admission, false, 4);  // a late success does not close it
  REQUIRE(b.state(5) == State::Open);
}

TEST_CASE("error rate over the window with a minimum of requests", "[breaker]") {
  CircuitBreakerSettings s;
  s.consecutive_failures = 0;  // rate only
  s.error_rate_percent = 50;
  s.min_requests = 10;
  s.window_ns = 10 * kS;
  CircuitBreaker b("c", s);
  // 4 failures of 8: 50%, but fewer than 10 requests.
  for (int i = 0; i < 8; i++) {
    request(b, i * kMs, i % 2 == 0);
  }
  REQUIRE(b.state(kS) == State::Closed);
  request(b, 9 * kMs, false);  // 9 requests, 4 failures: 44%
  REQUIRE(b.state(kS) == State::Closed);
  request(b, 10 * kMs, true);  // 10 requests, 5 failures: 50%
  REQUIRE(b.state(kS) == State::Open);
}

TEST_CASE("the window forgets requests older than its length", "[breaker]") {
  CircuitBreakerSettings s;
  s.consecutive_failures = 0;
  s.error_rate_percent = 50;
  s.min_requests = 4;
  s.window_ns = 10 * kS;
  CircuitBreaker b("c", s);
  request(b, 0, true);
  request(b, kMs, true);
  request(b, 2 * kMs, true);
  REQUIRE(b.state(kS) == State::Closed);  // 3 < min_requests
  // 11 s later the three failures are out of the window: 1 failure of 4 recent would be 25%.
  request(b, 11 * kS, false);
  request(b, 11 * kS + 1, false);
  request(b, 11 * kS + 2, false);
  request(b, 11 * kS + 3, true);
  REQUIRE(b.state(12 * kS) == State::Closed);
}

TEST_CASE("failure policy classifies attempt results", "[breaker]") {
  FailurePolicy dflt;
  using K = AttemptResult::Kind;
  REQUIRE(dflt.isFailure({K::Response, 503}));
  REQUIRE(dflt.isFailure({K::Response, 500}));
  REQUIRE_FALSE(dflt.isFailure({K::Response, 404}));
  REQUIRE_FALSE(dflt.isFailure({K::Response, 429}));
  REQUIRE(dflt.isFailure({K::ConnectFailure, 0}));
  REQUIRE(dflt.isFailure({K::Reset, 0}));
  REQUIRE(dflt.isFailure({K::Timeout, 0}));

  gateway::v1::CircuitBreaker p;
  p.add_failure_on("gateway-error");
  p.add_failure_statuses(429);
  const CircuitBreakerSettings s = breakerSettings(p);
  REQUIRE(s.failures.isFailure({K::Response, 502}));
  REQUIRE_FALSE(s.failures.isFailure({K::Response, 500}));  // not a gateway error
  REQUIRE(s.failures.isFailure({K::Response, 429}));
  REQUIRE(s.failures.isFailure({K::ConnectFailure, 0}));
  REQUIRE(s.consecutive_failures == 5);  // the default
}

TEST_CASE("breaker settings from the proto: defaults and overrides", "[breaker]") {
  gateway::v1::CircuitBreaker p;
  CircuitBreakerSettings s = breakerSettings(p);
  REQUIRE(s.consecutive_failures == 5);
  REQUIRE(s.open_ns == 5 * kS);
  REQUIRE(s.max_open_ns == 60 * kS);
  REQUIRE(s.half_open_requests == 1);
  p.set_consecutive_failures(0);
  p.set_error_rate_percent(30);
  p.mutable_open_duration()->set_seconds(2);
  p.set_half_open_requests(4);
  s = breakerSettings(p);
  REQUIRE(s.consecutive_failures == 0);
  REQUIRE(s.error_rate_percent == 30);
  REQUIRE(s.open_ns == 2 * kS);
  REQUIRE(s.half_open_requests == 4);
}

} // namespace
} // namespace gw::upstream
