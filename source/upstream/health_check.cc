#include "source/upstream/health_check.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gw::upstream {

namespace {

int64_t durationNs(const google::protobuf::Duration& d) {
  return d.seconds() * 1'000'000'000 + d.nanos();
}

} // namespace

bool HealthCheckSettings::expects(int status) const {
  for (const auto& [lo, hi] : expected) {
    if (status >= lo && status <= hi) {
      return true;
    }
  }
  return false;
}

std::string HealthCheckSettings::request() const {
  return absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", host,
                      "\r\nConnection: close\r\nUser-Agent: gatewayd-health\r\n\r\n");
}

int64_t HealthCheckSettings::nextWaitNs(double u) const {
  if (jitter_ns <= 0) {
    return interval_ns;
  }
  return interval_ns + static_cast<int64_t>(static_cast<double>(jitter_ns) * u);
}

HealthCheckSettings healthCheckSettings(const gateway::v1::HealthCheck& p,
                                        const std::string& cluster_name) {
  HealthCheckSettings s;
  s.path = p.path();
  s.host = p.host().empty() ? cluster_name : p.host();
  if (!p.method().empty()) {
    s.method = p.method();
  }
  if (p.has_interval()) {
    s.interval_ns = durationNs(p.interval());
  }
  if (p.has_interval_jitter()) {
    s.jitter_ns = durationNs(p.interval_jitter());
  }
  if (p.has_timeout()) {
    s.timeout_ns = durationNs(p.timeout());
  }
  if (p.healthy_threshold() > 0) {
    s.healthy_threshold = p.healthy_threshold();
  }
  if (p.unhealthy_threshold() > 0) {
    s.unhealthy_threshold = p.unhealthy_threshold();
  }
  for (const std::string& r : p.expected_statuses()) {
    int lo = 0, hi = 0;
    if (parseStatusRange(r, &lo, &hi)) {
      s.expected.emplace_back(lo, hi);
    }
  }
  if (s.expected.empty()) {
    s.expected.emplace_back(200, 399);
  }
  return s;
}

bool parseStatusRange(absl::string_view text, int* lo, int* hi) {
  auto parseOne = [](absl::string_view t, int* out) {
    if (t.size() != 3 || !absl::ascii_isdigit(t[0]) || !absl::ascii_isdigit(t[1]) ||
        !absl::ascii_isdigit(t[2])) {
      return false;
    }
    *out = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
    return *out >= 100 && *out <= 599;
  };
  const size_t dash = text.find('-');
  if (dash == absl::string_view::npos) {
    if (!parseOne(text, lo)) {
      return false;
    }
    *hi = *lo;
    return true;
  }
  return parseOne(text.substr(0, dash), lo) && parseOne(text.substr(dash + 1), hi) && *lo <= *hi;
}

int parseStatusLine(absl::string_view data) {
  // "HTTP/1.x SSS" then " reason" or the end of the line.
  constexpr absl::string_view kPrefix = "HTTP/1.";
  const size_t have = std::min(data.size(), kPrefix.size());
  if (data.substr(0, have) != kPrefix.substr(0, have)) {
    return -1;
  }
  const size_t eol = data.find("\r\n");
  if (eol == absl::string_view::npos) {
    return data.size() > 1024 ? -1 : 0;
  }
  const absl::string_view line = data.substr(0, eol);
  if (line.size() < 12 || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' ')) {
    return -1;
  }
  int status = 0;
  for (size_t i = 9; i < 12; i++) {
    if (!absl::ascii_isdigit(line[i])) {
      return -1;
    }
    status = status * 10 + (line[i] - '0');
  }
  return status >= 100 && status <= 999 ? status : -1;
}

HostCheckTracker::Transition HostCheckTracker::onResult(bool success, uint32_t healthy_threshold,
                                                        uint32_t unhealthy_threshold) {
  const bool first = !checked_;
  checked_ = true;
  if (success) {
    failures_ = 0;
    successes_++;
    if (!healthy_ && successes_ >= healthy_threshold) {
      healthy_ = true;
      successes_ = 0;
      return Transition::BecameHealthy;
    }
    return Transition::None;
  }
  successes_ = 0;
  failures_++;
  if (healthy_ && (first || failures_ >= unhealthy_threshold)) {
    healthy_ = false;
    failures_ = 0;
    return Transition::BecameUnhealthy;
  }
  return Transition::None;
}

} // namespace gw::upstream
