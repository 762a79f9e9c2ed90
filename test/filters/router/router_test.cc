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
