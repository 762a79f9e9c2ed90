#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "source/upstream/attempt.h"
#include "source/upstream/circuit_breaker.h"

namespace gw::filters {

// When and how a proxied request is tried again (the router's retry_policy, docs/resilience.md).
struct RetryPolicy {
  uint32_t num_retries = 1;
  // retry_on
  bool on_connect_failure = false;
  bool on_reset = false;
  bool on_5xx = false;            // also a per-try timeout, as in Envoy
  bool on_gateway_error = false;  // 502/503/504, and every failure without a response
  std::vector<uint16_t> statuses;  // retriable status codes
  std::chrono::milliseconds per_try_timeout{0};  // 0: only the route timeout
  std::chrono::milliseconds backoff_base{25};
  std::chrono::milliseconds backoff_max{250};
  bool retry_non_idempotent = false;  // POST and PATCH retry too
  uint64_t replay_buffer_bytes = 65536;  // request body kept for a retry; beyond it, no retry

  bool retriable(const upstream::AttemptResult& r) const {
    using K = upstream::AttemptResult::Kind;
    switch (r.kind) {
    case K::Response:
      if ((on_5xx && r.is5xx()) || (on_gateway_error && r.isGatewayError())) {
        return true;
      }
      for (uint16_t s : statuses) {
        if (s == r.status) {
          return true;
        }
      }
      return false;
    case K::ConnectFailure:
      return on_connect_failure || on_gateway_error || on_5xx;
    case K::Reset:
      return on_reset || on_gateway_error || on_5xx;
    case K::Timeout:
      return on_5xx || on_gateway_error;
    case K::ProtocolError:
      return on_gateway_error || on_5xx;
    }
    return false;
  }
  // The delay before retry number `retry` (1-based): full jitter, uniform in
  // [0, min(backoff_max, backoff_base * 2^(retry-1))], drawn from `random`.
  std::chrono::milliseconds backoff(uint32_t retry, uint64_t random) const {
    uint64_t cap = static_cast<uint64_t>(backoff_base.count());
    for (uint32_t i = 1; i < retry && cap < static_cast<uint64_t>(backoff_max.count()); i++) {
      cap *= 2;
    }
    cap = std::min<uint64_t>(cap, static_cast<uint64_t>(backoff_max.count()));
    return std::chrono::milliseconds(cap == 0 ? 0 : random % (cap + 1));
  }
  static bool idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
           method == "DELETE" || method == "TRACE";
  }
};

// What answers a request its route cannot proxy (the router's fallback): a local response, another
// cluster, or the 503 JSON error. Every fallback response carries `x-gateway-fallback: <reason>`.
struct Fallback {
  enum class Kind : uint8_t { Error, DirectResponse, Cluster };
  Kind kind = Kind::Error;
  int status = 200;                                          // DirectResponse
  std::vector<std::pair<std::string, std::string>> headers;  // DirectResponse
  std::string body;                                          // DirectResponse
  std::string cluster;                                       // Cluster
  // Which failures it answers (circuit_open always).
  bool on_no_healthy_upstream = false;
  bool on_upstream_failure = false;  // connect failure, reset, timeout, overflow: after retries
};

// A route's proxy settings, from the router filter's config; immutable, owned by that config.
struct ProxyPolicy {
  std::string route_name;
  const RetryPolicy* retry = nullptr;  // nullptr: no retries
  Fallback fallback;
  // The route's own breaker (router.circuit_breaker), in addition to the cluster's; may be null.
  std::shared_ptr<upstream::CircuitBreaker> breaker;
  bool add_attempt_count = false;  // x-gateway-attempt-count upstream (with a retry policy)
};

} // namespace gw::filters
