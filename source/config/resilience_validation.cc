#include "source/config/resilience_validation.h"

#include "absl/strings/str_cat.h"

namespace gw::config {

namespace {
constexpr uint32_t kMaxHalfOpenRequests = 1000;
}

void validatePositiveDuration(const google::protobuf::Duration& d, const std::string& path,
                              std::vector<ConfigError>& errors) {
  if (d.seconds() < 0 || d.nanos() < 0) {
    errors.push_back({path, "must not be negative"});
  } else if (d.nanos() > 999999999) {
    errors.push_back({path, "invalid duration (nanos out of range)"});
  } else if (d.seconds() == 0 && d.nanos() == 0) {
    errors.push_back({path, "must be positive"});
  }
}

void validateCircuitBreaker(const gateway::v1::CircuitBreaker& cb, const std::string& base,
                            std::vector<ConfigError>& errors) {
  if (cb.error_rate_percent() > 100) {
    errors.push_back({base + ".error_rate_percent", "must be 0..100"});
  }
  if (cb.has_consecutive_failures() && cb.consecutive_failures() == 0 &&
      cb.error_rate_percent() == 0) {
    errors.push_back({base + ".consecutive_failures",
                      "0 turns the consecutive trigger off: set error_rate_percent too, or the "
                      "breaker never opens"});
  }
  if (cb.has_window()) {
    validatePositiveDuration(cb.window(), base + ".window", errors);
  }
  if (cb.has_open_duration()) {
    validatePositiveDuration(cb.open_duration(), base + ".open_duration", errors);
  }
  if (cb.has_max_open_duration()) {
    validatePositiveDuration(cb.max_open_duration(), base + ".max_open_duration", errors);
    const auto& o = cb.open_duration();
    const auto& m = cb.max_open_duration();
    const int64_t open_ns = cb.has_open_duration() ? o.seconds() * 1000000000 + o.nanos()
                                                   : int64_t{5} * 1000000000;
    if (m.seconds() * 1000000000 + m.nanos() < open_ns) {
      errors.push_back({base + ".max_open_duration", "must not be less than open_duration"});
    }
  }
  if (cb.half_open_requests() > kMaxHalfOpenRequests) {
    errors.push_back(
        {base + ".half_open_requests", absl::StrCat("must be at most ", kMaxHalfOpenRequests)});
  }
  for (int i = 0; i < cb.failure_on_size(); i++) {
    const std::string& f = cb.failure_on(i);
    if (f != "5xx" && f != "gateway-error" && f != "connect-failure" && f != "reset" &&
        f != "timeout") {
      errors.push_back({absl::StrCat(base, ".failure_on[", i, "]"),
                        absl::StrCat("unknown failure '", f,
                                     "' (expected 5xx, gateway-error, connect-failure, reset or "
                                     "timeout)")});
    }
  }
  for (int i = 0; i < cb.failure_statuses_size(); i++) {
    if (cb.failure_statuses(i) < 100 || cb.failure_statuses(i) > 599) {
      errors.push_back({absl::StrCat(base, ".failure_statuses[", i, "]"), "must be 100..599"});
    }
  }
}

void validateRetryBudget(const gateway::v1::RetryBudget& rb, const std::string& base,
                         std::vector<ConfigError>& errors) {
  if (rb.budget_percent() > 100) {
    errors.push_back({base + ".budget_percent", "must be 0..100 (0: the default 20)"});
  }
}

namespace {

constexpr uint32_t kMaxThreshold = 1000;
constexpr uint32_t kMaxConsecutive = 1000;
constexpr int64_t kMaxHealthDurationS = 24 * 3600;

int64_t nanosOf(const google::protobuf::Duration& d) {
  return d.seconds() * 1000000000 + d.nanos();
}

// A positive duration of at most a day (health timers are millisecond libuv timers).
void checkHealthDuration(const google::protobuf::Duration& d, const std::string& path,
                         std::vector<ConfigError>& errors) {
  const size_t before = errors.size();
  validatePositiveDuration(d, path, errors);
  if (errors.size() == before && d.seconds() > kMaxHealthDurationS) {
    errors.push_back({path, "must be at most 24h"});
  } else if (errors.size() == before && nanosOf(d) < 1000000) {
    errors.push_back({path, "must be at least 1ms"});
  }
}

bool statusText(absl::string_view t, int* out) {
  if (t.size() != 3) {
    return false;
  }
  int v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  *out = v;
  return v >= 100 && v <= 599;
}

bool isToken(absl::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
    if (!ok) {
      return false;
    }
  }
  return true;
}

} // namespace

void validateHealthCheck(const gateway::v1::HealthCheck& hc, const std::string& base,
                         std::vector<ConfigError>& errors) {
  const std::string p = base + ".health_check";
  if (hc.path().empty()) {
    errors.push_back({p + ".path", "required (e.g. \"/healthz\")"});
  } else if (hc.path()[0] != '/') {
    errors.push_back({p + ".path", "must start with '/'"});
  } else {
    for (unsigned char c : hc.path()) {
      if (c <= 0x20 || c >= 0x7f) {
        errors.push_back({p + ".path", "must not contain spaces, control or non-ASCII bytes"});
        break;
      }
    }
  }
  if (hc.has_interval()) {
    checkHealthDuration(hc.interval(), p + ".interval", errors);
  }
  if (hc.has_interval_jitter()) {
    const auto& j = hc.interval_jitter();
    if (j.seconds() < 0 || j.nanos() < 0) {
      errors.push_back({p + ".interval_jitter", "must not be negative"});
    } else if (j.nanos() > 999999999) {
      errors.push_back({p + ".interval_jitter", "invalid duration (nanos out of range)"});
    } else if (j.seconds() > kMaxHealthDurationS) {
      errors.push_back({p + ".interval_jitter", "must be at most 24h"});
    }
  }
  if (hc.has_timeout()) {
    checkHealthDuration(hc.timeout(), p + ".timeout", errors);
  }
  if (hc.healthy_threshold() > kMaxThreshold) {
    errors.push_back({p + ".healthy_threshold", absl::StrCat("must be at most ", kMaxThreshold)});
  }
  if (hc.unhealthy_threshold() > kMaxThreshold) {
    errors.push_back(
        {p + ".unhealthy_threshold", absl::StrCat("must be at most ", kMaxThreshold)});
  }
  for (int i = 0; i < hc.expected_statuses_size(); i++) {
    const std::string& r = hc.expected_statuses(i);
    const size_t dash = r.find('-');
    int lo = 0, hi = 0;
    const bool ok = dash == std::string::npos
                        ? statusText(r, &lo)
                        : statusText(absl::string_view(r).substr(0, dash), &lo) &&
                              statusText(absl::string_view(r).substr(dash + 1), &hi) && lo <= hi;
    if (!ok) {
      errors.push_back({absl::StrCat(p, ".expected_statuses[", i, "]"),
                        absl::StrCat("'", r,
                                     "' is not a status (100..599) or a range \"lo-hi\" with "
                                     "lo <= hi")});
    }
  }
  if (!hc.host().empty()) {
    for (unsigned char c : hc.host()) {
      if (c <= 0x20 || c >= 0x7f) {
        errors.push_back({p + ".host", "must not contain spaces, control or non-ASCII bytes"});
        break;
      }
    }
  }
  if (!hc.method().empty() && hc.method() != "GET" && hc.method() != "HEAD") {
    errors.push_back({p + ".method", absl::StrCat(isToken(hc.method()) ? "unsupported method '"
                                                                        : "invalid method '",
                                                  hc.method(), "' (expected GET or HEAD)")});
  }
}

void validateOutlierDetection(const gateway::v1::OutlierDetection& od, const std::string& base,
                              std::vector<ConfigError>& errors) {
  const std::string p = base + ".outlier_detection";
  if (od.has_consecutive_5xx() && od.consecutive_5xx() > kMaxConsecutive) {
    errors.push_back({p + ".consecutive_5xx", absl::StrCat("must be at most ", kMaxConsecutive)});
  }
  if (od.consecutive_gateway_failure() > kMaxConsecutive) {
    errors.push_back(
        {p + ".consecutive_gateway_failure", absl::StrCat("must be at most ", kMaxConsecutive)});
  }
  if (od.has_consecutive_5xx() && od.consecutive_5xx() == 0 &&
      od.consecutive_gateway_failure() == 0) {
    errors.push_back({p + ".consecutive_5xx",
                      "0 turns the 5xx trigger off: set consecutive_gateway_failure too, or no "
                      "host is ever ejected"});
  }
  if (od.has_base_ejection_time()) {
    checkHealthDuration(od.base_ejection_time(), p + ".base_ejection_time", errors);
  }
  if (od.has_max_ejection_time()) {
    const size_t before = errors.size();
    checkHealthDuration(od.max_ejection_time(), p + ".max_ejection_time", errors);
    const int64_t base_ns = od.has_base_ejection_time() ? nanosOf(od.base_ejection_time())
                                                        : int64_t{30} * 1000000000;
    if (errors.size() == before && nanosOf(od.max_ejection_time()) < base_ns) {
      errors.push_back({p + ".max_ejection_time", "must not be less than base_ejection_time"});
    }
  }
  if (od.max_ejection_percent() > 100) {
    errors.push_back({p + ".max_ejection_percent", "must be 0..100 (0: the default 10)"});
  }
  if (od.has_interval()) {
    checkHealthDuration(od.interval(), p + ".interval", errors);
  }
}

void validateClusterHealth(const gateway::v1::Cluster& c, const std::string& base,
                           std::vector<ConfigError>& errors) {
  if (c.has_health_check()) {
    validateHealthCheck(c.health_check(), base, errors);
  }
  if (c.has_outlier_detection()) {
    validateOutlierDetection(c.outlier_detection(), base, errors);
  }
  if (c.has_panic_threshold_percent() && c.panic_threshold_percent() > 100) {
    errors.push_back({base + ".panic_threshold_percent", "must be 0..100 (0: no panic mode)"});
  }
}

} // namespace gw::config
