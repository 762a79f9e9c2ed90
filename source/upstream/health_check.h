#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"

namespace gw::upstream {

// Settings of a cluster's active HTTP health check (compiled from gateway.v1.HealthCheck; see
// docs/health-checking.md).
struct HealthCheckSettings {
  std::string path;
  std::string host;                          // Host header
  std::string method = "GET";
  int64_t interval_ns = 5'000'000'000;
  int64_t jitter_ns = 0;                     // each wait is interval + uniform(0, jitter)
  int64_t timeout_ns = 1'000'000'000;        // connect + status line
  uint32_t healthy_threshold = 2;
  uint32_t unhealthy_threshold = 3;
  std::vector<std::pair<int, int>> expected;  // inclusive ranges; default {200, 399}

  bool expects(int status) const;
  // The request bytes: "GET <path> HTTP/1.1\r\nHost: ...\r\nConnection: close\r\n...".
  std::string request() const;
  // interval + jitter * u, u in [0, 1).
  int64_t nextWaitNs(double u) const;
};

// gateway.v1.HealthCheck (validated) -> settings, defaults filled in; the Host header defaults to
// the cluster's name (as in Envoy).
HealthCheckSettings healthCheckSettings(const gateway::v1::HealthCheck& proto,
                                        const std::string& cluster_name);

// "200" or "200-299" -> [lo, hi] (each 100..599, lo <= hi); false otherwise.
bool parseStatusRange(absl::string_view text, int* lo, int* hi);

// The status of an HTTP/1.x response from its first bytes: > 0 the status, 0 the status line is
// not complete yet, -1 it is not an HTTP/1.x status line.
int parseStatusLine(absl::string_view data);

// The healthy/unhealthy decision of one endpoint from its check results, with the thresholds.
// An endpoint starts healthy (so a new cluster takes traffic at once). Until its first result,
// one failure is enough to mark it unhealthy (a dead endpoint leaves after one check, not after
// unhealthy_threshold intervals); after that, unhealthy_threshold failures in a row mark it
// unhealthy and healthy_threshold successes in a row mark it healthy again.
class HostCheckTracker {
public:
  enum class Transition { None, BecameHealthy, BecameUnhealthy };

  Transition onResult(bool success, uint32_t healthy_threshold, uint32_t unhealthy_threshold);
  bool healthy() const { return healthy_; }

private:
  bool healthy_ = true;
  bool checked_ = false;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
};

} // namespace gw::upstream
