// `api_key_auth` with a fake request context and in-memory quotas: the typed 401s, the key taken
// out of the header and the query, the consumer's Identity, the plan's rate (429 + Retry-After)
// and quota (429 quota_exceeded with the reset), RateLimit-* on responses and errors, report
// mode, explain and config errors. The Redis-counted quota runs against a real Redis in
// test/integration/test_api_keys.py.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "source/policy/api_keys.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using policy::ApiKeyStore;
using test::counter;
using test::createOk;
using test::FakeRequestContext;
using test::instanceOf;
using test::values;

std::string keysYaml(const std::string& plan_suffix) {
  return absl::StrCat(R"(
usage_plans:
  - name: small)", plan_suffix, R"(
    quota: {limit: 3, period: DAY}
  - name: fast)", plan_suffix, R"(
    rate: {requests_per_second: 1, burst: 2}
api_keys:
  - {id: k-small, key_sha256: )", ApiKeyStore::sha256Hex("small-key"), R"(, plan: small)",
                      plan_suffix, R"(,
     consumer: {id: acme, roles: [partner, billing]}}
  - {id: k-fast, key_sha256: )", ApiKeyStore::sha256Hex("fast-key"), R"(, plan: fast)",
                      plan_suffix, R"(}
  - {id: k-free, key_sha256: )", ApiKeyStore::sha256Hex("free-key"), R"(}
  - {id: k-off, key_sha256: )", ApiKeyStore::sha256Hex("off-key"), R"(, enabled: false}
  - {id: k-old, key_sha256: )", ApiKeyStore::sha256Hex("old-key"),
                      R"(, expires_at: "2020-01-01T00:00:00Z"}
)");
}

struct Run {
  FakeRequestContext ctx;
  FilterPtr owned;
  Filter* f = nullptr;
  FilterStatus status;
  Run(const FilterConfig& c, const std::string& header_key, const std::string& query = "") {
    if (!header_key.empty()) {
      ctx.request().headers.add("x-api-key", header_key);
    }
    ctx.request().query = query;
    f = &instanceOf(c, owned);
    status = f->onRequestHeaders(ctx);
  }
  const ErrorInfo& error() {
    REQUIRE(ctx.failures.size() == 1);
    return ctx.failures[0];
  }
};

TEST_CASE("api_key_auth: typed 401s; the key never goes upstream") {
  ValidationContext v = test::policyContext(keysYaml("-a"));
  auto c = createOk("api_key_auth", R"({"query_param": "api_key"})", v);
  struct Case {
    std::string header, query, code;
  };
  for (const Case& k : std::vector<Case>{{"", "", "api_key_missing"},
                                         {"nope", "", "api_key_unknown"},
                                         {"off-key", "", "api_key_disabled"},
                                         {"old-key", "", "api_key_expired"},
                                         {"free-key", "api_key=free-key", "api_key_malformed"}}) {
    INFO(k.code);
    Run r(*c, k.header, k.query);
    CHECK(r.status == FilterStatus::StopAndRespond);
    CHECK(r.error().status == 401);
    CHECK(r.error().code == k.code);
    CHECK(*test::header(r.error().headers, "www-authenticate") == "ApiKey header=\"x-api-key\"");
    CHECK(values(r.ctx.request().headers, "x-api-key").empty());
    CHECK(r.ctx.filterState().get(kIdentity) == nullptr);
  }
  CHECK_THAT(Run(*c, "old-key").error().message,
             Catch::Contains("expired at 2020-01-01T00:00:00Z"));
  // From the query, percent-decoded, and removed from it.
  Run q(*c, "", "a=1&api_%6Bey=free%2Dkey&b=2");
  CHECK(q.status == FilterStatus::Continue);
  CHECK(q.ctx.request().query == "a=1&b=2");
  const Identity* id = q.ctx.filterState().get(kIdentity);
  REQUIRE(id != nullptr);
  CHECK(id->subject == "k-free");
  CHECK(id->method == "api_key");
  CHECK(counter(q.ctx, "api_key_auth", "allowed") == 1);
}

TEST_CASE("api_key_auth: the memory quota, RateLimit headers, quota_exceeded") {
  ValidationContext v = test::policyContext(keysYaml("-b"));
  auto c = createOk("api_key_auth", "{}", v);
  for (int i = 1; i <= 3; i++) {
    Run r(*c, "small-key");
    REQUIRE(r.status == FilterStatus::Continue);
    const Identity* id = r.ctx.filterState().get(kIdentity);
    REQUIRE(id != nullptr);
    CHECK(id->subject == "acme");
    CHECK(id->roles == std::vector<std::string>{"partner", "billing"});
    CHECK(id->provider == "k-small");
    CHECK(r.f->onResponseHeaders(r.ctx) == FilterStatus::Continue);
    CHECK(values(r.ctx.response().headers, "ratelimit-limit") == std::vector<std::string>{"3"});
    CHECK(values(r.ctx.response().headers, "ratelimit-remaining") ==
          std::vector<std::string>{absl::StrCat(3 - i)});
    const int reset = std::stoi(values(r.ctx.response().headers, "ratelimit-reset").at(0));
    CHECK(reset > 0);
    CHECK(reset <= 86400);
  }
  Run over(*c, "small-key");
  CHECK(over.status == FilterStatus::StopAndRespond);
  const ErrorInfo& e = over.error();
  CHECK(e.status == 429);
  CHECK(e.code == "quota_exceeded");
  CHECK_THAT(e.message, Catch::Contains("the quota of usage plan 'small-b' (3 per DAY) is used up"));
  REQUIRE(e.details.size() == 2);
  CHECK(e.details[0] == std::make_pair(std::string("limit"), std::string("3")));
  CHECK(e.details[1].first == "reset");
  CHECK(*test::header(e.headers, "ratelimit-remaining") == "0");
  CHECK(*test::header(e.headers, "retry-after") == *test::header(e.headers, "ratelimit-reset"));
  CHECK(counter(over.ctx, "api_key_auth", "quota_exceeded") == 1);
}

TEST_CASE("api_key_auth: the plan's rate gives 429 rate_limited with Retry-After") {
  ValidationContext v = test::policyContext(keysYaml("-c"));
  auto c = createOk("api_key_auth", "{}", v);
  CHECK(Run(*c, "fast-key").status == FilterStatus::Continue);  // burst 2
  CHECK(Run(*c, "fast-key").status == FilterStatus::Continue);
  Run limited(*c, "fast-key");
  CHECK(limited.status == FilterStatus::StopAndRespond);
  CHECK(limited.error().status == 429);
  CHECK(limited.error().code == "rate_limited");
  CHECK(*test::header(limited.error().headers, "retry-after") == "1");
  CHECK(*test::header(limited.error().headers, "ratelimit-limit") == "2");
  CHECK(counter(limited.ctx, "api_key_auth", "rate_limited") == 1);
}

TEST_CASE("api_key_auth: report mode passes and records; explain; config errors") {
  ValidationContext v = test::policyContext(keysYaml("-d"));
  auto c = createOk("api_key_auth", R"({"mode": "report", "header": "X-Key"})", v);
  FakeRequestContext ctx;
  ctx.request().headers.add("x-key", "nope");
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(ctx.failures.empty());
  CHECK(values(ctx.request().headers, "x-key").empty());
  REQUIRE(ctx.filterState().get(kReportOnly) != nullptr);
  CHECK(ctx.filterState().get(kReportOnly)->describe() == "api_key_auth:api_key_unknown");

  auto plain = createOk("api_key_auth", "{}", v);
  http::RequestHead head;
  CHECK(test::explain(*plain, head) == "401 api_key_missing");
  head.headers.add("x-api-key", "small-key");
  CHECK(test::explain(*plain, head) ==
        "key 'k-small' of consumer 'acme' on plan 'small-d', quota 3 per DAY (UTC, in memory per "
        "node)");

  CHECK(test::createError("api_key_auth", R"({"header": "x key"})", v) ==
        "header: 'x key' is not a header name");
  CHECK(test::createError("api_key_auth", R"({"mode": "x"})", v) ==
        "mode: must be 'enforce' or 'report', not 'x'");
}

} // namespace
} // namespace gw::filters
