// `router`: config validation, the static route explain shows, and onRoute naming the cluster.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::clusters;
using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::FakeUpstream;

TEST_CASE("router: valid config proxies to the cluster", "[filters][router]") {
  auto c = createOk("router", R"({"cluster": "users"})", clusters({"users", "orders"}));
  const StaticRoute* a = c->staticRoute();
  REQUIRE(a != nullptr);
  CHECK(a->kind == StaticRoute::Kind::Proxy);
  CHECK(a->cluster == "users");
  CHECK(c->create() == nullptr);  // a route filter makes no per-request instance
  CHECK(c->shared() != nullptr);  // stateless: one instance for every request
  CHECK(c->shared() == c->shared());
  CHECK(test::factory("router").kind() == FilterKind::Route);
}

TEST_CASE("router: onRoute proxies to the configured cluster and continues",
          "[filters][router]") {
  auto c = createOk("router", R"({"cluster": "orders"})", clusters({"users", "orders"}));
  FilterPtr owned;
  Filter& f = test::instanceOf(*c, owned);
  FakeRequestContext ctx;
  FakeUpstream upstream(ctx.fakeWorker().http);
  CHECK(f.onRoute(ctx, upstream) == FilterStatus::Continue);
  CHECK(upstream.proxied == std::vector<std::string>{"orders"});
  CHECK(ctx.untouched());  // no respond / fail / resume / timer
  CHECK(ctx.fakeWorker().http.calls.empty());  // no sub-request

  // The same (shared) instance serves the next request the same way.
  FakeRequestContext next;
  FakeUpstream next_upstream(next.fakeWorker().http);
  CHECK(f.onRoute(next, next_upstream) == FilterStatus::Continue);
  CHECK(next_upstream.proxied == std::vector<std::string>{"orders"});
  CHECK(upstream.proxied.size() == 1);

  // The request is not touched.
  CHECK(ctx.request().path == "/api/users/42");
  CHECK(ctx.request().headers.empty());
}

TEST_CASE("router: staticRoute and explain name the cluster", "[filters][router]") {
  auto c = createOk("router", R"({"cluster": "users"})", clusters({"users"}));
  const StaticRoute* a = c->staticRoute();
  REQUIRE(a != nullptr);
  CHECK(a->kind == StaticRoute::Kind::Proxy);
  CHECK(a->cluster == "users");
  CHECK(c->staticRoute() == a);  // decided once, at config load
  http::RequestHead head;
  CHECK(test::explain(*c, head) == "proxy to cluster 'users'");
  // Route filters leave the body alone and see no response.
  CHECK(c->requestBody().mode == BodyPolicy::Mode::Untouched);
  CHECK(c->responseBody().mode == BodyPolicy::Mode::Untouched);
  CHECK_FALSE(c->seesResponse());
}

TEST_CASE("router: config errors", "[filters][router]") {
  const auto ctx = clusters({"users"});
  SECTION("missing cluster") {
    const std::string e = createError("router", "{}", ctx);
    CHECK_THAT(e, Catch::StartsWith("cluster:"));
    CHECK_THAT(createError("router", R"({"cluster": ""})", ctx), Catch::StartsWith("cluster:"));
  }
  SECTION("unknown cluster") {
    const std::string e = createError("router", R"({"cluster": "orders"})", ctx);
    CHECK_THAT(e, Catch::StartsWith("cluster:"));
    CHECK_THAT(e, Catch::Contains("'orders'"));
    // No clusters at all.
    CHECK_THAT(createError("router", R"({"cluster": "users"})"), Catch::StartsWith("cluster:"));
  }
  SECTION("unknown field") {
    const std::string e = createError("router", R"({"cluster": "users", "timeout": "1s"})", ctx);
    CHECK_THAT(e, Catch::Contains("timeout"));
  }
}

} // namespace
} // namespace gw::filters

namespace gw::filters {
namespace {

using test::clusters;
using test::createError;
using test::createOk;
using K = upstream::AttemptResult::Kind;

const ProxyPolicy* policyOf(const FilterConfigConstSharedPtr& c) {
  REQUIRE(c->staticRoute() != nullptr);
  return c->staticRoute()->policy;
}

TEST_CASE("router: a plain router has no policy; onRoute hands the policy over",
          "[filters][router][retry]") {
  const auto ctx = clusters({"users"});
  CHECK(policyOf(createOk("router", R"({"cluster": "users"})", ctx)) == nullptr);
  auto c = createOk("router", R"({"cluster": "users", "retry_policy": {"retry_on": ["5xx"]}})",
                    ctx);
  const ProxyPolicy* p = policyOf(c);
  REQUIRE(p != nullptr);
  FilterPtr owned;
  Filter& f = test::instanceOf(*c, owned);
  test::FakeRequestContext rc;
  test::FakeUpstream up(rc.fakeWorker().http);
  CHECK(f.onRoute(rc, up) == FilterStatus::Continue);
  CHECK(up.policies == std::vector<const ProxyPolicy*>{p});
  CHECK(p->add_attempt_count);
}

TEST_CASE("router: retry eligibility by retry_on", "[filters][router][retry]") {
  const auto ctx = clusters({"u"});
  auto c = createOk("router", R"({"cluster": "u", "retry_policy": {
      "retry_on": ["connect-failure", "retriable-status-codes"],
      "retriable_status_codes": [409], "num_retries": 3}})", ctx);
  const RetryPolicy& r = *policyOf(c)->retry;
  CHECK(r.num_retries == 3);
  CHECK(r.retriable({K::ConnectFailure, 0}));
  CHECK(r.retriable({K::Response, 409}));
  CHECK_FALSE(r.retriable({K::Response, 503}));
  CHECK_FALSE(r.retriable({K::Reset, 0}));
  CHECK_FALSE(r.retriable({K::Timeout, 0}));

  auto g = createOk("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["gateway-error"]}})",
                    ctx);
  const RetryPolicy& gr = *policyOf(g)->retry;
  CHECK(gr.num_retries == 1);  // the default
  CHECK(gr.retriable({K::Response, 502}));
  CHECK(gr.retriable({K::Response, 504}));
  CHECK_FALSE(gr.retriable({K::Response, 500}));
  CHECK(gr.retriable({K::Reset, 0}));
  CHECK(gr.retriable({K::Timeout, 0}));
  CHECK(gr.retriable({K::ProtocolError, 0}));

  auto x = createOk("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["5xx"]}})", ctx);
  const RetryPolicy& xr = *policyOf(x)->retry;
  CHECK(xr.retriable({K::Response, 500}));
  CHECK(xr.retriable({K::Timeout, 0}));  // a per-try timeout counts as 5xx (Envoy)
  CHECK_FALSE(xr.retriable({K::Response, 429}));
}

TEST_CASE("router: only idempotent methods retry unless opted in", "[filters][router][retry]") {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    CHECK(RetryPolicy::idempotent(m));
  }
  CHECK_FALSE(RetryPolicy::idempotent("POST"));
  CHECK_FALSE(RetryPolicy::idempotent("PATCH"));
  auto c = createOk("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["reset"],
      "retry_non_idempotent": true, "replay_buffer_bytes": 100}})", clusters({"u"}));
  CHECK(policyOf(c)->retry->retry_non_idempotent);
  CHECK(policyOf(c)->retry->replay_buffer_bytes == 100);
}

TEST_CASE("router: backoff is full jitter under a doubling cap", "[filters][router][retry]") {
  RetryPolicy r;
  r.backoff_base = std::chrono::milliseconds(25);
  r.backoff_max = std::chrono::milliseconds(100);
  // Retry n's cap: 25, 50, 100, 100 ms; the delay is random % (cap + 1).
  CHECK(r.backoff(1, 25).count() == 25);
  CHECK(r.backoff(1, 26).count() == 0);
  CHECK(r.backoff(2, 50).count() == 50);
  CHECK(r.backoff(2, 51).count() == 0);
  CHECK(r.backoff(3, 100).count() == 100);
  CHECK(r.backoff(7, 100).count() == 100);
  CHECK(r.backoff(7, 101).count() == 0);
  for (uint64_t rnd = 0; rnd < 1000; rnd += 37) {
    CHECK(r.backoff(2, rnd).count() <= 50);
  }
}

TEST_CASE("router: fallback and route breaker configs", "[filters][router][fallback]") {
  const auto ctx = clusters({"u", "spare"});
  auto d = createOk("router", R"({"cluster": "u", "fallback": {"response": {"status": 503,
      "headers": {"Content-Type": "application/json", "x-b": "2", "x-a": "1"}, "body": "{}"},
      "on": ["no_healthy_upstream"]}})", ctx);
  const Fallback& f = policyOf(d)->fallback;
  CHECK(f.kind == Fallback::Kind::DirectResponse);
  CHECK(f.status == 503);
  CHECK(f.on_no_healthy_upstream);
  CHECK_FALSE(f.on_upstream_failure);
  // Header names lower-cased, in name order.
  REQUIRE(f.headers.size() == 3);
  CHECK(f.headers[0].first == "content-type");
  CHECK(f.headers[1].first == "x-a");
  CHECK(policyOf(d)->retry == nullptr);

  auto k = createOk("router", R"({"cluster": "u", "fallback": {"cluster": "spare"},
      "circuit_breaker": {"consecutive_failures": 2}})", ctx);
  CHECK(policyOf(k)->fallback.kind == Fallback::Kind::Cluster);
  CHECK(policyOf(k)->fallback.cluster == "spare");
  REQUIRE(policyOf(k)->breaker != nullptr);
  CHECK(policyOf(k)->breaker->settings().consecutive_failures == 2);
  CHECK_THAT(test::explain(*k, *std::make_unique<http::RequestHead>()),
             Catch::Contains("route breaker closed") && Catch::Contains("fallback: cluster 'spare'"));
}

TEST_CASE("router: resilience config errors name the field", "[filters][router][retry]") {
  const auto ctx = clusters({"u"});
  CHECK(createError("router", R"({"cluster": "u", "retry_policy": {}})", ctx) ==
        "retry_policy.retry_on: required (connect-failure, reset, 5xx, gateway-error, "
        "retriable-status-codes)");
  CHECK_THAT(createError("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["often"]}})",
                         ctx),
             Catch::StartsWith("retry_policy.retry_on[0]: unknown condition 'often'"));
  CHECK_THAT(createError("router", R"({"cluster": "u", "retry_policy": {"retry_on":
      ["retriable-status-codes"]}})", ctx),
             Catch::StartsWith("retry_policy.retriable_status_codes: required"));
  CHECK_THAT(createError("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["5xx"],
      "retriable_status_codes": [503]}})", ctx),
             Catch::StartsWith("retry_policy.retry_on: add retriable-status-codes"));
  CHECK(createError("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["5xx"],
      "num_retries": 11}})", ctx) == "retry_policy.num_retries: must be at most 10");
  CHECK(createError("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["5xx"],
      "per_try_timeout": "0s"}})", ctx) == "retry_policy.per_try_timeout: must be positive");
  CHECK(createError("router", R"({"cluster": "u", "retry_policy": {"retry_on": ["5xx"],
      "backoff_base_interval": "1s", "backoff_max_interval": "0.5s"}})", ctx) ==
        "retry_policy.backoff_max_interval: must not be less than backoff_base_interval");
  CHECK(createError("router", R"({"cluster": "u", "fallback": {"cluster": "x"}})", ctx) ==
        "fallback.cluster: unknown cluster 'x'");
  CHECK(createError("router", R"({"cluster": "u", "fallback": {"cluster": "u",
      "response": {}}})", ctx) == "fallback: set at most one of response and cluster");
  CHECK(createError("router", R"({"cluster": "u", "fallback": {"on": ["sometimes"]}})", ctx) ==
        "fallback.on[0]: unknown reason 'sometimes' (expected circuit_open, "
        "no_healthy_upstream, upstream_failure)");
  CHECK(createError("router", R"({"cluster": "u", "fallback": {"response": {"status": 99}}})",
                    ctx) == "fallback.response.status: must be 200..599");
  CHECK_THAT(createError("router", R"({"cluster": "u", "fallback": {"response": {"headers":
      {"bad name": "x"}}}})", ctx), Catch::Contains("invalid header name 'bad name'"));
  CHECK(createError("router", R"({"cluster": "u", "circuit_breaker": {"error_rate_percent":
      101}})", ctx) == "circuit_breaker.error_rate_percent: must be 0..100");
  CHECK(createError("router", R"({"cluster": "u", "circuit_breaker": {"consecutive_failures":
      0}})", ctx).rfind("circuit_breaker.consecutive_failures: 0 turns", 0) == 0);
}

} // namespace
} // namespace gw::filters
