// The pure parts of active health checking: thresholds, expected statuses, the request and the
// status line parser.
#include "catch2/catch.hpp"
#include "source/upstream/health_check.h"

namespace gw::upstream {
namespace {

using T = HostCheckTracker::Transition;

TEST_CASE("a host starts healthy; its first failed check marks it unhealthy at once",
          "[health_check]") {
  HostCheckTracker t;
  CHECK(t.healthy());
  CHECK(t.onResult(false, 2, 3) == T::BecameUnhealthy);
  CHECK_FALSE(t.healthy());
}

TEST_CASE("after the first check: unhealthy_threshold failures in a row, healthy_threshold "
          "successes in a row",
          "[health_check]") {
  HostCheckTracker t;
  CHECK(t.onResult(true, 2, 3) == T::None);  // first check passes
  CHECK(t.onResult(false, 2, 3) == T::None);
  CHECK(t.onResult(false, 2, 3) == T::None);
  CHECK(t.onResult(true, 2, 3) == T::None);   // the run of failures starts over
  CHECK(t.onResult(false, 2, 3) == T::None);
  CHECK(t.onResult(false, 2, 3) == T::None);
  CHECK(t.healthy());
  CHECK(t.onResult(false, 2, 3) == T::BecameUnhealthy);
  CHECK(t.onResult(false, 2, 3) == T::None);
  CHECK(t.onResult(true, 2, 3) == T::None);
  CHECK(t.onResult(false, 2, 3) == T::None);  // the run of successes starts over
  CHECK(t.onResult(true, 2, 3) == T::None);
  CHECK_FALSE(t.healthy());
  CHECK(t.onResult(true, 2, 3) == T::BecameHealthy);
  CHECK(t.healthy());
  CHECK(t.onResult(true, 2, 3) == T::None);
}

TEST_CASE("thresholds of 1 flip on every change", "[health_check]") {
  HostCheckTracker t;
  CHECK(t.onResult(true, 1, 1) == T::None);
  CHECK(t.onResult(false, 1, 1) == T::BecameUnhealthy);
  CHECK(t.onResult(true, 1, 1) == T::BecameHealthy);
  CHECK(t.onResult(false, 1, 1) == T::BecameUnhealthy);
}

TEST_CASE("expected statuses: default 200-399, lists and ranges", "[health_check]") {
  gateway::v1::HealthCheck p;
  p.set_path("/healthz");
  HealthCheckSettings d = healthCheckSettings(p, "orders");
  CHECK(d.expects(200));
  CHECK(d.expects(204));
  CHECK(d.expects(302));
  CHECK(d.expects(399));
  CHECK_FALSE(d.expects(199));
  CHECK_FALSE(d.expects(400));
  CHECK_FALSE(d.expects(503));
  p.add_expected_statuses("200");
  p.add_expected_statuses("500-503");
  HealthCheckSettings s = healthCheckSettings(p, "orders");
  CHECK(s.expects(200));
  CHECK_FALSE(s.expects(201));
  CHECK(s.expects(500));
  CHECK(s.expects(503));
  CHECK_FALSE(s.expects(504));
}

TEST_CASE("parseStatusRange", "[health_check]") {
  int lo = 0, hi = 0;
  CHECK(parseStatusRange("204", &lo, &hi));
  CHECK((lo == 204 && hi == 204));
  CHECK(parseStatusRange("200-299", &lo, &hi));
  CHECK((lo == 200 && hi == 299));
  CHECK_FALSE(parseStatusRange("299-200", &lo, &hi));
  CHECK_FALSE(parseStatusRange("99", &lo, &hi));
  CHECK_FALSE(parseStatusRange("600", &lo, &hi));
  CHECK_FALSE(parseStatusRange("2xx", &lo, &hi));
  CHECK_FALSE(parseStatusRange("", &lo, &hi));
  CHECK_FALSE(parseStatusRange("200-", &lo, &hi));
  CHECK_FALSE(parseStatusRange(" 200", &lo, &hi));
}

TEST_CASE("the request, defaults and the Host header", "[health_check]") {
  gateway::v1::HealthCheck p;
  p.set_path("/healthz?full=1");
  HealthCheckSettings s = healthCheckSettings(p, "orders");
  CHECK(s.request() ==
        "GET /healthz?full=1 HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n"
        "User-Agent: gatewayd-health\r\n\r\n");
  CHECK(s.interval_ns == 5'000'000'000);
  CHECK(s.timeout_ns == 1'000'000'000);
  CHECK(s.healthy_threshold == 2);
  CHECK(s.unhealthy_threshold == 3);
  p.set_host("orders.internal");
  p.set_method("HEAD");
  p.mutable_interval()->set_seconds(2);
  p.mutable_interval_jitter()->set_nanos(500'000'000);
  s = healthCheckSettings(p, "orders");
  CHECK(s.request().rfind("HEAD /healthz?full=1 HTTP/1.1\r\nHost: orders.internal\r\n", 0) == 0);
  CHECK(s.nextWaitNs(0.0) == 2'000'000'000);
  CHECK(s.nextWaitNs(0.5) == 2'250'000'000);
  CHECK(s.nextWaitNs(0.999) < 2'500'000'000);
}

TEST_CASE("parseStatusLine", "[health_check]") {
  CHECK(parseStatusLine("") == 0);
  CHECK(parseStatusLine("HTT") == 0);
  CHECK(parseStatusLine("HTTP/1.1 200 OK") == 0);  // no CRLF yet
  CHECK(parseStatusLine("HTTP/1.1 200 OK\r\n") == 200);
  CHECK(parseStatusLine("HTTP/1.0 503 Service Unavailable\r\nx: y\r\n\r\n") == 503);
  CHECK(parseStatusLine("HTTP/1.1 204\r\n") == 204);
  CHECK(parseStatusLine("HTTP/2 200\r\n") == -1);
  CHECK(parseStatusLine("SSH-2.0-OpenSSH\r\n") == -1);
  CHECK(parseStatusLine("HTTP/1.1 20x OK\r\n") == -1);
  CHECK(parseStatusLine("HTTP/1.1 2000 OK\r\n") == -1);
  CHECK(parseStatusLine("HTTP/1.1 099 OK\r\n") == -1);
  CHECK(parseStatusLine("HTTP/1.1 " + std::string(2000, '2')) == -1);  // no line end in sight
}

} // namespace
} // namespace gw::upstream
