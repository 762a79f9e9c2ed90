// `direct_response`: config validation, the static route explain shows, and onRoute answering
// with the configured status, body and content type.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::FakeUpstream;

// What the filter of `config` answers a request with (exactly one response, nothing proxied).
FakeRequestContext::Response respondOf(const FilterConfig& config) {
  FilterPtr owned;
  Filter& f = test::instanceOf(config, owned);
  FakeRequestContext ctx;
  FakeUpstream upstream(ctx.fakeWorker().http);
  CHECK(f.onRoute(ctx, upstream) == FilterStatus::StopAndRespond);
  CHECK(upstream.proxied.empty());
  CHECK(ctx.failures.empty());
  CHECK(ctx.resumes == 0);
  REQUIRE(ctx.responses.size() == 1);
  return ctx.responses[0];
}

TEST_CASE("direct_response: defaults", "[filters][direct_response]") {
  auto c = createOk("direct_response", "{}");
  const StaticRoute* a = c->staticRoute();
  REQUIRE(a != nullptr);
  CHECK(a->kind == StaticRoute::Kind::DirectResponse);
  CHECK(a->status == 200);
  const auto r = respondOf(*c);
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(r.content_type == "text/plain");
  CHECK(c->create() == nullptr);
  CHECK(c->shared() != nullptr);
  CHECK(test::factory("direct_response").kind() == FilterKind::Route);

  // status 0 is the default.
  CHECK(createOk("direct_response", R"({"status": 0})")->staticRoute()->status == 200);
  CHECK(respondOf(*createOk("direct_response", R"({"status": 0})")).status == 200);
}

TEST_CASE("direct_response: status, body and content type are kept", "[filters][direct_response]") {
  auto c = createOk("direct_response",
                    R"({"status": 410, "body": "{\"error\": \"gone\"}\n",
                        "content_type": "application/json"})");
  const StaticRoute* a = c->staticRoute();
  REQUIRE(a != nullptr);
  CHECK(a->kind == StaticRoute::Kind::DirectResponse);
  CHECK(a->status == 410);
  CHECK(a->cluster.empty());
  const auto r = respondOf(*c);
  CHECK(r.status == 410);
  CHECK(r.body == "{\"error\": \"gone\"}\n");
  CHECK(r.content_type == "application/json");

  CHECK(createOk("direct_response", R"({"status": 200})")->staticRoute()->status == 200);
  CHECK(createOk("direct_response", R"({"status": 599})")->staticRoute()->status == 599);
  CHECK(respondOf(*createOk("direct_response", R"({"status": 599})")).status == 599);
  CHECK(respondOf(*createOk("direct_response", R"({"body": "ok\n"})")).body == "ok\n");
}

TEST_CASE("direct_response: onRoute responds with the configured head and body",
          "[filters][direct_response]") {
  auto c = createOk("direct_response",
                    R"({"status": 503, "body": "down for maintenance",
                        "content_type": "text/html; charset=utf-8"})");
  FilterPtr owned;
  Filter& f = test::instanceOf(*c, owned);
  FakeRequestContext ctx;
  FakeUpstream upstream(ctx.fakeWorker().http);
  CHECK(f.onRoute(ctx, upstream) == FilterStatus::StopAndRespond);
  CHECK(upstream.proxied.empty());
  CHECK(ctx.fakeWorker().http.calls.empty());
  CHECK(ctx.failures.empty());
  CHECK(ctx.timers.empty());
  CHECK(ctx.resumes == 0);
  REQUIRE(ctx.responses.size() == 1);
  const auto& r = ctx.responses[0];
  CHECK(r.status == 503);
  CHECK(r.body == "down for maintenance");
  CHECK(r.content_type == "text/html; charset=utf-8");
  // The head itself: the status and exactly one content-type.
  CHECK(r.head.status == 503);
  CHECK(test::values(r.head.headers, "content-type") ==
        std::vector<std::string>{"text/html; charset=utf-8"});

  // The shared instance answers every request alike; the request itself is left alone.
  FakeRequestContext next;
  FakeUpstream next_upstream(next.fakeWorker().http);
  CHECK(f.onRoute(next, next_upstream) == FilterStatus::StopAndRespond);
  REQUIRE(next.responses.size() == 1);
  CHECK(next.responses[0].body == "down for maintenance");
  CHECK(ctx.responses.size() == 1);
  CHECK(next.request().headers.empty());

  http::RequestHead head;
  CHECK(test::explain(*c, head) == "respond 503 (20 bytes, text/html; charset=utf-8)");
}

TEST_CASE("direct_response: status out of range", "[filters][direct_response]") {
  for (const char* s : {"1", "100", "199", "600", "999", "4294967295"}) {
    INFO(s);
    CHECK_THAT(createError("direct_response", std::string(R"({"status": )") + s + "}"),
               Catch::StartsWith("status:"));
  }
}

TEST_CASE("direct_response: unknown field", "[filters][direct_response]") {
  CHECK_THAT(createError("direct_response", R"({"status": 200, "headers": {}})"),
             Catch::Contains("headers"));
}

} // namespace
} // namespace gw::filters
