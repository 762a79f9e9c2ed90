// `authz`: per-method rules with any_of / all_of, the role map, 401 without an identity, 403
// naming the missing permission, the user-context headers (client copies removed), the
// decision in the filter state, report mode, explain, counters, and config errors with field
// paths.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "source/filters/authz/authz_decision.h"
#include "source/filters/filter.h"
#include "source/filters/filter_stats.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters::authz {
namespace {

using test::counter;
using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::instanceOf;
using test::values;

const char kOrders[] = R"({
  "rules": [
    {"methods": ["GET", "HEAD"], "any_of": ["orders:read", "orders:admin"]},
    {"methods": ["POST"], "all_of": ["orders:write", "billing:charge"]},
    {"methods": ["DELETE"]}
  ],
  "roles": {"admin": ["*"], "support": ["orders:read", "users:*"],
            "clerk": ["orders:write"]}
})";

// Runs the filter for a request with `method`, the identity given (none when `id` is null) and
// a client that sent its own x-user-* headers.
struct Run {
  FakeRequestContext ctx;
  FilterStatus status;
  Run(const FilterConfig& c, const std::string& method, const Identity* id) {
    ctx.request().method = method;
    ctx.request().headers.add("x-user-id", "mallory");
    ctx.request().headers.add("x-user-roles", "admin");
    ctx.request().headers.add("x-user-permissions", "*");
    if (id != nullptr) {
      ctx.filterState().emplace(kIdentity) = *id;
    }
    FilterPtr owned;
    status = instanceOf(c, owned).onRequestHeaders(ctx);
  }
  std::vector<std::string> header(const std::string& name) {
    return values(ctx.request().headers, name);
  }
};

Identity identity(const std::string& sub, std::vector<std::string> roles,
                  std::vector<std::string> permissions) {
  Identity id;
  id.subject = sub;
  id.method = "jwt";
  id.roles = std::move(roles);
  id.permissions = std::move(permissions);
  return id;
}

TEST_CASE("authz: any_of by method, from the identity's own permissions") {
  auto c = createOk("authz", kOrders);
  const Identity alice = identity("alice", {"customer"}, {"orders:read"});
  Run get(*c, "GET", &alice);
  CHECK(get.status == FilterStatus::Continue);
  CHECK(get.ctx.failures.empty());
  CHECK(get.header("x-user-id") == std::vector<std::string>{"alice"});
  CHECK(get.header("x-user-roles") == std::vector<std::string>{"customer"});
  CHECK(get.header("x-user-permissions") == std::vector<std::string>{"orders:read"});
  REQUIRE(get.ctx.filterState().get(kAuthz) != nullptr);
  CHECK(get.ctx.filterState().get(kAuthz)->describe() == "allowed (permissions: orders:read)");
  CHECK(counter(get.ctx, "authz", "allowed") == 1);

  Run post(*c, "POST", &alice);
  CHECK(post.status == FilterStatus::StopAndRespond);
  REQUIRE(post.ctx.failures.size() == 1);
  const ErrorInfo& e = post.ctx.failures[0];
  CHECK(e.status == 403);
  CHECK(e.code == "permission_denied");
  CHECK(e.message == "missing permissions orders:write, billing:charge");
  REQUIRE(e.details.size() == 1);
  CHECK(e.details[0] == std::make_pair(std::string("missing_permissions"),
                                       std::string("orders:write, billing:charge")));
  // The client's forged context is gone, and nothing was asserted for a refused request.
  CHECK(post.header("x-user-id").empty());
  CHECK(post.header("x-user-permissions").empty());
  CHECK(post.ctx.filterState().get(kAuthz)->describe() ==
        "denied: missing orders:write,billing:charge (permissions: orders:read)");
  CHECK(counter(post.ctx, "authz", "denied") == 1);
}

TEST_CASE("authz: all_of needs every permission; one missing is named alone") {
  auto c = createOk("authz", kOrders);
  const Identity clerk = identity("bob", {"clerk"}, {"billing:charge"});
  Run ok(*c, "POST", &clerk);
  CHECK(ok.status == FilterStatus::Continue);
  // Own permissions first, then what the roles grant.
  CHECK(ok.header("x-user-permissions") ==
        std::vector<std::string>{"billing:charge,orders:write"});
  // The effective permissions stay in the filter state for later filters and the access log,
  // as copies: replacing the Identity afterwards does not touch them.
  const AuthzDecision* d = ok.ctx.filterState().get(kAuthz);
  REQUIRE(d != nullptr);
  ok.ctx.filterState().emplace(kIdentity);
  CHECK(d->permissions == std::vector<std::string>{"billing:charge", "orders:write"});
  CHECK(d->describe() == "allowed (permissions: billing:charge,orders:write)");

  const Identity half = identity("carol", {}, {"orders:write"});
  Run no(*c, "POST", &half);
  REQUIRE(no.ctx.failures.size() == 1);
  CHECK(no.ctx.failures[0].message == "missing permission billing:charge");
}

TEST_CASE("authz: roles expand through the role map, wildcards on either side") {
  auto c = createOk("authz", kOrders);
  const Identity admin = identity("root", {"admin"}, {});
  for (const char* m : {"GET", "POST", "DELETE"}) {
    INFO(m);
    Run r(*c, m, &admin);
    CHECK(r.status == FilterStatus::Continue);
    CHECK(r.header("x-user-roles") == std::vector<std::string>{"admin"});
  }
  const Identity support = identity("sue", {"support", "unknown-role"}, {"orders:read"});
  CHECK(Run(*c, "GET", &support).status == FilterStatus::Continue);
  Run support_post(*c, "POST", &support);
  CHECK(support_post.status == FilterStatus::StopAndRespond);
  // Expanded without repeats (orders:read is the identity's own and the role's); an unknown
  // role grants nothing.
  CHECK(support_post.ctx.filterState().get(kAuthz)->permissions ==
        std::vector<std::string>{"orders:read", "users:*"});
  // `orders:*` granted covers orders:read; segment-exact: orders-admin:* does not.
  CHECK(Run(*c, "GET", &(const Identity&)identity("x", {}, {"orders:*"})).status ==
        FilterStatus::Continue);
  Run near(*c, "GET", &(const Identity&)identity("x", {}, {"orders-admin:*", "Orders:read"}));
  CHECK(near.status == FilterStatus::StopAndRespond);
  REQUIRE(near.ctx.failures.size() == 1);
  CHECK(near.ctx.failures[0].message ==
        "missing one of the permissions orders:read, orders:admin");
}

TEST_CASE("authz: no identity is 401 with a challenge; a method without a rule is 403") {
  auto c = createOk("authz", R"({"rules": [{"methods": ["GET"]}], "realm": "shop"})");
  Run anon(*c, "GET", nullptr);
  CHECK(anon.status == FilterStatus::StopAndRespond);
  REQUIRE(anon.ctx.failures.size() == 1);
  CHECK(anon.ctx.failures[0].status == 401);
  CHECK(anon.ctx.failures[0].code == "unauthenticated");
  REQUIRE(test::header(anon.ctx.failures[0].headers, "www-authenticate") != nullptr);
  CHECK(*test::header(anon.ctx.failures[0].headers, "www-authenticate") ==
        "Bearer realm=\"shop\"");
  CHECK(anon.header("x-user-id").empty());  // the forged headers are removed even so
  CHECK(anon.header("x-user-roles").empty());
  CHECK(counter(anon.ctx, "authz", "unauthenticated") == 1);

  CHECK(anon.ctx.filterState().get(kAuthz)->describe() == "denied: no identity");

  const Identity anyone = identity("a", {}, {});
  CHECK(Run(*c, "GET", &anyone).status == FilterStatus::Continue);  // a rule without lists
  Run put(*c, "PUT", &anyone);
  REQUIRE(put.ctx.failures.size() == 1);
  CHECK(put.ctx.failures[0].status == 403);
  CHECK(put.ctx.failures[0].code == "method_not_permitted");
}

TEST_CASE("authz: a rule without methods is the default for every method not listed before") {
  auto c = createOk("authz", R"({"rules": [
      {"methods": ["GET"], "any_of": ["orders:read"]},
      {"all_of": ["orders:admin"]}]})");
  const Identity reader = identity("r", {}, {"orders:read"});
  const Identity admin = identity("a", {}, {"orders:admin"});
  CHECK(Run(*c, "GET", &reader).status == FilterStatus::Continue);
  CHECK(Run(*c, "GET", &admin).status == FilterStatus::StopAndRespond);  // GET's rule decides
  CHECK(Run(*c, "PATCH", &admin).status == FilterStatus::Continue);
  Run patch(*c, "PATCH", &reader);
  REQUIRE(patch.ctx.failures.size() == 1);
  CHECK(patch.ctx.failures[0].message == "missing permission orders:admin");
}

TEST_CASE("authz: the user context comes from the claims jwt_auth mapped into the identity") {
  // jwt_auth fills roles and permissions from the token (roles_claim, permissions_claim,
  // scope); here the fake context holds such an identity with its claims.
  auto c = createOk("authz", kOrders);
  Identity id = identity("u-42", {"support"}, {"openid", "billing:charge"});
  id.claims = {{"sub", "u-42"}, {"scope", "openid billing:charge"}};
  Run r(*c, "GET", &id);
  CHECK(r.status == FilterStatus::Continue);
  CHECK(r.header("x-user-id") == std::vector<std::string>{"u-42"});
  CHECK(r.header("x-user-roles") == std::vector<std::string>{"support"});
  CHECK(r.header("x-user-permissions") ==
        std::vector<std::string>{"openid,billing:charge,orders:read,users:*"});
}

TEST_CASE("authz: configurable and disabled header names") {
  auto c = createOk("authz", R"({"rules": [{}],
      "user_headers": {"user_id": "X-Principal", "roles": "", "permissions": "x-perms"}})");
  const Identity id = identity("alice", {"r1", "bad,role"}, {"p:1"});
  Run r(*c, "GET", &id);
  CHECK(r.status == FilterStatus::Continue);
  CHECK(r.header("x-principal") == std::vector<std::string>{"alice"});
  CHECK(r.header("x-perms") == std::vector<std::string>{"p:1"});
  CHECK(r.header("x-user-id") == std::vector<std::string>{"mallory"});  // not ours any more
  CHECK(r.header("x-user-roles") == std::vector<std::string>{"admin"});
}

TEST_CASE("authz: report mode lets the request pass and records the decision") {
  auto c = createOk("authz", R"({"mode": "report",
      "rules": [{"all_of": ["orders:write"]}]})");
  const Identity alice = identity("alice", {}, {"orders:read"});
  Run r(*c, "POST", &alice);
  CHECK(r.status == FilterStatus::Continue);
  CHECK(r.ctx.failures.empty());
  CHECK(r.header("x-user-id") == std::vector<std::string>{"alice"});
  const auto* reported = r.ctx.filterState().get(kReportOnly);
  REQUIRE(reported != nullptr);
  CHECK(reported->describe() == "authz:permission_denied");
  CHECK(r.ctx.filterState().get(kAuthz)->describe() ==
        "denied: missing orders:write (permissions: orders:read)");
  const std::string metrics = renderFilterStats({&r.ctx.worker().filterStats()});
  CHECK_THAT(metrics, Catch::Contains("gateway_filter_policy_report_only_total{filter=\"authz\","
                                      "route=\"users\",reason=\"permission_denied\"} 1"));

  Run anon(*c, "POST", nullptr);  // no identity: passes too, without user headers
  CHECK(anon.status == FilterStatus::Continue);
  CHECK(anon.header("x-user-id").empty());
}

TEST_CASE("authz: explain says what would happen") {
  auto c = createOk("authz", kOrders);
  http::RequestHead head;
  head.method = "POST";
  FilterState state;
  ExplainContext ctx{head, state};
  CHECK(c->explain(ctx) == "401 unauthenticated: this route needs an authenticated caller");
  state.emplace(kIdentity) = identity("alice", {}, {"orders:read"});
  CHECK(c->explain(ctx) ==
        "403 permission_denied: missing permissions orders:write, billing:charge");
  head.method = "GET";
  CHECK(c->explain(ctx) == "allow GET");
}

TEST_CASE("authz: config errors name the field") {
  CHECK(createError("authz", "{}") == "rules: at least one rule is required");
  CHECK(createError("authz", R"({"rules": [{"any_of": ["orders:"]}]})") ==
        "rules[0].any_of[0]: permission 'orders:': segment 2 is empty");
  CHECK(createError("authz", R"({"rules": [{}, {"all_of": ["a", "b*"]}]})") ==
        "rules[1].all_of[1]: permission 'b*': segment 1 ('b*') may be '*' alone, not contain it");
  CHECK(createError("authz", R"({"rules": [{"methods": ["get"]}]})") ==
        "rules[0].methods[0]: 'get' is not an upper-case method name");
  CHECK(createError("authz", R"({"rules": [{"methods": ["GET"]}, {}, {"methods": ["POST"]}]})") ==
        "rules[2]: unreachable, rules[1] lists no methods and decides every method; put the "
        "default rule last");
  CHECK(createError("authz", R"({"rules": [{"methods": ["GET"]}, {"methods": ["POST", "GET"]}]})") ==
        "rules[1].methods[1]: GET is already decided by rules[0]; the first rule listing a "
        "method decides it");
  CHECK(createError("authz", R"({"rules": [{"methods": ["GET", "GET"]}]})") ==
        "rules[0].methods[1]: GET is listed twice");
  CHECK(createError("authz", R"({"rules": [{}], "roles": {"support": ["orders:read", "users:"]}})") ==
        "roles.support[1]: permission 'users:': segment 2 is empty");
  CHECK(createError("authz", R"({"rules": [{}], "roles": {"admin": ["*", 3]}})") ==
        "roles.admin[1]: a permission must be a string");
  CHECK(createError("authz", R"({"rules": [{}], "roles": {"x": ["a::b"]}})") ==
        "roles.x[0]: permission 'a::b': segment 2 is empty");
  // Two bad roles: the first by name is reported, whatever the map's order.
  CHECK(createError("authz", R"({"rules": [{}], "roles": {"zed": ["z::"], "abe": ["a::"]}})") ==
        "roles.abe[0]: permission 'a::': segment 2 is empty");
  CHECK(createError("authz", R"({"rules": [{}], "roles": {"": ["a"]}})") ==
        "roles: a role name must not be empty");
  CHECK(createError("authz", R"({"rules": [{}], "user_headers": {"roles": "x y"}})") ==
        "user_headers.roles: 'x y' is not a header name");
  CHECK(createError("authz", R"({"rules": [{}], "user_headers": {"user_id": "Content-Length"}})") ==
        "user_headers.user_id: 'Content-Length' is reserved (the filter removes its user headers "
        "from every request)");
  CHECK(createError("authz", R"({"rules": [{}], "user_headers": {"permissions": "authorization"}})") ==
        "user_headers.permissions: 'authorization' is reserved (the filter removes its user "
        "headers from every request)");
  CHECK(createError("authz", R"({"rules": [{}], "user_headers": {"permissions": "X-User-Roles"}})") ==
        "user_headers.permissions: 'x-user-roles' is already user_headers.roles");
  // Turned off twice is not a clash.
  CHECK(createOk("authz", R"({"rules": [{}], "user_headers": {"roles": "", "permissions": ""}})") !=
        nullptr);
  CHECK(createError("authz", R"({"rules": [{}], "mode": "audit"})") ==
        "mode: must be 'enforce' or 'report', not 'audit'");
  CHECK(createError("authz", R"({"rules": [{}], "realm": "a\"b"})") ==
        "realm: must be printable text without quotes");
}

} // namespace
} // namespace gw::filters::authz
