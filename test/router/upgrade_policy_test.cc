#include <string>

#include <catch2/catch.hpp>

#include "gateway/v1/config.pb.h"
#include "google/protobuf/text_format.h"
#include "source/router/route_table.h"
#include "source/router/upgrade_policy.h"

namespace gw::router {
namespace {

gateway::v1::UpgradeOptions options(const std::string& text) {
  gateway::v1::UpgradeOptions o;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &o));
  return o;
}

std::string compileError(const std::string& text) {
  auto p = compileUpgradePolicy(options(text), "virtual_hosts[0].routes[2]");
  REQUIRE_FALSE(p.ok());
  return std::string(p.status().message());
}

TEST_CASE("upgrade policy: defaults and allowed types (case-insensitive)") {
  auto p = compileUpgradePolicy(options(R"(allowed_types: "WebSocket")"), "r");
  REQUIRE(p.ok());
  CHECK((*p)->allows("websocket"));
  CHECK((*p)->allows("WEBSOCKET"));
  CHECK_FALSE((*p)->allows("foo"));
  CHECK((*p)->allowed_types == std::vector<std::string>{"websocket"});
  CHECK((*p)->idle_timeout == UpgradePolicy::kDefaultIdleTimeout);
  CHECK((*p)->max_duration.count() == 0);
  CHECK((*p)->drain_timeout == UpgradePolicy::kDefaultDrainTimeout);
}

TEST_CASE("upgrade policy: durations, 0s disables, sub-millisecond is 1 ms") {
  auto p = compileUpgradePolicy(
      options(R"(allowed_types: "websocket" idle_timeout { seconds: 0 }
                 max_duration { seconds: 2 nanos: 500000000 } drain_timeout { nanos: 1000 })"),
      "r");
  REQUIRE(p.ok());
  CHECK((*p)->idle_timeout.count() == 0);
  CHECK((*p)->max_duration.count() == 2500);
  CHECK((*p)->drain_timeout.count() == 1);
}

TEST_CASE("upgrade policy: errors name the exact field") {
  CHECK(compileError("") ==
        "virtual_hosts[0].routes[2].upgrade.allowed_types: at least one upgrade type is required "
        "(e.g. websocket)");
  CHECK(compileError(R"(allowed_types: "websocket" allowed_types: "")") ==
        "virtual_hosts[0].routes[2].upgrade.allowed_types[1]: must not be empty");
  CHECK(compileError(R"(allowed_types: "web socket")").rfind(
            "virtual_hosts[0].routes[2].upgrade.allowed_types[0]: 'web socket' is not a protocol "
            "token",
            0) == 0);
  CHECK(compileError(R"(allowed_types: "H2C")").rfind(
            "virtual_hosts[0].routes[2].upgrade.allowed_types[0]: h2c cannot be tunnelled", 0) ==
        0);
  CHECK(compileError(R"(allowed_types: "websocket" allowed_types: "WebSocket")") ==
        "virtual_hosts[0].routes[2].upgrade.allowed_types[1]: duplicate type 'WebSocket'");
  CHECK(compileError(R"(allowed_types: "websocket" idle_timeout { seconds: -1 })") ==
        "virtual_hosts[0].routes[2].upgrade.idle_timeout: must not be negative");
  CHECK(compileError(R"(allowed_types: "websocket" max_duration { nanos: -5 })") ==
        "virtual_hosts[0].routes[2].upgrade.max_duration: must not be negative");
  CHECK(compileError(R"(allowed_types: "websocket" drain_timeout { seconds: -3 })") ==
        "virtual_hosts[0].routes[2].upgrade.drain_timeout: must not be negative");
}

TEST_CASE("upgrade policy: compiled into the route entry, with the route table's paths") {
  gateway::v1::Listener l;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(R"(
    virtual_hosts { name: "v" domains: "*"
      routes { name: "ws" match { path: "/ws" } upgrade { allowed_types: "websocket" } }
      routes { name: "plain" match { prefix: "/" } } })",
                                                        &l));
  auto t = RouteTable::create(l);
  REQUIRE(t.ok());
  http::RequestHead h;
  h.method = "GET";
  h.host = "x";
  h.path = "/ws";
  const RouteEntry* ws = (*t)->match(h).route;
  REQUIRE(ws != nullptr);
  REQUIRE(ws->upgrade() != nullptr);
  CHECK(ws->upgrade()->allows("websocket"));
  h.path = "/other";
  const RouteEntry* plain = (*t)->match(h).route;
  REQUIRE(plain != nullptr);
  CHECK(plain->upgrade() == nullptr);

  l.mutable_virtual_hosts(0)->mutable_routes(0)->mutable_upgrade()->clear_allowed_types();
  auto bad = RouteTable::create(l);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() ==
        "virtual_hosts[0].routes[0].upgrade.allowed_types: at least one upgrade type is required "
        "(e.g. websocket)");
}

}  // namespace
}  // namespace gw::router
