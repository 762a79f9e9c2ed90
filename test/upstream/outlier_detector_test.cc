// Passive outlier ejection (OutlierDetector) and the panic threshold (ClusterRuntime), with a
// fake clock: every call takes the time.
#include <string>
#include <thread>
#include <vector>

#include "catch2/catch.hpp"
#include "source/upstream/cluster_runtime.h"
#include "source/upstream/outlier_detector.h"

namespace gw::upstream {
namespace {

constexpr int64_t kS = 1'000'000'000;

AttemptResult status(int s) { return AttemptResult{AttemptResult::Kind::Response, s}; }
AttemptResult failure(AttemptResult::Kind k) { return AttemptResult{k, 0}; }

OutlierSettings settings(uint32_t c5xx, uint32_t gw = 0) {
  OutlierSettings s;
  s.consecutive_5xx = c5xx;
  s.consecutive_gateway_failure = gw;
  s.base_ejection_ns = 10 * kS;
  s.max_ejection_ns = 35 * kS;
  s.max_ejection_percent = 50;
  s.interval_ns = 1 * kS;
  return s;
}

struct Fixture {
  explicit Fixture(const OutlierSettings& s, size_t n = 4) : hosts(new HostHealth[n]), od(s, hosts.get(), n) {
    od.setHook([this](size_t host, bool ejected, int64_t duration, absl::string_view why) {
      events.push_back({host, ejected, duration, std::string(why)});
    });
  }
  bool ejected(size_t i) const {
    return (hosts[i].reasons() & HostHealth::kOutlierEjected) != 0;
  }
  struct Event {
    size_t host;
    bool ejected;
    int64_t duration;
    std::string why;
  };
  std::unique_ptr<HostHealth[]> hosts;
  OutlierDetector od;
  std::vector<Event> events;
};

TEST_CASE("N consecutive 5xx eject; a success in between starts the run over", "[outlier]") {
  Fixture f(settings(3));
  CHECK_FALSE(f.od.onAttempt(0, status(500), 0));
  CHECK_FALSE(f.od.onAttempt(0, status(503), 0));
  CHECK_FALSE(f.od.onAttempt(0, status(200), 0));  // run reset
  CHECK_FALSE(f.od.onAttempt(0, status(500), 0));
  CHECK_FALSE(f.od.onAttempt(0, status(404), 0));  // a 4xx is not a failure: reset too
  CHECK_FALSE(f.od.onAttempt(0, status(500), 1));
  CHECK_FALSE(f.od.onAttempt(0, failure(AttemptResult::Kind::ConnectFailure), 2));  // counts as 5xx
  CHECK(f.od.onAttempt(0, failure(AttemptResult::Kind::Timeout), 3));
  CHECK(f.ejected(0));
  CHECK_FALSE(f.hosts[0].healthy());
  CHECK(f.od.ejections(0) == 1);
  CHECK(f.od.ejectionsTotal() == 1);
  CHECK(f.od.ejectedUntilNs(0) == 3 + 10 * kS);
  REQUIRE(f.events.size() == 1);
  CHECK(f.events[0].why == "3 consecutive 5xx");
  CHECK(f.events[0].duration == 10 * kS);
  // Other hosts are unaffected; results for the ejected host are ignored while it is out.
  CHECK_FALSE(f.ejected(1));
  for (int i = 0; i < 10; ++i) {
    CHECK_FALSE(f.od.onAttempt(0, status(500), 4));
  }
  CHECK(f.od.ejections(0) == 1);
}

TEST_CASE("consecutive gateway failures: only 502/503/504 and failures without a response",
          "[outlier]") {
  Fixture f(settings(0, 2));
  CHECK_FALSE(f.od.onAttempt(1, status(500), 0));  // a 500 is not a gateway failure
  CHECK_FALSE(f.od.onAttempt(1, status(502), 0));
  CHECK_FALSE(f.od.onAttempt(1, status(500), 0));  // ...and resets that run
  CHECK_FALSE(f.od.onAttempt(1, status(504), 0));
  CHECK(f.od.onAttempt(1, failure(AttemptResult::Kind::Reset), 0));
  CHECK(f.ejected(1));
  CHECK(f.events.at(0).why == "2 consecutive gateway failures");
  // consecutive_5xx = 0: many 500s never eject.
  for (int i = 0; i < 50; ++i) {
    CHECK_FALSE(f.od.onAttempt(2, status(500), 0));
  }
  CHECK_FALSE(f.ejected(2));
}

TEST_CASE("un-ejection is time-based: the sweep returns hosts whose time is over", "[outlier]") {
  Fixture f(settings(1));
  REQUIRE(f.od.onAttempt(0, status(500), 100));
  CHECK(f.od.sweep(100 + 10 * kS - 1) == 0);
  CHECK(f.ejected(0));
  CHECK(f.od.sweep(100 + 10 * kS) == 1);
  CHECK_FALSE(f.ejected(0));
  CHECK(f.hosts[0].healthy());
  CHECK(f.od.ejectedUntilNs(0) == 0);
  CHECK(f.od.ejectedCount() == 0);
  REQUIRE(f.events.size() == 2);
  CHECK_FALSE(f.events[1].ejected);
  // It starts with a clean run.
  f.od.setHook(nullptr);
}

TEST_CASE("the ejection time grows with each ejection up to max_ejection_time", "[outlier]") {
  Fixture f(settings(1));
  int64_t now = 0;
  const int64_t expected[] = {10 * kS, 20 * kS, 30 * kS, 35 * kS, 35 * kS};
  for (int64_t want : expected) {
    REQUIRE(f.od.onAttempt(0, status(500), now));
    CHECK(f.od.ejectedUntilNs(0) - now == want);
    now += want;
    REQUIRE(f.od.sweep(now) == 1);  // back; it fails again at once
  }
  CHECK(f.od.ejections(0) == 5);
}

TEST_CASE("a host that stays in lowers its next ejection time, one step per interval",
          "[outlier]") {
  Fixture f(settings(1));
  REQUIRE(f.od.onAttempt(0, status(500), 0));
  REQUIRE(f.od.sweep(10 * kS) == 1);
  REQUIRE(f.od.onAttempt(0, status(500), 10 * kS));
  CHECK(f.od.ejectedUntilNs(0) == 30 * kS);  // 2x
  REQUIRE(f.od.sweep(30 * kS) == 1);
  f.od.sweep(31 * kS);  // one sweep in: multiplier 2 -> 1
  REQUIRE(f.od.onAttempt(0, status(500), 31 * kS));
  CHECK(f.od.ejectedUntilNs(0) == 31 * kS + 20 * kS);  // 2x again, not 3x
  REQUIRE(f.od.sweep(51 * kS) == 1);
  for (int i = 1; i <= 5; ++i) {
    f.od.sweep((51 + i) * kS);
  }
  REQUIRE(f.od.onAttempt(0, status(500), 60 * kS));
  CHECK(f.od.ejectedUntilNs(0) == 70 * kS);  // back to base
}

TEST_CASE("max_ejection_percent caps the hosts out at once, but one may always go", "[outlier]") {
  SECTION("50% of 4: two hosts") {
    Fixture f(settings(1));
    CHECK(f.od.onAttempt(0, status(500), 0));
    CHECK(f.od.onAttempt(1, status(500), 0));
    CHECK_FALSE(f.od.onAttempt(2, status(500), 0));
    CHECK_FALSE(f.ejected(2));
    CHECK(f.od.ejectedCount() == 2);
    // Once one returns, the refused host is reconsidered on its next failure.
    f.od.sweep(10 * kS);
    CHECK(f.od.ejectedCount() == 0);
    CHECK(f.od.onAttempt(2, status(500), 10 * kS));
  }
  SECTION("10% of 2 hosts: still one (Envoy)") {
    OutlierSettings s = settings(1);
    s.max_ejection_percent = 10;
    Fixture f(s, 2);
    CHECK(f.od.onAttempt(0, status(500), 0));
    CHECK_FALSE(f.od.onAttempt(1, status(500), 0));
    CHECK(f.hosts[1].healthy());
  }
  SECTION("a refused host is reconsidered every threshold failures, not on each") {
    OutlierSettings s = settings(3);
    s.max_ejection_percent = 25;
    Fixture f(s, 4);
    for (int i = 0; i < 3; ++i) f.od.onAttempt(0, status(500), 0);
    REQUIRE(f.ejected(0));
    for (int i = 0; i < 3; ++i) CHECK_FALSE(f.od.onAttempt(1, status(500), 0));
    f.od.sweep(10 * kS);  // host 0 back
    CHECK_FALSE(f.od.onAttempt(1, status(500), 10 * kS));  // 4th
    CHECK_FALSE(f.od.onAttempt(1, status(500), 10 * kS));  // 5th
    CHECK(f.od.onAttempt(1, status(500), 10 * kS));        // 6th: a multiple of 3
  }
}

TEST_CASE("concurrent attempts from many threads eject exactly once", "[outlier]") {
  Fixture f(settings(5));
  std::vector<std::thread> threads;
  std::atomic<int> ejected{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (f.od.onAttempt(0, status(503), 0)) {
          ejected.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ejected.load() == 1);
  CHECK(f.od.ejections(0) == 1);
}

gateway::v1::Cluster cluster(int endpoints) {
  gateway::v1::Cluster c;
  c.set_name("c");
  for (int i = 0; i < endpoints; ++i) {
    c.add_endpoints()->set_address("127.0.0.1:" + std::to_string(9000 + i));
  }
  return c;
}

TEST_CASE("panic: fewer than panic_threshold_percent healthy (default 50)", "[panic]") {
  auto proto = cluster(4);
  ClusterRuntime rt(proto);
  CHECK(rt.panicThresholdPercent() == 50);
  rt.recomputePanic();
  CHECK_FALSE(rt.panic());
  rt.health(0).set(HostHealth::kActiveCheckFailed);
  rt.health(1).set(HostHealth::kOutlierEjected);
  rt.recomputePanic();
  CHECK_FALSE(rt.panic());  // 2 of 4 = 50%: not below
  rt.health(2).set(HostHealth::kActiveCheckFailed);
  rt.recomputePanic();
  CHECK(rt.panic());  // 25%
  rt.health(3).set(HostHealth::kActiveCheckFailed);
  rt.recomputePanic();
  CHECK_FALSE(rt.panic());  // none healthy: no panic, requests get 503 no_healthy_upstream
  rt.health(0).clear(HostHealth::kActiveCheckFailed);
  rt.recomputePanic();
  CHECK(rt.panic());  // 1 of 4 again: panic
  rt.health(0).clear(HostHealth::kActiveCheckFailed);
  rt.health(3).clear(HostHealth::kActiveCheckFailed);
  rt.recomputePanic();
  CHECK_FALSE(rt.panic());
}

TEST_CASE("panic: a threshold of 0 turns it off; 100 panics with any host out", "[panic]") {
  auto proto = cluster(2);
  proto.set_panic_threshold_percent(0);
  ClusterRuntime off(proto);
  off.health(0).set(HostHealth::kActiveCheckFailed);
  off.health(1).set(HostHealth::kActiveCheckFailed);
  off.recomputePanic();
  CHECK_FALSE(off.panic());  // no healthy host -> 503 no_healthy_upstream
  proto.set_panic_threshold_percent(100);
  ClusterRuntime all(proto);
  all.recomputePanic();
  CHECK_FALSE(all.panic());
  all.health(1).set(HostHealth::kOutlierEjected);
  all.recomputePanic();
  CHECK(all.panic());
}

TEST_CASE("ClusterRuntime::onAttempt feeds outlier detection and recomputes panic", "[panic]") {
  auto proto = cluster(2);
  proto.mutable_outlier_detection()->set_consecutive_5xx(2);
  proto.mutable_outlier_detection()->set_max_ejection_percent(100);
  proto.set_panic_threshold_percent(60);
  ClusterRuntime rt(proto);
  REQUIRE(rt.outlier() != nullptr);
  rt.onAttempt(0, status(500), 0);
  rt.onAttempt(0, status(500), 0);
  CHECK_FALSE(rt.health(0).healthy());
  CHECK(rt.panic());  // 1 of 2 = 50% < 60%
  rt.outlier()->sweep(30 * kS);  // default base ejection time 30s
  CHECK(rt.health(0).healthy());
  CHECK_FALSE(rt.panic());
  // Without outlier_detection, onAttempt does nothing.
  ClusterRuntime plain(cluster(1));
  for (int i = 0; i < 100; ++i) plain.onAttempt(0, status(500), 0);
  CHECK(plain.health(0).healthy());
}

TEST_CASE("outlierSettings: defaults and overrides", "[outlier]") {
  gateway::v1::OutlierDetection p;
  OutlierSettings d = outlierSettings(p);
  CHECK(d.consecutive_5xx == 5);
  CHECK(d.consecutive_gateway_failure == 0);
  CHECK(d.base_ejection_ns == 30 * kS);
  CHECK(d.max_ejection_ns == 300 * kS);
  CHECK(d.max_ejection_percent == 10);
  CHECK(d.interval_ns == 10 * kS);
  p.mutable_base_ejection_time()->set_seconds(400);
  CHECK(outlierSettings(p).max_ejection_ns == 400 * kS);  // never below base
  p.set_consecutive_5xx(0);
  p.set_max_ejection_percent(100);
  p.mutable_interval()->set_nanos(200'000'000);
  OutlierSettings o = outlierSettings(p);
  CHECK(o.consecutive_5xx == 0);
  CHECK(o.max_ejection_percent == 100);
  CHECK(o.interval_ns == 200'000'000);
}

} // namespace
} // namespace gw::upstream
