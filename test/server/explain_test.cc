// explainRequest: what the gateway would do with a request, from the compiled config alone.
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "source/config/config.h"
#include "source/server/explain.h"
#include "source/server/runtime_config.h"
#include "source/upstream/load_balancer.h"

namespace gw::server {
namespace {

using gateway::v1::ExplainRequest;
using gateway::v1::ExplainResponse;

// One listener "main" with listener-wide pre and error filters; virtual host "api" with routes
// that skip for different reasons; a catch-all virtual host; a round-robin and a ring-hash cluster.
constexpr char kConfig[] = R"(
version: explain-1
listeners:
  - name: main
    address: 127.0.0.1:0
    limits: {max_request_body_bytes: 1000}
    pre_filters:
      - name: headers
        config:
          request_remove: [x-internal]
          request_set: [{name: x-request-start, value: "t=%START_TIME%"}]
    error_filters:
      - name: headers
        config: {response_set: [{name: x-error, value: "1"}]}
    virtual_hosts:
      - name: api
        domains: [api.example.com]
        routes:
          - name: admin-only
            match: {prefix: /admin/, methods: [POST]}
            route_filter: {name: direct_response, config: {status: 403, body: "no"}}
          - name: users
            match:
              prefix: /api/users/
              headers: [{name: x-version, value: {exact: "2"}}]
            prefix_rewrite: /v2/users/
            pre_filters:
              - name: fault
                config: {delay_ms: 200, delay_percent: 10, abort_status: 503, abort_percent: 1,
                         header: x-chaos}
              - name: headers
                config:
                  request_set: [{name: x-a, value: "%REQUEST_ID%"}]
                  request_add: [{name: x-via, value: "gw %METHOD% %PATH%"}]
            route_filter: {name: router, config: {cluster: users}}
            post_filters:
              - name: headers
                config:
                  response_remove: [server]
                  response_add: [{name: x-served-by, value: "%UPSTREAM_HOST%"}]
          - name: sticky
            match: {prefix: /sticky/}
            route_filter: {name: router, config: {cluster: ring}}
          - name: health
            match: {path: /health}
            route_filter:
              name: direct_response
              config: {status: 200, body: "ok\n", content_type: text/plain}
      - name: other
        domains: ["*"]
        routes:
          - name: teapot
            match: {path: /tea}
            route_filter: {name: direct_response, config: {status: 418, body: "short and stout"}}
clusters:
  - name: users
    endpoints: [{address: "127.0.0.1:8081"}, {address: "127.0.0.1:8082"}]
  - name: ring
    lb_policy: RING_HASH
    hash_policy: {header: x-user}
    endpoints:
      - {address: "127.0.0.1:9001"}
      - {address: "127.0.0.1:9002"}
      - {address: "127.0.0.1:9003", weight: 2}
)";

const RuntimeConfig& config() {
  static const RuntimeConfigConstSharedPtr compiled = [] {
    auto parsed = config::parseConfig(kConfig);
    if (!parsed.ok()) {
      FAIL(parsed.status().ToString());
    }
    auto c = compileConfig(*parsed);
    if (!c.ok()) {
      FAIL(c.status().ToString());
    }
    return *c;
  }();
  return *compiled;
}

ExplainResponse explain(const std::string& method, const std::string& url,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  ExplainRequest r;
  r.set_method(method);
  r.set_url(url);
  for (const auto& [k, v] : headers) {
    (*r.mutable_headers())[k] = v;
  }
  ExplainResponse out = explainRequest(config(), r);
  INFO(out.DebugString());
  return out;
}

std::vector<std::string> traceOf(const ExplainResponse& r) {
  return {r.trace().begin(), r.trace().end()};
}

// "stage name: decision" per filter, in order.
std::vector<std::string> filtersOf(const ExplainResponse& r) {
  std::vector<std::string> out;
  for (const auto& f : r.filters()) {
    out.push_back(absl::StrCat(f.stage(), " ", f.name(), ": ", f.decision()));
  }
  return out;
}

TEST_CASE("explain: matched route, with a trace line for every route skipped before it") {
  auto r = explain("GET", "http://api.example.com/api/users/42?x=1", {{"X-Version", "2"}});
  CHECK(r.listener() == "main");
  CHECK(r.rejected().empty());
  CHECK(r.normalized_path() == "/api/users/42");
  CHECK(r.virtual_host() == "api");
  CHECK(r.route() == "users");
  CHECK(r.status() == 0);
  const auto trace = traceOf(r);
  REQUIRE(trace.size() >= 3);
  CHECK(trace[0] ==
        "host 'api.example.com' -> virtual host 'api' (exact domain 'api.example.com')");
  CHECK(trace[1] == "route 'admin-only' (prefix /admin/): path '/api/users/42' does not match");
  CHECK(trace[2] == "route 'users' (prefix /api/users/): matched, upstream path '/v2/users/42'");
}

TEST_CASE("explain: a header matcher that fails is named in the trace") {
  auto r = explain("GET", "http://api.example.com/api/users/42", {{"x-version", "1"}});
  CHECK(r.route().empty());
  CHECK(r.status() == 404);
  const auto trace = traceOf(r);
  REQUIRE(trace.size() == 6);
  CHECK(trace[2].find("route 'users' (prefix /api/users/): header 'x-version' = '1' does not "
                      "satisfy") == 0);
  CHECK(trace[3] == "route 'sticky' (prefix /sticky/): path '/api/users/42' does not match");
  CHECK(trace[5] == "no route of virtual host 'api' matches");
}

TEST_CASE("explain: the filter chain in order, each with its decision") {
  SECTION("with the fault header") {
    auto r = explain("post", "/api/users/7",
                     {{"host", "API.example.com:8080"}, {"x-version", "2"}, {"x-chaos", "1"}});
    CHECK(r.route() == "users");
    CHECK(filtersOf(r) ==
          std::vector<std::string>{
              "pre fault: delay 200 ms for 10% of requests carrying x-chaos; abort 503 for 1%",
              "pre headers: request: set x-a: %REQUEST_ID%, add x-via: gw %METHOD% %PATH%; "
              "response: no changes",
              "route router: proxy to cluster 'users'",
              "post headers: request: no changes; response: remove server, add x-served-by: "
              "%UPSTREAM_HOST%",
              "error headers: request: no changes; response: set x-error: 1",
          });
    CHECK(r.cluster() == "users");
    CHECK((r.endpoint() == "127.0.0.1:8081" || r.endpoint() == "127.0.0.1:8082"));
  }
  SECTION("without it the fault filter lets the request through") {
    auto r = explain("GET", "http://api.example.com/api/users/7", {{"x-version", "2"}});
    REQUIRE(r.filters_size() == 5);
    CHECK(r.filters(0).decision() ==
          "continue (no x-chaos header; faults apply only to requests carrying it)");
  }
  SECTION("a route without its own pre filters uses the listener's") {
    auto r = explain("GET", "http://api.example.com/sticky/a", {{"x-user", "alice"}});
    CHECK(filtersOf(r) ==
          std::vector<std::string>{
              "pre headers: request: remove x-internal, set x-request-start: t=%START_TIME%; "
              "response: no changes",
              "route router: proxy to cluster 'ring'",
              "error headers: request: no changes; response: set x-error: 1",
          });
  }
}

TEST_CASE("explain: ring hash endpoint is deterministic for a header key and agrees with a worker") {
  const ClusterConfig* ring = config().cluster("ring");
  REQUIRE(ring != nullptr);
  std::set<std::string> picked;
  for (int i = 0; i < 40; i++) {
    const std::string user = absl::StrCat("user-", i);
    auto a = explain("GET", "http://api.example.com/sticky/x", {{"x-user", user}});
    auto b = explain("GET", "http://api.example.com/sticky/other?q=1", {{"x-user", user}});
    REQUIRE(a.cluster() == "ring");
    REQUIRE(!a.endpoint().empty());
    CHECK(a.endpoint() == b.endpoint());
    picked.insert(a.endpoint());
    // A worker's balancer (another seed, its own hosts) picks the same endpoint for the key.
    std::vector<upstream::Host> hosts(ring->endpoints.size());
    std::vector<upstream::Host*> ptrs;
    for (size_t h = 0; h < hosts.size(); h++) {
      hosts[h].address = ring->endpoints[h].address;
      hosts[h].weight = ring->endpoints[h].weight;
      ptrs.push_back(&hosts[h]);
    }
    auto lb = upstream::LoadBalancer::create(gateway::v1::Cluster::RING_HASH, ptrs, 0xfeedULL + i);
    upstream::LbContext ctx;
    ctx.hash = upstream::xxHash64(user);
    CHECK(lb->pick(ctx)->address == a.endpoint());
  }
  CHECK(picked.size() > 1);  // the keys spread over the ring
  auto r = explain("GET", "http://api.example.com/sticky/x", {{"x-user", "alice"}});
  CHECK(traceOf(r).back() == absl::StrCat("cluster 'ring' (ring_hash, 3 endpoints): header "
                                          "x-user 'alice' -> ",
                                          r.endpoint()));
  SECTION("no key: any endpoint, said so") {
    auto n = explain("GET", "http://api.example.com/sticky/x");
    CHECK(!n.endpoint().empty());
    CHECK(traceOf(n).back().find("no hash key (header x-user absent)") != std::string::npos);
  }
}

TEST_CASE("explain: the upstream path after rewrites, with the query") {
  auto r = explain("GET", "http://api.example.com/api/users/./42/../43?b=2&a=1",
                   {{"x-version", "2"}});
  CHECK(r.normalized_path() == "/api/users/43");
  CHECK(r.upstream_path() == "/v2/users/43?b=2&a=1");
  auto plain = explain("GET", "http://api.example.com/sticky/a?k", {{"x-user", "u"}});
  CHECK(plain.upstream_path() == "/sticky/a?k");
}

TEST_CASE("explain: no route gives 404 and no filters") {
  auto r = explain("GET", "http://api.example.com/nowhere");
  CHECK(r.virtual_host() == "api");
  CHECK(r.route().empty());
  CHECK(r.status() == 404);
  CHECK(r.filters().empty());
  CHECK(r.cluster().empty());
  CHECK(traceOf(r).back() == "no route of virtual host 'api' matches");
}

TEST_CASE("explain: a path the gateway refuses is rejected with 400 before routing") {
  auto r = explain("GET", "http://api.example.com/api/users/a%2Fb", {{"x-version", "2"}});
  CHECK(r.status() == 400);
  CHECK(r.rejected().find("invalid path") == 0);
  CHECK(r.route().empty());
  CHECK(r.filters().empty());
  CHECK(r.trace().empty());
  auto backslash = explain("GET", "http://api.example.com/a\\b");
  CHECK(backslash.status() == 400);
  CHECK(backslash.rejected() == "invalid path: backslash in path");
}

TEST_CASE("explain: a direct response gives its status") {
  auto health = explain("GET", "http://api.example.com/health");
  CHECK(health.route() == "health");
  CHECK(health.status() == 200);
  CHECK(health.cluster().empty());
  CHECK(health.endpoint().empty());
  REQUIRE(health.filters_size() == 3);
  CHECK(health.filters(1).stage() == "route");
  CHECK(health.filters(1).name() == "direct_response");
  CHECK(health.filters(1).decision() == "respond 200 (3 bytes, text/plain)");

  auto tea = explain("GET", "/tea", {{"Host", "unknown.example.org"}});
  CHECK(tea.virtual_host() == "other");
  CHECK(traceOf(tea)[0] == "host 'unknown.example.org' -> virtual host 'other' (domain '*')");
  CHECK(tea.status() == 418);

  auto forbidden = explain("POST", "http://api.example.com/admin/x");
  CHECK(forbidden.route() == "admin-only");
  CHECK(forbidden.status() == 403);
}

TEST_CASE("explain: refusals before routing and request details") {
  SECTION("origin-form without a Host header") {
    auto r = explain("GET", "/health");
    CHECK(r.status() == 400);
    CHECK(r.rejected().find("missing Host header") == 0);
  }
  SECTION("unknown listener") {
    ExplainRequest req;
    req.set_url("http://api.example.com/health");
    req.set_listener("nope");
    auto r = explainRequest(config(), req);
    CHECK(r.rejected() == "no listener named 'nope' (listeners: main)");
  }
  SECTION("a body over the limit: 413, only the error filters run") {
    auto r = explain("POST", "http://api.example.com/health", {{"content-length", "5000"}});
    CHECK(r.status() == 413);
    CHECK(r.rejected() == "request body of 5000 bytes exceeds the limit of 1000");
    CHECK(filtersOf(r) == std::vector<std::string>{
                              "error headers: request: no changes; response: set x-error: 1"});
  }
  SECTION("the URL's host wins over a Host header, and says so") {
    auto r = explain("GET", "http://api.example.com/health", {{"host", "other.example"}});
    CHECK(r.route() == "health");
    CHECK(traceOf(r)[0] == "Host header 'other.example' replaced by the target's authority "
                           "'api.example.com' (absolute-form)");
  }
  SECTION("a trailing dot selects the same virtual host, as in the stream") {
    auto r = explain("GET", "/health", {{"host", "API.example.com.:8080"}});
    CHECK(r.route() == "health");
  }
  SECTION("a Host that is not a host name is refused, as in the stream") {
    auto r = explain("GET", "/health", {{"host", "api..example.com."}});
    CHECK(r.status() == 400);
    CHECK(r.rejected() == "invalid Host header");
  }
  SECTION("CONNECT is refused") {
    auto r = explain("CONNECT", "http://api.example.com/");
    CHECK(r.status() == 405);
  }
  SECTION("another scheme is refused") {
    auto r = explain("GET", "ftp://api.example.com/");
    CHECK(r.status() == 400);
  }
}

} // namespace
} // namespace gw::server
