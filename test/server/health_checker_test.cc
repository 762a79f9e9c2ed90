// HealthManager on a real libuv loop against real sockets: HTTP probes with their thresholds,
// connect failures, reconcile across configs (carried-over runtimes keep their probes), and the
// outlier sweep timer returning an ejected host with no request arriving.
#include <arpa/inet.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "source/config/config.h"
#include "source/server/health_checker.h"
#include "source/server/health_status.h"
#include "source/server/runtime_config.h"

namespace gw::server {
namespace {

using upstream::HostHealth;

// A tiny HTTP endpoint on the test loop: answers every request with `status` and closes.
class FakeEndpoint {
public:
  explicit FakeEndpoint(uv_loop_t* loop) {
    uv_tcp_init(loop, &server_);
    server_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&server_, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 64, onConnection) == 0);
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr); }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  int status = 200;
  int requests = 0;
  std::string last_request;

private:
  struct Conn {
    uv_tcp_t tcp;
    uv_write_t write;
    FakeEndpoint* owner;
    std::string in;
    std::string out;
    char buf[1024];
  };

  static void onConnection(uv_stream_t* s, int status) {
    if (status != 0) {
      return;
    }
    auto* self = static_cast<FakeEndpoint*>(s->data);
    auto* c = new Conn();
    c->owner = self;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp));
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* c = static_cast<Conn*>(h->data);
          *b = uv_buf_init(c->buf, sizeof(c->buf));
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t*) {
          auto* c = static_cast<Conn*>(st->data);
          if (n < 0) {
            closeConn(c);
            return;
          }
          c->in.append(c->buf, static_cast<size_t>(n));
          if (c->in.find("\r\n\r\n") == std::string::npos) {
            return;
          }
          c->owner->requests++;
          c->owner->last_request = c->in;
          uv_read_stop(st);
          c->out = absl::StrCat("HTTP/1.1 ", c->owner->status, " X\r\ncontent-length: 0\r\n\r\n");
          uv_buf_t b = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
          c->write.data = c;
          uv_write(&c->write, st, &b, 1,
                   [](uv_write_t* w, int) { closeConn(static_cast<Conn*>(w->data)); });
        });
  }
  static void closeConn(Conn* c) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  }

  uv_tcp_t server_;
  int port_ = 0;
};

// A port with nothing listening (bound then closed).
int closedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

RuntimeConfigConstSharedPtr compile(const std::string& clusters_yaml) {
  const std::string yaml = absl::StrCat(R"yaml(
listeners:
  - name: l
    address: 127.0.0.1:0
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: d
            match: {prefix: /}
            route_filter: {name: direct_response, config: {status: 200}}
clusters:
)yaml", clusters_yaml);
  auto parsed = config::parseConfig(yaml);
  INFO(parsed.status().ToString());
  REQUIRE(parsed.ok());
  auto rc = compileConfig(*parsed);
  INFO(rc.status().ToString());
  REQUIRE(rc.ok());
  return *rc;
}

bool runUntil(uv_loop_t* loop, const std::function<bool()>& pred, int timeout_ms = 3000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    uv_run(loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void runFor(uv_loop_t* loop, int ms) {
  runUntil(loop, [] { return false; }, ms);
}

struct LoopFixture {
  LoopFixture() { uv_loop_init(&loop); }
  ~LoopFixture() {
    uv_walk(&loop, [](uv_handle_t* h, void*) {
      if (!uv_is_closing(h)) {
        uv_close(h, nullptr);
      }
    }, nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  uv_loop_t loop;
};

TEST_CASE("probes: thresholds against a live endpoint, a refused one out at once",
          "[health_checker]") {
  LoopFixture f;
  FakeEndpoint ep(&f.loop);
  const int dead = closedPort();
  auto rc = compile(absl::StrCat(R"yaml(
  - name: backend
    endpoints: [{address: ")yaml", ep.address(), R"yaml("}, {address: "127.0.0.1:)yaml", dead,
                                 R"yaml("}]
    health_check: {path: /healthz, interval: 0.02s, timeout: 0.5s, healthy_threshold: 2,
                   unhealthy_threshold: 3, host: hc.test}
)yaml"));
  upstream::ClusterRuntime& rt = *rc->cluster("backend")->runtime;
  HealthManager mgr(&f.loop);
  mgr.reconcile(*rc);
  CHECK(mgr.probeCount() == 2);
  REQUIRE(runUntil(&f.loop, [&] { return !rt.health(1).healthy(); }));
  CHECK(rt.health(1).reasons() == HostHealth::kActiveCheckFailed);
  CHECK(unhealthyReasons(rt.health(1).reasons()) == std::vector<std::string>{"active_check"});
  REQUIRE(runUntil(&f.loop, [&] { return ep.requests >= 2; }));
  CHECK(rt.health(0).healthy());
  CHECK(ep.last_request.rfind("GET /healthz HTTP/1.1\r\nHost: hc.test\r\n", 0) == 0);
  CHECK_FALSE(rt.panic());  // 1 of 2 healthy = 50%: not below the default threshold

  // 503 from now on: healthy until the third failure in a row.
  ep.status = 503;
  const int at = ep.requests;
  REQUIRE(runUntil(&f.loop, [&] { return !rt.health(0).healthy(); }));
  CHECK(ep.requests - at == 3);
  CHECK_FALSE(rt.panic());  // none healthy: not panic (503 no_healthy_upstream)
  CHECK(rt.health_checks_failure.load() >= 4);

  // 200 again: back after the second success in a row.
  ep.status = 200;
  const int back_at = ep.requests;
  REQUIRE(runUntil(&f.loop, [&] { return rt.health(0).healthy(); }));
  CHECK(ep.requests - back_at == 2);
  CHECK_FALSE(rt.panic());

  // Expected statuses count: a 302 is in the default 200-399.
  ep.status = 302;
  runUntil(&f.loop, [&] { return ep.requests >= back_at + 6; });
  CHECK(rt.health(0).healthy());

  mgr.stop();
  ep.close();
}

TEST_CASE("reconcile: a carried-over runtime keeps its probes, a removed cluster's stop",
          "[health_checker]") {
  LoopFixture f;
  FakeEndpoint ep(&f.loop);
  const std::string clusters = absl::StrCat(R"yaml(
  - name: backend
    endpoints: [{address: ")yaml", ep.address(), R"yaml("}]
    health_check: {path: /h, interval: 0.02s, unhealthy_threshold: 1}
)yaml");
  auto first = compile(clusters);
  HealthManager mgr(&f.loop);
  mgr.reconcile(*first);
  ep.status = 500;
  upstream::ClusterRuntime* rt = first->cluster("backend")->runtime.get();
  REQUIRE(runUntil(&f.loop, [&] { return !rt->health(0).healthy(); }));

  // The same cluster in a new config: the runtime (and its probe and state) carries over.
  auto second = compile(clusters);
  second->adoptClusterRuntimes(*first);
  REQUIRE(second->cluster("backend")->runtime.get() == rt);
  mgr.reconcile(*second);
  CHECK(mgr.probeCount() == 1);
  CHECK_FALSE(rt->health(0).healthy());

  // A changed health_check: a new runtime, starting healthy, with a new probe.
  auto third = compile(absl::StrReplaceAll(clusters, {{"path: /h", "path: /h2"}}));
  third->adoptClusterRuntimes(*second);
  upstream::ClusterRuntime* rt3 = third->cluster("backend")->runtime.get();
  REQUIRE(rt3 != rt);
  CHECK(rt3->health(0).healthy());
  mgr.reconcile(*third);
  CHECK(mgr.probeCount() == 1);
  REQUIRE(runUntil(&f.loop, [&] { return ep.last_request.rfind("GET /h2 ", 0) == 0; }));

  // No health_check any more: probes stop, the endpoint hears nothing more.
  auto fourth = compile(absl::StrCat(R"yaml(
  - name: backend
    endpoints: [{address: ")yaml", ep.address(), R"yaml("}]
)yaml"));
  mgr.reconcile(*fourth);
  CHECK(mgr.probeCount() == 0);
  runFor(&f.loop, 50);
  const int quiet = ep.requests;
  runFor(&f.loop, 100);
  CHECK(ep.requests == quiet);
  ep.close();
}

TEST_CASE("the outlier sweep returns an ejected host with no request arriving",
          "[health_checker]") {
  LoopFixture f;
  auto rc = compile(R"yaml(
  - name: backend
    endpoints: [{address: "127.0.0.1:1"}, {address: "127.0.0.1:2"}]
    outlier_detection: {consecutive_5xx: 2, base_ejection_time: 0.1s, interval: 0.01s}
)yaml");
  upstream::ClusterRuntime& rt = *rc->cluster("backend")->runtime;
  HealthManager mgr(&f.loop);
  mgr.reconcile(*rc);
  CHECK(mgr.probeCount() == 0);
  const upstream::AttemptResult r500{upstream::AttemptResult::Kind::Response, 500};
  rt.onAttempt(1, r500, upstream::monotonicNowNs());
  rt.onAttempt(1, r500, upstream::monotonicNowNs());
  REQUIRE_FALSE(rt.health(1).healthy());
  CHECK(ejectedRemainingMs(rt, 1, upstream::monotonicNowNs()) > 0);
  const std::string json = endpointHealthJson(rt, 1, upstream::monotonicNowNs());
  CHECK(json.find(R"("healthy":false,"unhealthy_reasons":["outlier"],"outlier_ejections":1)") !=
        std::string::npos);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(runUntil(&f.loop, [&] { return rt.health(1).healthy(); }));
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(80));
  CHECK(ejectedRemainingMs(rt, 1, upstream::monotonicNowNs()) == 0);
  const std::string metrics = renderHealthMetrics(*rc);
  CHECK(metrics.find("gateway_outlier_ejections_total{cluster=\"backend\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("gateway_upstream_host_healthy{cluster=\"backend\",endpoint=\"127.0.0.1:2\"} "
                     "1\n") != std::string::npos);
  CHECK(metrics.find("gateway_cluster_panic{cluster=\"backend\"} 0\n") != std::string::npos);
  mgr.stop();
}

} // namespace
} // namespace gw::server
