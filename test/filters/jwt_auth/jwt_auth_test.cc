// `jwt_auth` through the FilterFactory / Filter interfaces with a fake request context: claim
// headers, failures, allow_missing, forward, the Identity it leaves in the filter state, explain,
// counters; and the redaction of auth provider secrets.
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "source/policy/jwt.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"
#include "test/policy/test_tokens.h"

namespace gw::filters {
namespace {

using test::counter;
using test::createOk;
using test::FakeRequestContext;
using test::header;

constexpr char kSecret[] = "filter-test-secret";

const char* kProviders = R"(
auth_providers:
  - name: main
    secret: filter-test-secret
    issuer: iss
    claim_headers: {sub: x-user-id, tier: x-tier}
  - name: fwd
    secret: filter-test-secret
    forward: true
)";

struct Fixture {
  FilterConfigConstSharedPtr make(const std::string& json) {
    return createOk("jwt_auth", json, ctx);
  }
  ValidationContext ctx = test::policyContext(kProviders);
};

std::string token(const std::string& extra = "", const std::string& secret = kSecret) {
  return policy::test::hmacToken(absl::StrCat(R"({"sub":"alice","iss":"iss","exp":)",
                                              policy::jwtNow() + 3600, extra, "}"),
                                 secret);
}

using Claims = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("jwt_auth: a valid token sets claim headers and strips the token and forgeries",
          "[policy][filters]") {
  Fixture f;
  auto c = f.make(R"({"provider":"main"})");
  REQUIRE(c->shared() != nullptr);  // stateless: no per-request object
  FakeRequestContext ctx;
  auto& h = ctx.request().headers;
  h.add("authorization", "Bearer " + token(R"(,"tier":3)"));
  h.add("x-user-id", "mallory");
  h.add("x-user-id", "eve");
  h.add("x-tier", "forged");
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(ctx.untouched());
  CHECK_FALSE(h.has("authorization"));
  CHECK(h.count("x-user-id") == 1);
  CHECK(*h.get("x-user-id") == "alice");
  CHECK(*h.get("x-tier") == "3");
}

TEST_CASE("jwt_auth: failures are 401 with a code and WWW-Authenticate", "[policy][filters]") {
  Fixture f;
  auto c = f.make(R"({"provider":"main"})");
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
    CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    REQUIRE(ctx.failures.size() == 1);
    const ErrorInfo& e = ctx.failures[0];
    CHECK(e.status == 401);
    CHECK(e.code == tc.code);
    CHECK(e.kind == ErrorKind::Unauthenticated);
    CHECK(e.source == ErrorSource::Filter);
    const std::string* www = header(e.headers, "www-authenticate");
    REQUIRE(www != nullptr);
    CHECK(*www == (tc.code == "jwt_missing" ? "Bearer" : "Bearer error=\"invalid_token\""));
    CHECK_FALSE(ctx.request().headers.has("x-user-id"));
    // No identity for a refused request; one denial counted.
    CHECK(ctx.filterState().get(kIdentity) == nullptr);
    CHECK(counter(ctx, "jwt_auth", "denied") == 1);
    CHECK(counter(ctx, "jwt_auth", "allowed") == 0);
    CHECK(counter(ctx, "jwt_auth", "anonymous") == 0);
  }
}

TEST_CASE("jwt_auth: allow_missing, forward, explain", "[policy][filters]") {
  Fixture f;
  auto optional = f.make(R"({"provider":"main","allow_missing":true})");
  {
    FakeRequestContext ctx;
    ctx.request().headers.add("x-user-id", "mallory");
    CHECK(optional->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
    CHECK(ctx.untouched());
    CHECK_FALSE(ctx.request().headers.has("x-user-id"));
  }
  {
    FakeRequestContext ctx;  // a bad token still fails
    ctx.request().headers.add("authorization", "Bearer nope");
    CHECK(optional->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  }
  auto fwd = f.make(R"({"provider":"fwd"})");
  {
    FakeRequestContext ctx;
    ctx.request().headers.add("authorization", "Bearer " + token());
    CHECK(fwd->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
    CHECK(ctx.request().headers.has("authorization"));
  }
  auto c = f.make(R"({"provider":"main"})");
  http::RequestHead head;
  CHECK(test::explain(*c, head) ==
        "provider 'main': 401 jwt_missing: no token in the authorization header");
  CHECK(test::explain(*optional, head) ==
        "provider 'main': pass without identity: no token in the authorization header "
        "(allow_missing)");
  head.headers.add("authorization", "Bearer " + token(R"(,"tier":"gold")"));
  const std::string e = test::explain(*c, head);
  CHECK(absl::StartsWith(e, "provider 'main': token valid for sub=alice (not expiring for "));
  CHECK(absl::EndsWith(e, " s); sets x-tier: gold, x-user-id: alice; strips authorization"));
  head.headers.set("authorization", "Bearer " + token("", "wrong"));
  CHECK(test::explain(*c, head) ==
        "provider 'main': 401 jwt_bad_signature: the token's signature does not verify");
}

TEST_CASE("jwt_auth: a valid token puts the caller's Identity in the filter state",
          "[policy][filters][identity]") {
  Fixture f;
  auto c = f.make(R"({"provider":"main"})");
  FakeRequestContext ctx;
  ctx.request().headers.add("authorization", "Bearer " + token(R"(,"tier":3)"));
  REQUIRE(ctx.filterState().empty());
  CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
  const Identity* id = ctx.filterState().get(kIdentity);
  REQUIRE(id != nullptr);
  CHECK(id->subject == "alice");
  CHECK(id->provider == "main");
  CHECK(id->issuer == "iss");
  // The provider's mapped claims (claim name -> text), in its order (by header name).
  CHECK(id->claims == Claims{{"tier", "3"}, {"sub", "alice"}});
  CHECK(id->describe() == "alice (main)");
  CHECK(ctx.filterState().entries().size() == 1);
  CHECK(ctx.filterState().has("identity"));

  // A mapped claim the token lacks is not in the identity; a provider without an issuer or claim
  // mapping gives an identity with just the subject and provider.
  FakeRequestContext no_tier;
  no_tier.request().headers.add("authorization", "Bearer " + token());
  CHECK(c->shared()->onRequestHeaders(no_tier) == FilterStatus::Continue);
  REQUIRE(no_tier.filterState().get(kIdentity) != nullptr);
  CHECK(no_tier.filterState().get(kIdentity)->claims == Claims{{"sub", "alice"}});

  auto fwd = f.make(R"({"provider":"fwd"})");
  FakeRequestContext forwarded;
  forwarded.request().headers.add("authorization", "Bearer " + token());
  CHECK(fwd->shared()->onRequestHeaders(forwarded) == FilterStatus::Continue);
  const Identity* fid = forwarded.filterState().get(kIdentity);
  REQUIRE(fid != nullptr);
  CHECK(fid->subject == "alice");
  CHECK(fid->provider == "fwd");
  CHECK(fid->issuer.empty());
  CHECK(fid->claims.empty());
}

TEST_CASE("jwt_auth: an invalid or missing token leaves no Identity",
          "[policy][filters][identity]") {
  Fixture f;
  auto c = f.make(R"({"provider":"main"})");
  auto optional = f.make(R"({"provider":"main","allow_missing":true})");
  {
    FakeRequestContext ctx;  // missing, required
    CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(ctx.filterState().get(kIdentity) == nullptr);
    CHECK(ctx.filterState().empty());
  }
  {
    FakeRequestContext ctx;  // missing, allowed: anonymous
    CHECK(optional->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
    CHECK(ctx.filterState().get(kIdentity) == nullptr);
    CHECK(ctx.filterState().empty());
  }
  {
    FakeRequestContext ctx;  // bad signature
    ctx.request().headers.add("authorization", "Bearer " + token("", "wrong"));
    CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(ctx.filterState().empty());
  }
  {
    FakeRequestContext ctx;  // expired
    ctx.request().headers.add("authorization",
                              "Bearer " + policy::test::hmacToken(
                                              R"({"sub":"alice","iss":"iss","exp":1})", kSecret));
    CHECK(c->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(ctx.filterState().empty());
  }
  {
    FakeRequestContext ctx;  // malformed, with allow_missing
    ctx.request().headers.add("authorization", "Bearer x.y.z");
    CHECK(optional->shared()->onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(ctx.filterState().empty());
  }
}

TEST_CASE("jwt_auth: explain records the identity in the ExplainContext state",
          "[policy][filters][identity]") {
  Fixture f;
  auto c = f.make(R"({"provider":"main"})");
  http::RequestHead head;
  head.headers.add("authorization", "Bearer " + token(R"(,"tier":"gold")"));
  FilterState state;
  ExplainContext ec{head, state};
  const std::string e = c->explain(ec);
  CHECK(absl::StartsWith(e, "provider 'main': token valid for sub=alice"));
  const Identity* id = state.get(kIdentity);
  REQUIRE(id != nullptr);
  CHECK(id->subject == "alice");
  CHECK(id->provider == "main");
  CHECK(id->issuer == "iss");
  CHECK(id->claims == Claims{{"tier", "gold"}, {"sub", "alice"}});
  // explain changes nothing in the head: the token and the headers stay as they were.
  CHECK(head.headers.has("authorization"));
  CHECK_FALSE(head.headers.has("x-user-id"));

  // Missing (even when allowed) or invalid: nothing recorded.
  for (const char* provider_json :
       {R"({"provider":"main"})", R"({"provider":"main","allow_missing":true})"}) {
    INFO(provider_json);
    auto cfg = f.make(provider_json);
    http::RequestHead none;
    FilterState s;
    ExplainContext nc{none, s};
    cfg->explain(nc);
    CHECK(s.empty());
    http::RequestHead bad;
    bad.headers.add("authorization", "Bearer " + token("", "wrong"));
    ExplainContext bc{bad, s};
    cfg->explain(bc);
    CHECK(s.empty());
  }
}

TEST_CASE("jwt_auth: allowed / denied / anonymous counters", "[policy][filters][stats]") {
  Fixture f;
  auto c = f.make(R"({"provider":"main"})");
  auto optional = f.make(R"({"provider":"main","allow_missing":true})");
  // One worker (one fake context) sees every request.
  FakeRequestContext ctx;
  auto run = [&](const FilterConfig& config, const std::string& authorization) {
    ctx.request().headers.clear();
    if (!authorization.empty()) {
      ctx.request().headers.add("authorization", authorization);
    }
    return config.shared()->onRequestHeaders(ctx);
  };
  CHECK(counter(ctx, "jwt_auth", "allowed") == 0);
  CHECK(run(*c, "Bearer " + token()) == FilterStatus::Continue);
  CHECK(run(*c, "Bearer " + token(R"(,"tier":1)")) == FilterStatus::Continue);
  CHECK(run(*optional, "Bearer " + token()) == FilterStatus::Continue);
  CHECK(counter(ctx, "jwt_auth", "allowed") == 3);
  CHECK(counter(ctx, "jwt_auth", "denied") == 0);
  CHECK(counter(ctx, "jwt_auth", "anonymous") == 0);

  CHECK(run(*c, "") == FilterStatus::StopAndRespond);
  CHECK(run(*c, "Bearer " + token("", "wrong")) == FilterStatus::StopAndRespond);
  CHECK(run(*optional, "Bearer x.y.z") == FilterStatus::StopAndRespond);
  CHECK(counter(ctx, "jwt_auth", "denied") == 3);

  CHECK(run(*optional, "") == FilterStatus::Continue);
  CHECK(run(*optional, "") == FilterStatus::Continue);
  CHECK(counter(ctx, "jwt_auth", "anonymous") == 2);
  CHECK(counter(ctx, "jwt_auth", "allowed") == 3);
  CHECK(counter(ctx, "jwt_auth", "denied") == 3);

  // explain counts nothing.
  http::RequestHead head;
  head.headers.add("authorization", "Bearer " + token());
  test::explain(*c, head);
  CHECK(counter(ctx, "jwt_auth", "allowed") == 3);
}

TEST_CASE("config: secrets are redacted for display", "[policy][config]") {
  auto c = test::parseConfigOk(kProviders);
  config::redactSecrets(&c);
  CHECK(c.auth_providers(0).secret() == "<redacted>");
  CHECK(c.auth_providers(1).secret() == "<redacted>");
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(c, &json).ok());
  CHECK_FALSE(absl::StrContains(json, kSecret));
}

} // namespace
} // namespace gw::filters

namespace gw::filters {
namespace {

const char* kRbacProviders = R"(
auth_providers:
  - name: kc
    secret: filter-test-secret
    claim_headers: {roles: x-roles, "realm_access.roles": x-realm-roles,
                    "https://example.com/groups": x-groups, "org.unit": x-unit}
    roles_claim: realm_access.roles
  - name: plain
    secret: filter-test-secret
)";

TEST_CASE("jwt_auth: arrays and nested claims map to headers; roles, permissions and scope "
          "go into the Identity", "[policy][filters][identity]") {
  ValidationContext vctx = test::policyContext(kRbacProviders);
  auto kc = createOk("jwt_auth", R"({"provider":"kc"})", vctx);
  FakeRequestContext ctx;
  ctx.request().headers.add("x-realm-roles", "forged");
  ctx.request().headers.add(
      "authorization",
      "Bearer " + token(R"(,"roles":["a","b"],"realm_access":{"roles":["admin","ops"],"x":1},)"
                        R"("https://example.com/groups":["g1"],"org":{"unit":"sales"},)"
                        R"("org.unit":"exact-wins","permissions":["orders:read"],)"
                        R"("scope":"openid  payments users:read")"));
  CHECK(kc->shared()->onRequestHeaders(ctx) == FilterStatus::Continue);
  const auto& h = ctx.request().headers;
  CHECK(test::values(h, "x-roles") == std::vector<std::string>{"a,b"});
  CHECK(test::values(h, "x-realm-roles") == std::vector<std::string>{"admin,ops"});
  CHECK(test::values(h, "x-groups") == std::vector<std::string>{"g1"});
  // A member literally named "org.unit" wins over the path into "org".
  CHECK(test::values(h, "x-unit") == std::vector<std::string>{"exact-wins"});
  const Identity* id = ctx.filterState().get(kIdentity);
  REQUIRE(id != nullptr);
  CHECK(id->method == "jwt");
  CHECK(id->roles == std::vector<std::string>{"admin", "ops"});  // roles_claim: the nested path
  CHECK(id->permissions ==
        std::vector<std::string>{"orders:read", "openid", "payments", "users:read"});

  // Defaults: `roles` and `permissions` at the top level; objects and mixed arrays map to no
  // header; a scope-less token has no permissions.
  auto plain = createOk("jwt_auth", R"({"provider":"plain"})", vctx);
  FakeRequestContext p;
  p.request().headers.add("authorization",
                          "Bearer " + token(R"(,"roles":"admin support","permissions":"x:y")"));
  CHECK(plain->shared()->onRequestHeaders(p) == FilterStatus::Continue);
  REQUIRE(p.filterState().get(kIdentity) != nullptr);
  CHECK(p.filterState().get(kIdentity)->roles == std::vector<std::string>{"admin", "support"});
  CHECK(p.filterState().get(kIdentity)->permissions == std::vector<std::string>{"x:y"});

  FakeRequestContext odd;
  odd.request().headers.add(
      "authorization", "Bearer " + token(R"(,"roles":[1,{"a":2}],"realm_access":{"roles":7},)"
                                         R"("org":"not-an-object")"));
  CHECK(kc->shared()->onRequestHeaders(odd) == FilterStatus::Continue);
  CHECK(test::values(odd.request().headers, "x-roles").empty());
  CHECK(test::values(odd.request().headers, "x-realm-roles") == std::vector<std::string>{"7"});
  CHECK(test::values(odd.request().headers, "x-unit").empty());
  CHECK(test::values(odd.request().headers, "x-groups").empty());
  REQUIRE(odd.filterState().get(kIdentity) != nullptr);
  CHECK(odd.filterState().get(kIdentity)->roles.empty());  // 7 is not a word list
}

} // namespace
} // namespace gw::filters

namespace gw::filters {
namespace {

TEST_CASE("jwt_auth: mode report lets missing and invalid tokens pass, counted and logged",
          "[policy][filters]") {
  Fixture f;
  auto c = f.make(R"({"provider":"main","mode":"report"})");
  FakeRequestContext bad;
  bad.request().headers.add("authorization", "Bearer " + token("", "wrong"));
  bad.request().headers.add("x-user-id", "forged");
  CHECK(c->shared()->onRequestHeaders(bad) == FilterStatus::Continue);
  CHECK(bad.failures.empty());
  CHECK(bad.filterState().get(kIdentity) == nullptr);
  CHECK(test::values(bad.request().headers, "x-user-id").empty());  // forgeries still removed
  REQUIRE(bad.filterState().get(kReportOnly) != nullptr);
  CHECK(bad.filterState().get(kReportOnly)->describe() == "jwt_auth:jwt_bad_signature");
  CHECK(counter(bad, "jwt_auth", "denied") == 0);

  FakeRequestContext good;
  good.request().headers.add("authorization", "Bearer " + token());
  CHECK(c->shared()->onRequestHeaders(good) == FilterStatus::Continue);
  REQUIRE(good.filterState().get(kIdentity) != nullptr);
  CHECK(good.filterState().get(kReportOnly) == nullptr);

  http::RequestHead head;
  CHECK(test::explain(*c, head) == "provider 'main': 401 jwt_missing: no token in the "
                                   "authorization header (mode: report, the request passes)");
  CHECK(test::createError("jwt_auth", R"({"provider":"main","mode":"dry-run"})", f.ctx) ==
        "mode: must be 'enforce' or 'report', not 'dry-run'");
}

} // namespace
} // namespace gw::filters
