// The semantic diff between two configs.
#include "source/control/diff.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test/control/test_util.h"

namespace gw::control {
namespace {

using gateway::v1::ResourceChange;
using testing::parse;
using testing::validConfig;

// "~route:edge/api/users(match,order)" per change, in diff order.
std::vector<std::string> summary(const gateway::v1::Diff& d) {
  std::vector<std::string> out;
  for (const auto& c : d.changes()) {
    std::string s = c.kind() == ResourceChange::ADDED     ? "+"
                    : c.kind() == ResourceChange::REMOVED ? "-"
                                                          : "~";
    s += c.resource_type() + ":" + c.name();
    if (!c.fields().empty()) {
      s += "(";
      for (int i = 0; i < c.fields_size(); i++) {
        s += (i ? "," : "") + c.fields(i);
      }
      s += ")";
    }
    out.push_back(s);
  }
  return out;
}

using V = std::vector<std::string>;

TEST_CASE("identical configs: no changes, whatever their version labels", "[diff]") {
  auto a = validConfig({"users", "orders"});
  auto b = a;
  b.set_version("42");
  CHECK(diffConfigs(a, b).changes().empty());
  CHECK(sameConfig(a, b));
  CHECK(formatDiff(diffConfigs(a, b)) == "no changes");
}

TEST_CASE("from an empty config everything is added, in config order", "[diff]") {
  auto d = diffConfigs(gateway::v1::Config(), validConfig({"users"}));
  CHECK(summary(d) ==
        V{"+listener:edge", "+route:edge/api/users", "+route:edge/api/health", "+cluster:users"});
  CHECK(summary(diffConfigs(validConfig({"users"}), gateway::v1::Config())) ==
        V{"-listener:edge", "-route:edge/api/users", "-route:edge/api/health", "-cluster:users"});
}

TEST_CASE("clusters added, removed and changed with the fields that differ", "[diff]") {
  auto from = validConfig({"users", "orders"});
  auto to = validConfig({"users", "payments"});
  to.mutable_clusters(0)->mutable_endpoints(0)->set_address("127.0.0.1:10");
  to.mutable_clusters(0)->set_lb_policy(gateway::v1::Cluster::RANDOM);
  auto d = diffConfigs(from, to);
  CHECK(summary(d) == V{"+route:edge/api/payments", "-route:edge/api/orders",
                        "~cluster:users(endpoints,lb_policy)", "+cluster:payments",
                        "-cluster:orders"});
  CHECK(formatDiff(d) ==
        "+ route edge/api/payments\n"
        "- route edge/api/orders\n"
        "~ cluster users (endpoints, lb_policy)\n"
        "+ cluster payments\n"
        "- cluster orders");
}

TEST_CASE("route changes name the route and its changed fields, not the listener", "[diff]") {
  auto from = validConfig({"users"});
  auto to = validConfig({"users"}, "still ok");
  to.mutable_listeners(0)->mutable_virtual_hosts(0)->mutable_routes(0)->mutable_match()->set_prefix(
      "/v2/users");
  CHECK(summary(diffConfigs(from, to)) ==
        V{"~route:edge/api/users(match)", "~route:edge/api/health(route_filter)"});
}

TEST_CASE("listener fields; virtual host changes show as the listener's virtual_hosts", "[diff]") {
  auto from = validConfig({"users"});
  SECTION("address") {
    auto to = from;
    to.mutable_listeners(0)->set_address("127.0.0.1:8080");
    to.mutable_listeners(0)->set_xff_trusted_hops(1);
    CHECK(summary(diffConfigs(from, to)) == V{"~listener:edge(address,xff_trusted_hops)"});
  }
  SECTION("domains") {
    auto to = from;
    to.mutable_listeners(0)->mutable_virtual_hosts(0)->set_domains(0, "api.example.com");
    CHECK(summary(diffConfigs(from, to)) == V{"~listener:edge(virtual_hosts)"});
  }
  SECTION("a new virtual host: the listener changed and its routes were added") {
    auto to = from;
    auto* vh = to.mutable_listeners(0)->add_virtual_hosts();
    *vh = from.listeners(0).virtual_hosts(0);
    vh->set_name("admin");
    vh->set_domains(0, "admin.local");
    CHECK(summary(diffConfigs(from, to)) == V{"~listener:edge(virtual_hosts)",
                                              "+route:edge/admin/users",
                                              "+route:edge/admin/health"});
  }
}

TEST_CASE("reordered routes: only the moved one changes, by 'order'", "[diff]") {
  auto from = validConfig({"a", "b", "c"});
  auto to = from;
  auto* routes = to.mutable_listeners(0)->mutable_virtual_hosts(0)->mutable_routes();
  // a b c health -> b c a health
  std::rotate(routes->begin(), routes->begin() + 1, routes->begin() + 3);
  CHECK(summary(diffConfigs(from, to)) == V{"~route:edge/api/a(order)"});
  // Inserting a route in front moves nothing else.
  auto inserted = from;
  auto* r = inserted.mutable_listeners(0)->mutable_virtual_hosts(0)->add_routes();
  *r = from.listeners(0).virtual_hosts(0).routes(0);
  r->set_name("first");
  auto* rs = inserted.mutable_listeners(0)->mutable_virtual_hosts(0)->mutable_routes();
  std::rotate(rs->begin(), rs->end() - 1, rs->end());
  CHECK(summary(diffConfigs(from, inserted)) == V{"+route:edge/api/first"});
}

TEST_CASE("unnamed routes are named by index; duplicates stay distinct", "[diff]") {
  auto from = parse(R"(
listeners:
  - name: edge
    address: 127.0.0.1:0
    virtual_hosts:
      - name: api
        domains: ["*"]
        routes:
          - match: {prefix: /a}
            route_filter: {name: direct_response, config: {status: 200}}
          - match: {prefix: /b}
            route_filter: {name: direct_response, config: {status: 200}}
)");
  auto to = from;
  to.mutable_listeners(0)->mutable_virtual_hosts(0)->mutable_routes(1)->mutable_match()->set_prefix(
      "/c");
  CHECK(summary(diffConfigs(from, to)) == V{"~route:edge/api/#1(match)"});

  auto dup = from;
  *dup.add_listeners() = from.listeners(0);  // an invalid config can still be diffed
  CHECK(summary(diffConfigs(from, dup)) ==
        V{"+listener:edge#1", "+route:edge#1/api/#0", "+route:edge#1/api/#1"});
}

TEST_CASE("filter configs (Struct maps) compare by content, not key order", "[diff]") {
  auto a = parse(R"(
listeners:
  - name: edge
    address: 127.0.0.1:0
    virtual_hosts:
      - name: api
        domains: ["*"]
        routes:
          - name: r
            match: {prefix: /}
            route_filter:
              name: direct_response
              config: {status: 200, body: "x", headers: [{name: a, value: b}]}
)");
  auto b = parse(R"(
listeners:
  - name: edge
    address: 127.0.0.1:0
    virtual_hosts:
      - name: api
        domains: ["*"]
        routes:
          - name: r
            match: {prefix: /}
            route_filter:
              name: direct_response
              config: {headers: [{value: b, name: a}], body: "x", status: 200}
)");
  CHECK(diffConfigs(a, b).changes().empty());
  CHECK(sameConfig(a, b));
  auto c = b;
  (*c.mutable_listeners(0)
        ->mutable_virtual_hosts(0)
        ->mutable_routes(0)
        ->mutable_route_filter()
        ->mutable_config()
        ->mutable_fields())["body"]
      .set_string_value("y");
  CHECK(summary(diffConfigs(a, c)) == V{"~route:edge/api/r(route_filter)"});
  CHECK_FALSE(sameConfig(a, c));
}

} // namespace
} // namespace gw::control

namespace gw::control {
namespace {

TEST_CASE("auth providers and rate-limit policies: added, changed (field names only), removed",
          "[diff]") {
  auto from = testing::validConfig({"users"});
  auto* p = from.add_auth_providers();
  p->set_name("main");
  p->set_secret("old-secret");
  auto* gone = from.add_auth_providers();
  gone->set_name("legacy");
  gone->set_secret("x");
  auto* rl = from.add_rate_limit_policies();
  rl->set_name("per-ip");
  rl->set_requests_per_unit(10);
  auto to = from;
  to.mutable_auth_providers(0)->set_secret("new-secret");
  to.mutable_auth_providers(0)->set_issuer("https://issuer");
  to.mutable_auth_providers()->RemoveLast();
  to.mutable_rate_limit_policies(0)->set_burst(20);
  auto* added = to.add_rate_limit_policies();
  added->set_name("global");
  added->set_requests_per_unit(1000);
  const auto d = diffConfigs(from, to);
  CHECK(summary(d) == std::vector<std::string>{"~auth_provider:main(issuer,secret)",
                                               "-auth_provider:legacy",
                                               "~rate_limit_policy:per-ip(burst)",
                                               "+rate_limit_policy:global"});
  const std::string text = formatDiff(d);
  CHECK(text.find("new-secret") == std::string::npos);
  CHECK(text.find("old-secret") == std::string::npos);
  CHECK_FALSE(sameConfig(from, to));
}

TEST_CASE("API keys (by id), usage plans and Redis servers: added, changed, removed", "[diff]") {
  auto from = testing::validConfig({"users"});
  auto* r = from.add_redis_servers();
  r->set_name("quotas");
  r->set_address("127.0.0.1:6379");
  auto* plan = from.add_usage_plans();
  plan->set_name("gold");
  plan->mutable_quota()->set_limit(100);
  auto* k = from.add_api_keys();
  k->set_id("acme-1");
  k->set_key_sha256(std::string(64, 'a'));
  k->set_plan("gold");
  auto to = from;
  to.mutable_api_keys(0)->set_enabled(false);
  auto* added = to.add_api_keys();
  added->set_id("acme-2");
  added->set_key_sha256(std::string(64, 'b'));
  to.mutable_usage_plans(0)->mutable_quota()->set_limit(200);
  to.mutable_redis_servers()->Clear();
  CHECK(summary(diffConfigs(from, to)) ==
        std::vector<std::string>{"-redis_server:quotas", "~usage_plan:gold(quota)",
                                 "~api_key:acme-1(enabled)", "+api_key:acme-2"});
}

} // namespace
} // namespace gw::control
