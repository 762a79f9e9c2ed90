// `local_ratelimit` through the FilterFactory / Filter interfaces with a fake request context:
// rejections (kind, status, Retry-After, X-RateLimit-*), keys, explain, counters; and the
// allocation of rate-limit buckets by config checks versus a serving proxy.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "source/policy/rate_limiter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::counter;
using test::createOk;
using test::FakeRequestContext;
using test::header;

const char* kPolicies = R"(
rate_limit_policies:
  - name: two
    requests_per_unit: 1
    unit: HOUR
    burst: 2
    response_headers: true
  - name: by-tenant
    requests_per_unit: 1
    unit: HOUR
    burst: 1
    key_by: {header: x-tenant}
  - name: busy
    requests_per_unit: 1
    unit: HOUR
    burst: 1
    status: 503
)";

struct Fixture {
  FilterConfigConstSharedPtr make(const std::string& json) {
    return createOk("local_ratelimit", json, ctx);
  }
  ValidationContext ctx = test::policyContext(kPolicies);
};

TEST_CASE("local_ratelimit: over the burst -> 429 rate_limited with Retry-After",
          "[policy][filters]") {
  Fixture f;
  auto c = f.make(R"({"policy":"two"})");
  REQUIRE(c->shared() != nullptr);
  http::RequestHead head;
  CHECK(test::explain(*c, head) ==
        "policy 'two' (1 per 3600s, burst 2), one bucket: would allow (2 tokens now; nothing "
        "taken)");
  for (int i = 0; i < 2; i++) {
    FakeRequestContext ctx;
    CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
    CHECK(ctx.untouched());
  }
  // Post stage: X-RateLimit-* read without taking.
  FakeRequestContext post;
  CHECK(c->shared()->onResponseHeaders(post) == FilterStatus::Continue);
  CHECK(*post.response().headers.get("x-ratelimit-limit") == "2");
  CHECK(*post.response().headers.get("x-ratelimit-remaining") == "0");
  FakeRequestContext ctx;
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  REQUIRE(ctx.failures.size() == 1);
  const ErrorInfo& e = ctx.failures[0];
  CHECK(e.status == 429);
  CHECK(e.code == "rate_limited");
  CHECK(e.message == "rate limit 'two' exceeded");
  const std::string* retry = header(e.headers, "retry-after");
  REQUIRE(retry != nullptr);
  CHECK(std::stoi(*retry) > 3500);  // one token per hour
  CHECK(std::stoi(*retry) <= 3600);
  CHECK(*header(e.headers, "x-ratelimit-remaining") == "0");
  CHECK(absl::StartsWith(test::explain(*c, head), "policy 'two' (1 per 3600s, burst 2), one "
                                                  "bucket: would reject with 429 rate_limited"));
}

TEST_CASE("local_ratelimit: keyed by header", "[policy][filters]") {
  Fixture f;
  auto c = f.make(R"({"policy":"by-tenant"})");
  auto run = [&](const char* tenant) {
    FakeRequestContext ctx;
    ctx.request().headers.add("x-tenant", tenant);
    return c->shared()->onRequestHeaders(ctx);
  };
  CHECK(run("a") == FilterStatus::Continue);
  CHECK(run("a") == FilterStatus::StopAndRespond);
  CHECK(run("b") == FilterStatus::Continue);
  http::RequestHead head;
  head.headers.add("x-tenant", "c");
  CHECK(test::explain(*c, head) == "policy 'by-tenant' (1 per 3600s, burst 1), key x-tenant='c': "
                                   "would allow (1 tokens now; nothing taken)");
}

TEST_CASE("local_ratelimit: the rejection is RateLimited with the policy's status",
          "[policy][filters]") {
  Fixture f;
  SECTION("default status") {
    auto c = f.make(R"({"policy":"by-tenant"})");
    FakeRequestContext first;
    CHECK(c->shared()->onRequestHeaders(first) == FilterStatus::Continue);
    FakeRequestContext ctx;
    CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    REQUIRE(ctx.failures.size() == 1);
    const ErrorInfo& e = ctx.failures[0];
    CHECK(e.kind == ErrorKind::RateLimited);
    CHECK(e.status == 429);
    CHECK(e.code == "rate_limited");
    CHECK(e.source == ErrorSource::Filter);
    CHECK_FALSE(e.retryable);
    CHECK(e.message == "rate limit 'by-tenant' exceeded");
    CHECK(header(e.headers, "retry-after") != nullptr);
    // No response_headers on this policy: no X-RateLimit-* on the rejection or the response.
    CHECK(header(e.headers, "x-ratelimit-limit") == nullptr);
    CHECK(header(e.headers, "x-ratelimit-remaining") == nullptr);
    FakeRequestContext post;
    CHECK(c->shared()->onResponseHeaders(post) == FilterStatus::Continue);
    CHECK(post.response().headers.empty());
  }
  SECTION("configured status") {
    auto c = f.make(R"({"policy":"busy"})");
    FakeRequestContext first;
    CHECK(c->shared()->onRequestHeaders(first) == FilterStatus::Continue);
    FakeRequestContext ctx;
    CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    REQUIRE(ctx.failures.size() == 1);
    const ErrorInfo& e = ctx.failures[0];
    CHECK(e.kind == ErrorKind::RateLimited);
    CHECK(e.status == 503);
    CHECK(e.code == "rate_limited");
    CHECK(e.message == "rate limit 'busy' exceeded");
    const std::string* retry = header(e.headers, "retry-after");
    REQUIRE(retry != nullptr);
    CHECK(std::stoi(*retry) > 3500);
    http::RequestHead head;
    CHECK(absl::StartsWith(test::explain(*c, head),
                           "policy 'busy' (1 per 3600s, burst 1), one bucket: would reject with "
                           "503 rate_limited"));
  }
}

TEST_CASE("local_ratelimit: the response stage keeps X-RateLimit-* already set",
          "[policy][filters]") {
  Fixture f;
  auto c = f.make(R"({"policy":"two"})");
  FakeRequestContext post;
  post.response().headers.add("x-ratelimit-limit", "upstream");
  CHECK(c->shared()->onResponseHeaders(post) == FilterStatus::Continue);
  CHECK(test::values(post.response().headers, "x-ratelimit-limit") ==
        std::vector<std::string>{"upstream"});
  CHECK_FALSE(post.response().headers.has("x-ratelimit-remaining"));
  // Nothing was taken by the response stage.
  FakeRequestContext fresh;
  CHECK(c->shared()->onResponseHeaders(fresh) == FilterStatus::Continue);
  CHECK(*fresh.response().headers.get("x-ratelimit-remaining") == "2");
}

TEST_CASE("local_ratelimit: allowed / limited counters", "[policy][filters][stats]") {
  Fixture f;
  auto c = f.make(R"({"policy":"two"})");
  FakeRequestContext ctx;  // one worker sees every request
  CHECK(counter(ctx, "local_ratelimit", "allowed") == 0);
  CHECK(counter(ctx, "local_ratelimit", "limited") == 0);
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(counter(ctx, "local_ratelimit", "allowed") == 2);
  CHECK(counter(ctx, "local_ratelimit", "limited") == 0);
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  CHECK(counter(ctx, "local_ratelimit", "allowed") == 2);
  CHECK(counter(ctx, "local_ratelimit", "limited") == 3);
  CHECK(ctx.failures.size() == 3);
  // Neither the response stage nor explain counts.
  CHECK(c->shared()->onResponseHeaders(ctx) == FilterStatus::Continue);
  http::RequestHead head;
  test::explain(*c, head);
  CHECK(counter(ctx, "local_ratelimit", "allowed") == 2);
  CHECK(counter(ctx, "local_ratelimit", "limited") == 3);
}

TEST_CASE("config: checking a config allocates no rate-limit buckets; serving it does",
          "[policy][config]") {
  // A keyed policy with max_keys 10,000,000 has a 16M-slot table (256 MiB): validation and the
  // control plane's snapshot checks must not build it, only the config a proxy serves.
  const auto config = test::parseConfigOk(R"(
rate_limit_policies:
  - name: big
    requests_per_unit: 10
    max_keys: 10000000
    key_by: {header: x-tenant}
)");
  filters::ValidationContext check;
  REQUIRE(config::buildValidationContext(config, &check, /*serving=*/false).empty());
  REQUIRE(check.rate_limit_policies.at("big") != nullptr);
  CHECK_FALSE(check.rate_limit_policies.at("big")->hasBuckets());
  filters::ValidationContext serve;
  REQUIRE(config::buildValidationContext(config, &serve, /*serving=*/true).empty());
  CHECK(serve.rate_limit_policies.at("big")->hasBuckets());
  CHECK(serve.rate_limit_policies.at("big")->tableBytes() == (size_t{16} << 20) * 16);

  // All policies together are bounded: five such tables are 1.25 GiB.
  std::string five = "rate_limit_policies:\n";
  for (int i = 0; i < 5; i++) {
    absl::StrAppend(&five, "  - {name: p", i, ", requests_per_unit: 10, max_keys: 10000000, ",
                    "key_by: {header: x-tenant}}\n");
  }
  filters::ValidationContext too_much;
  const auto errors =
      config::buildValidationContext(test::parseConfigOk(five), &too_much, /*serving=*/false);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].toString() == "rate_limit_policies: the key tables of all policies together "
                                "would take 1280 MiB (at most 1024 MiB): lower max_keys");
}

} // namespace
} // namespace gw::filters
