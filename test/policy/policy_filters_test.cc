// jwt_auth and local_ratelimit through the FilterFactory / Filter interfaces with a fake request
// context, and the config validation of policy resources and references (field paths).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "source/policy/jwt.h"
#include "source/policy/rate_limiter.h"
#include "test/filters/fake_request_context.h"
#include "test/policy/test_tokens.h"

namespace gw::filters {
namespace {

using test::FakeRequestContext;

constexpr char kSecret[] = "filter-test-secret";

gateway::v1::Config parse(const std::string& yaml) {
  auto c = config::parseConfig(yaml);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *c;
}

const char* kPolicies = R"(
auth_providers:
  - name: main
    secret: filter-test-secret
    issuer: iss
    claim_headers: {sub: x-user-id, tier: x-tier}
  - name: fwd
    secret: filter-test-secret
    forward: true
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
)";

struct Fixture {
  Fixture() {
    auto errors = config::buildValidationContext(parse(kPolicies), &ctx, /*serving=*/true);
    REQUIRE(errors.empty());
  }
  FilterConfigConstSharedPtr make(const std::string& name, const std::string& json) {
    google::protobuf::Struct s;
    REQUIRE(google::protobuf::util::JsonStringToMessage(json, &s).ok());
    auto c = FilterRegistry::get(name)->createConfig(s, ctx);
    INFO(c.status().ToString());
    REQUIRE(c.ok());
    return *c;
  }
  ValidationContext ctx;
};

std::string token(const std::string& extra = "", const std::string& secret = kSecret) {
  return policy::test::hmacToken(absl::StrCat(R"({"sub":"alice","iss":"iss","exp":)",
                                      policy::jwtNow() + 3600, extra, "}"),
                         secret);
}

const std::string* header(const std::vector<std::pair<std::string, std::string>>& h,
                          const std::string& name) {
  for (const auto& [n, v] : h) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

TEST_CASE("jwt_auth: a valid token sets claim headers and strips the token and forgeries",
          "[policy][filters]") {
  Fixture f;
  auto c = f.make("jwt_auth", R"({"provider":"main"})");
  REQUIRE(c->shared() != nullptr);  // stateless: no per-request object
  FakeRequestContext ctx;
  auto& h = ctx.request().headers;
  h.add("authorization", "Bearer " + token(R"(,"tier":3)"));
  h.add("x-user-id", "mallory");
  h.add("x-user-id", "eve");
  h.add("x-tier", "forged");
  CHECK(c->shared()->onRequest(ctx) == FilterStatus::Continue);
  CHECK(ctx.untouched());
  CHECK_FALSE(h.has("authorization"));
  CHECK(h.count("x-user-id") == 1);
  CHECK(*h.get("x-user-id") == "alice");
  CHECK(*h.get("x-tier") == "3");
}

TEST_CASE("jwt_auth: failures are 401 with a code and WWW-Authenticate", "[policy][filters]") {
  Fixture f;
  auto c = f.make("jwt_auth", R"({"provider":"main"})");
  struct Case {
    std::string authorization;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"", "jwt_missing"},
      {"Bearer x.y.z", "jwt_malformed"},
      {"Bearer " + token("", "wrong"), "jwt_bad_signature"},
      {"Bearer " + policy::test::hmacToken(R"({"iss":"iss","exp":1})", kSecret), "jwt_expired"},
      {"Bearer " + token(R"(,"nbf":99999999999)"), "jwt_not_yet_valid"},
      {"Bearer " + policy::test::hmacToken(absl::StrCat(R"({"iss":"other","exp":)",
                                                policy::jwtNow() + 60, "}"),
                                   kSecret),
       "jwt_bad_issuer"},
      {"Bearer " + policy::test::hmacToken(R"({"iss":"iss","exp":99999999999})", kSecret, "HS512",
                                   EVP_sha512()),
       "jwt_alg_not_allowed"},
  };
  for (const auto& tc : cases) {
    FakeRequestContext ctx;
    if (!tc.authorization.empty()) {
      ctx.request().headers.add("authorization", tc.authorization);
    }
    ctx.request().headers.add("x-user-id", "mallory");
    INFO(tc.code);
    CHECK(c->shared()->onRequest(ctx) == FilterStatus::StopAndRespond);
    REQUIRE(ctx.failures.size() == 1);
    const ErrorInfo& e = ctx.failures[0];
    CHECK(e.status == 401);
    CHECK(e.code == tc.code);
    CHECK(e.source == ErrorSource::Filter);
    const std::string* www = header(e.headers, "www-authenticate");
    REQUIRE(www != nullptr);
    CHECK(*www == (tc.code == "jwt_missing" ? "Bearer" : "Bearer error=\"invalid_token\""));
    CHECK_FALSE(ctx.request().headers.has("x-user-id"));
  }
}

TEST_CASE("jwt_auth: allow_missing, forward, explain", "[policy][filters]") {
  Fixture f;
  auto optional = f.make("jwt_auth", R"({"provider":"main","allow_missing":true})");
  {
    FakeRequestContext ctx;
    ctx.request().headers.add("x-user-id", "mallory");
    CHECK(optional->shared()->onRequest(ctx) == FilterStatus::Continue);
    CHECK(ctx.untouched());
    CHECK_FALSE(ctx.request().headers.has("x-user-id"));
  }
  {
    FakeRequestContext ctx;  // a bad token still fails
    ctx.request().headers.add("authorization", "Bearer nope");
    CHECK(optional->shared()->onRequest(ctx) == FilterStatus::StopAndRespond);
  }
  auto fwd = f.make("jwt_auth", R"({"provider":"fwd"})");
  {
    FakeRequestContext ctx;
    ctx.request().headers.add("authorization", "Bearer " + token());
    CHECK(fwd->shared()->onRequest(ctx) == FilterStatus::Continue);
    CHECK(ctx.request().headers.has("authorization"));
  }
  auto c = f.make("jwt_auth", R"({"provider":"main"})");
  http::RequestHead head;
  CHECK(c->explain(head) == "provider 'main': 401 jwt_missing: no token in the authorization header");
  CHECK(optional->explain(head) ==
        "provider 'main': pass without identity: no token in the authorization header "
        "(allow_missing)");
  head.headers.add("authorization", "Bearer " + token(R"(,"tier":"gold")"));
  const std::string e = c->explain(head);
  CHECK(absl::StartsWith(e, "provider 'main': token valid for sub=alice (not expiring for "));
  CHECK(absl::EndsWith(e, " s); sets x-tier: gold, x-user-id: alice; strips authorization"));
  head.headers.set("authorization", "Bearer " + token("", "wrong"));
  CHECK(c->explain(head) ==
        "provider 'main': 401 jwt_bad_signature: the token's signature does not verify");
}

TEST_CASE("local_ratelimit: over the burst -> 429 rate_limited with Retry-After",
          "[policy][filters]") {
  Fixture f;
  auto c = f.make("local_ratelimit", R"({"policy":"two"})");
  REQUIRE(c->shared() != nullptr);
  http::RequestHead head;
  CHECK(c->explain(head) ==
        "policy 'two' (1 per 3600s, burst 2), one bucket: would allow (2 tokens now; nothing "
        "taken)");
  for (int i = 0; i < 2; i++) {
    FakeRequestContext ctx;
    CHECK(c->shared()->onRequest(ctx) == FilterStatus::Continue);
    CHECK(ctx.untouched());
  }
  // Post stage: X-RateLimit-* read without taking.
  FakeRequestContext post;
  CHECK(c->shared()->onResponse(post) == FilterStatus::Continue);
  CHECK(*post.response().headers.get("x-ratelimit-limit") == "2");
  CHECK(*post.response().headers.get("x-ratelimit-remaining") == "0");
  FakeRequestContext ctx;
  CHECK(c->shared()->onRequest(ctx) == FilterStatus::StopAndRespond);
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
  CHECK(absl::StartsWith(c->explain(head), "policy 'two' (1 per 3600s, burst 2), one bucket: "
                                           "would reject with 429 rate_limited"));
}

TEST_CASE("local_ratelimit: keyed by header", "[policy][filters]") {
  Fixture f;
  auto c = f.make("local_ratelimit", R"({"policy":"by-tenant"})");
  auto run = [&](const char* tenant) {
    FakeRequestContext ctx;
    ctx.request().headers.add("x-tenant", tenant);
    return c->shared()->onRequest(ctx);
  };
  CHECK(run("a") == FilterStatus::Continue);
  CHECK(run("a") == FilterStatus::StopAndRespond);
  CHECK(run("b") == FilterStatus::Continue);
  http::RequestHead head;
  head.headers.add("x-tenant", "c");
  CHECK(c->explain(head) == "policy 'by-tenant' (1 per 3600s, burst 1), key x-tenant='c': would "
                            "allow (1 tokens now; nothing taken)");
}

std::vector<std::string> validate(const std::string& yaml) {
  std::vector<std::string> out;
  for (const auto& e : config::validateConfig(parse(yaml))) {
    out.push_back(e.toString());
  }
  return out;
}

TEST_CASE("config: policy problems and references have field paths", "[policy][config]") {
  const auto errors = validate(R"(
auth_providers:
  - name: a
    public_key_pem: "nope"
  - secret: s
  - name: a
    secret: s
rate_limit_policies:
  - name: r
    requests_per_unit: 0
  - name: r
    requests_per_unit: 5
listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /x}
            route_filter: {name: direct_response, config: {status: 200}}
          - match: {prefix: /}
            pre_filters:
              - {name: jwt_auth, config: {provider: x}}
              - {name: jwt_auth, config: {provider: a}}
              - {name: local_ratelimit, config: {policy: nope}}
              - {name: jwt_auth, config: {}}
            route_filter: {name: direct_response, config: {status: 200}}
)");
  CHECK(errors == std::vector<std::string>{
                      "auth_providers[0].public_key_pem: not a PEM public key (expected "
                      "-----BEGIN PUBLIC KEY-----)",
                      "auth_providers[1].name: required",
                      "auth_providers[2].name: duplicate auth provider name 'a' (also "
                      "auth_providers[0])",
                      "rate_limit_policies[0].requests_per_unit: a rate is required: "
                      "requests_per_unit (+ unit) or tokens_per_fill + fill_interval (zero "
                      "allows nothing)",
                      "rate_limit_policies[1].name: duplicate rate-limit policy name 'r' (also "
                      "rate_limit_policies[0])",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[0].config.provider: "
                      "unknown auth provider 'x'",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[1].config.provider: "
                      "auth provider 'a' is invalid",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[2].config.policy: "
                      "unknown rate-limit policy 'nope'",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[3].config.provider: "
                      "required (the name of an auth provider)"});
  CHECK(validate(absl::StrCat(kPolicies, R"(
listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /}
            pre_filters:
              - {name: jwt_auth, config: {provider: main}}
              - {name: local_ratelimit, config: {policy: two}}
            route_filter: {name: direct_response, config: {status: 200}}
)")).empty());
}

TEST_CASE("config: checking a config allocates no rate-limit buckets; serving it does",
          "[policy][config]") {
  // A keyed policy with max_keys 10,000,000 has a 16M-slot table (256 MiB): validation and the
  // control plane's snapshot checks must not build it, only the config a proxy serves.
  const auto config = parse(R"(
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
  const auto errors = config::buildValidationContext(parse(five), &too_much, /*serving=*/false);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].toString() == "rate_limit_policies: the key tables of all policies together "
                                "would take 1280 MiB (at most 1024 MiB): lower max_keys");
}

TEST_CASE("config: secrets are redacted for display", "[policy][config]") {
  auto c = parse(kPolicies);
  config::redactSecrets(&c);
  CHECK(c.auth_providers(0).secret() == "<redacted>");
  CHECK(c.auth_providers(1).secret() == "<redacted>");
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(c, &json).ok());
  CHECK_FALSE(absl::StrContains(json, kSecret));
}

} // namespace
} // namespace gw::filters
