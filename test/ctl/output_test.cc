#include "source/ctl/output.h"

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "gateway/v1/config.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "source/config/config.h"

namespace gw::ctl {
namespace {

const char* const kConfig = R"(
version: "7"
listeners:
  - name: public
    address: 127.0.0.1:8080
    virtual_hosts:
      - name: demo
        domains: ["*", "api.example.com"]
        routes:
          - name: users
            match: {prefix: /api/users, methods: [GET, POST]}
            route_filter: {name: router, config: {cluster: users}}
            timeout: 1.500s
          - name: teapot
            match: {path: /tea}
            route_filter:
              name: direct_response
              config: {status: 418, body: "true", content_type: "text/plain"}
    xff_trusted_hops: 1
    path_normalization: {merge_slashes: false}
clusters:
  - name: users
    lb_policy: RING_HASH
    hash_policy: {header: x-user-id}
    endpoints:
      - {address: 127.0.0.1:9101, weight: 2}
      - {address: "[::1]:9102"}
)";

TEST_CASE("output: a message keeps its declaration order in JSON") {
  gateway::v1::Cluster c;
  c.set_name("users");
  c.add_endpoints()->set_address("127.0.0.1:1");
  c.set_lb_policy(gateway::v1::Cluster::RANDOM);
  CHECK(toJson(Doc::fromMessage(c, false)) == R"({
  "name": "users",
  "endpoints": [
    {
      "address": "127.0.0.1:1"
    }
  ],
  "lb_policy": "RANDOM"
}
)");
}

TEST_CASE("output: with_defaults prints zero scalars and empty lists") {
  gateway::v1::Endpoint e;
  e.set_address("a:1");
  Doc d = Doc::fromMessage(e, true);
  REQUIRE(d.find("weight") != nullptr);
  CHECK(d.find("weight")->kind() == Doc::Kind::Number);
  CHECK(d.find("weight")->scalar() == "0");
  CHECK(Doc::fromMessage(e, false).find("weight") == nullptr);
}

TEST_CASE("output: JSON escapes strings and keeps scalar kinds") {
  Doc d = Doc::map();
  d.set("s", Doc::string("a\"b\n"));
  d.set("n", Doc::number(int64_t{-3}));
  d.set("u", Doc::number(uint64_t{18446744073709551615ull}));
  d.set("f", Doc::number(1.5));
  d.set("b", Doc::boolean(false));
  d.set("z", Doc());
  d.set("l", Doc::list());
  d.set("m", Doc::map());
  d.set("s", Doc::string("replaced"));  // set() replaces in place
  CHECK(toJson(d) == R"({
  "s": "replaced",
  "n": -3,
  "u": 18446744073709551615,
  "f": 1.5,
  "b": false,
  "z": null,
  "l": [],
  "m": {}
}
)");
  auto back = Doc::fromJson(toJson(d));
  REQUIRE(back.ok());
  CHECK(toJson(*back) == toJson(d));
}

TEST_CASE("output: YAML quotes what would not read back as a string") {
  Doc d = Doc::map();
  for (const char* s : {"8", "true", "no", "null", "", "1.5", "-1", "2024-01-01", " x", "~",
                        "plain", "with: colon", "#hash", "- dash", "*"}) {
    d.set(std::string("k") + s, Doc::string(s));
  }
  d.set("num", Doc::number(int64_t{8}));
  d.set("yes_bool", Doc::boolean(true));
  d.set("nothing", Doc());
  std::string y = toYaml(d);
  CHECK(y.find("k8: \"8\"") != std::string::npos);
  CHECK(y.find("ktrue: \"true\"") != std::string::npos);
  CHECK(y.find("kplain: plain") != std::string::npos);
  CHECK(y.find("num: 8") != std::string::npos);
  CHECK(y.find("yes_bool: true") != std::string::npos);
  // Every string reads back as the same string; numbers / booleans / null as themselves.
  YAML::Node n = YAML::Load(y);
  for (const auto& [k, v] : d.fields()) {
    INFO(k << " in\n" << y);
    if (v.kind() == Doc::Kind::String) {
      CHECK(n[k].as<std::string>() == v.scalar());
      if (k != "kplain" && k != "kwith: colon" && k != "k#hash" && k != "k- dash" && k != "k*") {
        CHECK(n[k].Tag() == "!");  // quoted: not resolved as a number, bool or null
      }
    }
  }
  CHECK(n["num"].as<int>() == 8);
  CHECK(n["yes_bool"].as<bool>());
  CHECK(n["nothing"].IsNull());
}

TEST_CASE("output: multi-line strings become literal blocks") {
  Doc d = Doc::map();
  d.set("text", Doc::string("# HELP a\na 1\n"));
  std::string y = toYaml(d);
  CHECK(y == "text: |\n  # HELP a\n  a 1\n");
  CHECK(YAML::Load(y)["text"].as<std::string>() == "# HELP a\na 1\n");
}

TEST_CASE("output: a config printed as YAML or JSON parses back to the same config") {
  auto parsed = config::parseConfig(kConfig);
  REQUIRE(parsed.ok());
  Doc d = Doc::fromMessage(*parsed, false);
  for (const std::string& text : {toYaml(d), toJson(d)}) {
    INFO(text);
    auto again = config::parseConfig(text);
    REQUIRE(again.ok());
    CHECK(google::protobuf::util::MessageDifferencer::Equals(*parsed, *again));
  }
  // Keys in proto field names, in declaration order.
  std::string y = toYaml(d);
  CHECK(y.find("virtual_hosts:") != std::string::npos);
  CHECK(y.find("xff_trusted_hops: 1") != std::string::npos);
  CHECK(y.find("version:") < y.find("listeners:"));
  CHECK(y.find("listeners:") < y.find("clusters:"));
  CHECK(y.find("name: public") < y.find("address: 127.0.0.1:8080"));
}

TEST_CASE("output: tables pad columns and trim trailing spaces") {
  Table t({"NAME", "LB", "ENDPOINTS"});
  t.addRow({"users", "round_robin", "a:1, b:2"});
  t.addRow({"x", "random", ""});
  t.addRow({"multi\nline", "r", "e"});
  CHECK(t.rows() == 3);
  CHECK(t.render() ==
        "NAME        LB           ENDPOINTS\n"
        "users       round_robin  a:1, b:2\n"
        "x           random\n"
        "multi line  r            e\n");
}

} // namespace
} // namespace gw::ctl
