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

} // namespace gw::config
