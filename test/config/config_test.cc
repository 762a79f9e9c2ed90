#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/filters/headers/v1/headers.pb.h"
#include "gateway/filters/router/v1/router.pb.h"
#include "gateway/v1/config.pb.h"
#include "source/config/config.h"
#include "source/filters/filter.h"

namespace gw::config {
namespace {

using gateway::v1::Config;

// Fake filters, so these tests do not depend on the built-in ones.
class FakeConfig : public filters::FilterConfig {};

// A stage filter whose config is the `headers` message (so unknown fields are errors).
class TestStageFactory : public filters::FilterFactory {
public:
  absl::string_view name() const override { return "test_stage"; }
  filters::FilterKind kind() const override { return filters::FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::headers::v1::Headers::descriptor();
  }
  absl::StatusOr<filters::FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config,
               const filters::ValidationContext&) const override {
    gateway::filters::headers::v1::Headers proto;
    if (auto st = filters::structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    return std::make_shared<FakeConfig>();
  }
};

// A route filter with a required `cluster` that must name a configured cluster.
class TestRouteFactory : public filters::FilterFactory {
public:
  absl::string_view name() const override { return "test_route"; }
  filters::FilterKind kind() const override { return filters::FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::router::v1::Router::descriptor();
  }
  absl::StatusOr<filters::FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config,
               const filters::ValidationContext& ctx) const override {
    gateway::filters::router::v1::Router proto;
    if (auto st = filters::structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    if (proto.cluster().empty()) {
      return absl::InvalidArgumentError("cluster: required");
    }
    if (!ctx.cluster_names.contains(proto.cluster())) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster: unknown cluster '", proto.cluster(), "'"));
    }
    return std::make_shared<FakeConfig>();
  }
};

const filters::Register<TestStageFactory> kRegisterStage;
const filters::Register<TestRouteFactory> kRegisterRoute;

constexpr char kBase[] = R"yaml(
version: v1
listeners:
  - name: public
    address: 127.0.0.1:8080
    virtual_hosts:
      - name: main
        domains: ["example.com", "*.example.com"]
        routes:
          - name: api
            match: {prefix: /api/}
            route_filter: {name: test_route, config: {cluster: backend}}
clusters:
  - name: backend
    endpoints: [{address: "127.0.0.1:9000"}]
)yaml";

Config base() {
  auto c = parseConfig(kBase);
  REQUIRE(c.ok());
  return *c;
}

Config parseOk(const std::string& text) {
  auto c = parseConfig(text);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *c;
}

std::string parseError(const std::string& text) {
  auto c = parseConfig(text);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

std::string dump(const std::vector<ConfigError>& errors) {
  std::vector<std::string> lines;
  for (const auto& e : errors) {
    lines.push_back(e.toString());
  }
  return absl::StrJoin(lines, "\n");
}

std::vector<std::string> paths(const std::vector<ConfigError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) {
    out.push_back(e.path);
  }
  return out;
}

// Validates `c` and expects exactly one error, at `path`, whose message contains `needle`.
void expectOneError(const Config& c, const std::string& path, const std::string& needle) {
  const auto errors = validateConfig(c);
  INFO(dump(errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == path);
  CHECK(absl::StrContains(errors[0].message, needle));
}

void expectValid(const Config& c) {
  const auto errors = validateConfig(c);
  INFO(dump(errors));
  CHECK(errors.empty());
}

gateway::v1::Route* route0(Config& c) {
  return c.mutable_listeners(0)->mutable_virtual_hosts(0)->mutable_routes(0);
}

void setStruct(google::protobuf::Struct* s, const std::string& key, const std::string& value) {
  (*s->mutable_fields())[key].set_string_value(value);
}

// --------------------------------------------------------------------------------------------
// Parsing
// --------------------------------------------------------------------------------------------

TEST_CASE("parses YAML with nested messages, enums, durations and filter configs") {
  const Config c = parseOk(R"yaml(
version: "2024-01"
listeners:
  - name: edge
    address: "[::1]:0"
    forward_trailers: true
    xff_trusted_hops: 2
    limits:
      max_request_headers_kb: 64
      request_headers_timeout: 5s
      idle_timeout: 1.5s
      max_request_body_bytes: 10000000000
    path_normalization: {merge_slashes: false}
    pre_filters:
      - name: test_stage
        config:
          request_set: [{name: x-a, value: "1"}]
    virtual_hosts:
      - name: vh
        domains: ["*"]
        routes:
          - name: r
            match:
              path_template: /users/{id}
              methods: [GET]
              headers: [{name: x-v, value: {exact: "2"}}]
              query_params: [{name: debug, value: {present: true}}]
            timeout: 0.25s
            route_filter: {name: test_route, config: {cluster: pool, retries: 3, ratio: 0.5}}
clusters:
  - name: pool
    lb_policy: RING_HASH
    hash_policy: {source_ip: true}
    endpoints: [{address: "10.0.0.1:80", weight: 3}]
    pool: {connect_timeout: 2s}
)yaml");
  CHECK(c.version() == "2024-01");
  REQUIRE(c.listeners_size() == 1);
  const auto& l = c.listeners(0);
  CHECK(l.address() == "[::1]:0");
  CHECK(l.forward_trailers());
  CHECK(l.xff_trusted_hops() == 2);
  CHECK(l.limits().max_request_headers_kb() == 64);
  CHECK(l.limits().request_headers_timeout().seconds() == 5);
  CHECK(l.limits().idle_timeout().seconds() == 1);
  CHECK(l.limits().idle_timeout().nanos() == 500000000);
  CHECK(l.limits().max_request_body_bytes() == 10000000000ULL);
  CHECK(l.path_normalization().has_merge_slashes());
  CHECK_FALSE(l.path_normalization().merge_slashes());
  CHECK_FALSE(l.path_normalization().has_reject_encoded_slashes());
  const auto& r = l.virtual_hosts(0).routes(0);
  CHECK(r.match().path_template() == "/users/{id}");
  CHECK(r.match().headers(0).value().exact() == "2");
  CHECK(r.match().query_params(0).value().present());
  CHECK(r.timeout().nanos() == 250000000);
  const auto& fields = r.route_filter().config().fields();
  CHECK(fields.at("cluster").string_value() == "pool");
  CHECK(fields.at("retries").number_value() == 3);
  CHECK(fields.at("ratio").number_value() == 0.5);
  CHECK(c.clusters(0).lb_policy() == gateway::v1::Cluster::RING_HASH);
  CHECK(c.clusters(0).hash_policy().source_ip());
  CHECK(c.clusters(0).endpoints(0).weight() == 3);
  CHECK(c.clusters(0).pool().connect_timeout().seconds() == 2);
  // The fake route filter knows only `cluster`: the Struct is checked at validation.
  const auto errors = validateConfig(c);
  REQUIRE(errors.size() == 1);
  CHECK(absl::StartsWith(errors[0].path,
                         "listeners[0].virtual_hosts[0].routes[0].route_filter.config."));
  CHECK(errors[0].message == "Cannot find field.");
}

TEST_CASE("YAML scalars: strings stay strings, quoted values stay strings in Struct") {
  const Config c = parseOk(R"yaml(
version: 1.0
listeners:
  - name: 8080
    virtual_hosts:
      - domains: [123]
        routes:
          - route_filter:
              name: test_route
              config: {a: "42", b: 42, c: true, d: "true", e: null, f: yes, g: !!str 7, h: 0x1F}
)yaml");
  CHECK(c.version() == "1.0");
  CHECK(c.listeners(0).name() == "8080");
  CHECK(c.listeners(0).virtual_hosts(0).domains(0) == "123");
  const auto& f = c.listeners(0).virtual_hosts(0).routes(0).route_filter().config().fields();
  CHECK(f.at("a").string_value() == "42");
  CHECK(f.at("b").number_value() == 42);
  CHECK(f.at("c").bool_value());
  CHECK(f.at("d").string_value() == "true");
  CHECK(f.at("e").has_null_value());
  CHECK(f.at("f").string_value() == "yes");  // YAML 1.2: yes is not a boolean
  CHECK(f.at("g").string_value() == "7");
  CHECK(f.at("h").string_value() == "0x1F");
}

TEST_CASE("parses JSON, with proto and lowerCamel field names") {
  const Config c = parseOk(R"json(
  {
    "version": "j",
    "listeners": [{
      "name": "l", "address": "127.0.0.1:0", "forwardTrailers": true,
      "limits": {"idle_timeout": "5s", "maxRequestHeadersKb": 8},
      "virtual_hosts": [{"domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "routeFilter": {"name": "test_route",
                                                   "config": {"cluster": "b"}}}]}]
    }],
    "clusters": [{"name": "b", "lbPolicy": "MAGLEV", "hash_policy": {"cookie": "sid"},
                  "endpoints": [{"address": "localhost:80"}]}]
  })json");
  CHECK(c.version() == "j");
  CHECK(c.listeners(0).forward_trailers());
  CHECK(c.listeners(0).limits().idle_timeout().seconds() == 5);
  CHECK(c.listeners(0).limits().max_request_headers_kb() == 8);
  CHECK(c.clusters(0).lb_policy() == gateway::v1::Cluster::MAGLEV);
  CHECK(c.clusters(0).hash_policy().cookie() == "sid");
  expectValid(c);
}

TEST_CASE("YAML and JSON produce the same config") {
  const Config y = parseOk("listeners: [{name: a, limits: {idle_timeout: 5s}}]\n");
  const Config j = parseOk(R"({"listeners": [{"name": "a", "limits": {"idleTimeout": "5s"}}]})");
  CHECK(y.SerializeAsString() == j.SerializeAsString());
}

TEST_CASE("unknown fields are errors") {
  SECTION("YAML: names the line, column and path") {
    const std::string msg = parseError("listeners:\n  - name: a\n    adress: 1.2.3.4:80\n");
    CHECK(absl::StartsWith(msg, "line 3, column 5: listeners[0].adress: unknown field"));
    CHECK(absl::StrContains(msg, "gateway.v1.Listener"));
  }
  SECTION("YAML: top level") {
    const std::string msg = parseError("version: x\nlisteners: []\nclutsers: []\n");
    CHECK(absl::StartsWith(msg, "line 3, column 1: clutsers: unknown field"));
  }
  SECTION("JSON: protobuf's message, with the path") {
    const std::string msg = parseError(R"({"listeners": [{"name": "a", "adress": "x"}]})");
    CHECK(msg == "listeners[0].adress: Cannot find field.");
  }
  SECTION("inside a filter config the filter decides (at validation)") {
    Config c = base();
    setStruct(route0(c)->mutable_route_filter()->mutable_config(), "clutser", "x");
    const auto errors = validateConfig(c);
    INFO(dump(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path ==
          "listeners[0].virtual_hosts[0].routes[0].route_filter.config.clutser");
    CHECK(absl::StrContains(errors[0].message, "Cannot find field"));
  }
}

TEST_CASE("YAML syntax errors report line and column") {
  SECTION("unclosed flow sequence") {
    const std::string msg = parseError("listeners: [{name: a}\nclusters: []\n");
    CHECK(absl::StartsWith(msg, "line 2, column"));
  }
  SECTION("bad indentation") {
    const std::string msg = parseError("listeners:\n  - name: a\n address: x\n");
    CHECK(absl::StartsWith(msg, "line 3, column"));
  }
}

TEST_CASE("YAML type errors point at the offending line") {
  SECTION("bad duration") {
    const std::string msg =
        parseError("listeners:\n  - name: a\n    limits:\n      idle_timeout: 5\n");
    CHECK(absl::StartsWith(msg, "line 4, column 21: listeners[0].limits.idle_timeout: "));
    CHECK(absl::StrContains(msg, "duration"));
  }
  SECTION("number expected") {
    const std::string msg = parseError("listeners:\n  - xff_trusted_hops: many\n");
    CHECK(absl::StartsWith(msg, "line 2, column 23: listeners[0].xff_trusted_hops: "));
  }
  SECTION("YAML 1.1 booleans are not booleans") {
    const std::string msg = parseError("listeners:\n  - forward_trailers: yes\n");
    CHECK(msg == "line 2, column 23: listeners[0].forward_trailers: expected true or false, "
                 "got 'yes'");
    CHECK(absl::StrContains(parseError("listeners: [{forward_trailers: \"true\"}]"),
                            "expected true or false"));
  }
  SECTION("durations are seconds with an 's'") {
    const std::string msg = parseError(
        "listeners:\n- virtual_hosts:\n  - routes:\n    - timeout: 250ms\n");
    CHECK(absl::StartsWith(
        msg, "line 4, column 16: listeners[0].virtual_hosts[0].routes[0].timeout: "
             "invalid duration '250ms': write seconds with an 's' suffix"));
  }
  SECTION("unknown enum value") {
    const std::string msg = parseError("clusters:\n  - name: c\n    lb_policy: FASTEST\n");
    CHECK(absl::StartsWith(msg, "line 3, column 16: clusters[0].lb_policy: "));
  }
  SECTION("two members of a oneof") {
    const std::string msg = parseError(
        "listeners:\n- virtual_hosts:\n  - routes:\n    - match: {prefix: /a, path: /b}\n");
    CHECK(absl::StartsWith(msg,
                           "line 4, column 14: listeners[0].virtual_hosts[0].routes[0].match"));
    CHECK(absl::StrContains(msg, "oneof"));
  }
}

TEST_CASE("YAML structure: duplicate keys, merge keys, anchors, empty documents") {
  SECTION("duplicate keys are errors") {
    const std::string msg = parseError("version: a\nversion: b\n");
    CHECK(absl::StartsWith(msg, "line 2, column 1: duplicate key 'version' (first at line 1)"));
  }
  SECTION("merge keys and aliases") {
    const Config c = parseOk(R"yaml(
clusters:
  - &defaults
    name: a
    lb_policy: LEAST_REQUEST
    endpoints: [{address: "127.0.0.1:1"}]
  - <<: *defaults
    name: b
)yaml");
    REQUIRE(c.clusters_size() == 2);
    CHECK(c.clusters(1).name() == "b");
    CHECK(c.clusters(1).lb_policy() == gateway::v1::Cluster::LEAST_REQUEST);
    CHECK(c.clusters(1).endpoints(0).address() == "127.0.0.1:1");
  }
  SECTION("recursive aliases are rejected, not followed forever") {
    const std::string msg = parseError("listeners: &a [*a]\n");
    CHECK(absl::StrContains(msg, "nesting too deep"));
  }
  SECTION("an empty document is the empty config") {
    const Config c = parseOk("# nothing yet\n");
    CHECK(c.listeners_size() == 0);
    const auto errors = validateConfig(c);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path == "listeners");
  }
  SECTION("the top level must be a map") {
    CHECK(absl::StrContains(parseError("- a\n- b\n"), "must be a map"));
  }
  SECTION("invalid JSON") {
    CHECK_FALSE(parseConfig("{\"listeners\": [}").ok());
  }
}

TEST_CASE("loadConfigFile") {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  SECTION("reads a file") {
    const std::string path = dir + "/ok.yaml";
    std::ofstream(path) << kBase;
    auto c = loadConfigFile(path);
    REQUIRE(c.ok());
    CHECK(c->listeners(0).name() == "public");
  }
  SECTION("errors name the path") {
    const std::string path = dir + "/bad.yaml";
    std::ofstream(path) << "listeners:\n  - nme: a\n";
    auto c = loadConfigFile(path);
    REQUIRE_FALSE(c.ok());
    CHECK(absl::StartsWith(c.status().message(), path + ": line 2, column 5: "));
  }
  SECTION("missing file") {
    auto c = loadConfigFile(dir + "/does-not-exist.yaml");
    REQUIRE_FALSE(c.ok());
    CHECK(absl::StrContains(c.status().message(), "does-not-exist.yaml"));
  }
  SECTION("directory") {
    auto c = loadConfigFile(dir);
    REQUIRE_FALSE(c.ok());
    CHECK(absl::StrContains(c.status().message(), "is a directory"));
  }
}

// --------------------------------------------------------------------------------------------
// Validation
// --------------------------------------------------------------------------------------------

TEST_CASE("the base config is valid") { expectValid(base()); }

TEST_CASE("listeners: at least one, names required and unique") {
  SECTION("none") {
    Config c = base();
    c.clear_listeners();
    expectOneError(c, "listeners", "at least one listener");
  }
  SECTION("empty name") {
    Config c = base();
    c.mutable_listeners(0)->clear_name();
    expectOneError(c, "listeners[0].name", "required");
  }
  SECTION("duplicate name") {
    Config c = base();
    auto* l = c.add_listeners();
    *l = c.listeners(0);
    l->set_address("127.0.0.1:8081");
    expectOneError(c, "listeners[1].name", "duplicate listener name 'public' (also listeners[0])");
  }
}

TEST_CASE("listener addresses") {
  auto withAddress = [](const std::string& address) {
    Config c = base();
    c.mutable_listeners(0)->set_address(address);
    return c;
  };
  for (const char* good : {"127.0.0.1:8080", "0.0.0.0:0", "[::1]:443", "[::]:80", "localhost:80",
                           "LOCALHOST:65535"}) {
    INFO(good);
    expectValid(withAddress(good));
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "required"},
      {"127.0.0.1", "expected host:port"},
      {"127.0.0.1:", "invalid port"},
      {"127.0.0.1:65536", "invalid port"},
      {"127.0.0.1:-1", "invalid port"},
      {":80", "missing host"},
      {"::1:80", "needs brackets"},
      {"[::1]80", "expected [IPv6]:port"},
      {"[zz]:80", "invalid IPv6 address"},
      {"999.1.1.1:80", "invalid IPv4 address"},
      {"example.com:80", "IP literal or 'localhost'"},
  };
  for (const auto& [address, needle] : bad) {
    INFO(address);
    expectOneError(withAddress(address), "listeners[0].address", needle);
  }
}

TEST_CASE("duplicate listener addresses") {
  auto twoListeners = [](const std::string& a, const std::string& b) {
    Config c = base();
    c.mutable_listeners(0)->set_address(a);
    auto* l = c.add_listeners();
    *l = c.listeners(0);
    l->set_name("second");
    l->set_address(b);
    return c;
  };
  expectOneError(twoListeners("127.0.0.1:80", "127.0.0.1:80"), "listeners[1].address",
                 "duplicate address '127.0.0.1:80' (also listeners[0].address)");
  expectOneError(twoListeners("[::1]:80", "[0:0::1]:80"), "listeners[1].address", "duplicate");
  expectOneError(twoListeners("0.0.0.0:80", "127.0.0.1:80"), "listeners[1].address", "overlaps");
  expectValid(twoListeners("127.0.0.1:0", "127.0.0.1:0"));
  expectValid(twoListeners("127.0.0.1:80", "127.0.0.2:80"));
  expectValid(twoListeners("127.0.0.1:80", "127.0.0.1:81"));
  expectValid(twoListeners("0.0.0.0:80", "[::1]:80"));
}

TEST_CASE("listener limits") {
  Config c = base();
  auto* lim = c.mutable_listeners(0)->mutable_limits();
  SECTION("header size") {
    lim->set_max_request_headers_kb(1024);
    expectValid(c);
    lim->set_max_request_headers_kb(1025);
    expectOneError(c, "listeners[0].limits.max_request_headers_kb", "at most 1024");
  }
  SECTION("header count") {
    lim->set_max_request_headers_count(10001);
    expectOneError(c, "listeners[0].limits.max_request_headers_count", "at most 10000");
  }
  SECTION("negative durations") {
    lim->mutable_request_headers_timeout()->set_seconds(-1);
    lim->mutable_idle_timeout()->set_nanos(-5);
    const auto errors = validateConfig(c);
    CHECK(paths(errors) == std::vector<std::string>{"listeners[0].limits.request_headers_timeout",
                                                    "listeners[0].limits.idle_timeout"});
  }
  SECTION("negative durations from YAML") {
    Config y = parseOk(absl::StrCat(kBase, "\n"));
    y.mutable_listeners(0)->MergeFrom(
        parseOk("listeners: [{limits: {idle_timeout: -5s}}]").listeners(0));
    expectOneError(y, "listeners[0].limits.idle_timeout", "must not be negative");
  }
}

TEST_CASE("virtual hosts and domains") {
  Config c = base();
  auto* l = c.mutable_listeners(0);
  auto* vh2 = l->add_virtual_hosts();
  vh2->set_name("other");
  vh2->add_domains("other.com");
  auto* vh1 = l->mutable_virtual_hosts(0);
  SECTION("duplicate name") {
    vh2->set_name("main");
    expectOneError(c, "listeners[0].virtual_hosts[1].name",
                   "duplicate virtual host name 'main' (also listeners[0].virtual_hosts[0])");
  }
  SECTION("empty names are allowed, even twice") {
    vh1->clear_name();
    vh2->clear_name();
    expectValid(c);
  }
  SECTION("no domains") {
    vh2->clear_domains();
    expectOneError(c, "listeners[0].virtual_hosts[1].domains", "at least one domain");
  }
  SECTION("empty domain") {
    vh2->add_domains("");
    expectOneError(c, "listeners[0].virtual_hosts[1].domains[1]", "must not be empty");
  }
  SECTION("valid forms") {
    vh2->add_domains("*");
    vh2->add_domains("*.svc.local");
    vh2->add_domains("10.0.0.1");
    vh2->add_domains("under_score.example.org");
    expectValid(c);
  }
  SECTION("invalid forms") {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"a*.com", "'*' only as the whole domain"},
        {"*example.com", "'*' only as the whole domain"},
        {"*.", "invalid domain"},
        {"example.com:8080", "must not include a port"},
        {"exa mple.com", "invalid domain"},
        {"a..b", "invalid domain"},
        {".a", "invalid domain"},
    };
    for (const auto& [domain, needle] : bad) {
      INFO(domain);
      Config d = c;
      d.mutable_listeners(0)->mutable_virtual_hosts(1)->set_domains(0, domain);
      expectOneError(d, "listeners[0].virtual_hosts[1].domains[0]", needle);
    }
  }
  SECTION("a domain twice in one listener (case-insensitive), across virtual hosts") {
    vh2->add_domains("Example.COM");
    expectOneError(c, "listeners[0].virtual_hosts[1].domains[1]",
                   "duplicate domain 'example.com' "
                   "(also listeners[0].virtual_hosts[0].domains[0])");
  }
  SECTION("the same domain in two listeners is fine") {
    auto* l2 = c.add_listeners();
    *l2 = c.listeners(0);
    l2->set_name("second");
    l2->set_address("127.0.0.1:9999");
    expectValid(c);
  }
}

TEST_CASE("routes: names, route_filter, rewrites, timeouts") {
  Config c = base();
  auto* vh = c.mutable_listeners(0)->mutable_virtual_hosts(0);
  auto* r2 = vh->add_routes();
  *r2 = vh->routes(0);
  r2->set_name("second");
  auto* r1 = vh->mutable_routes(0);
  SECTION("duplicate non-empty names") {
    r2->set_name("api");
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[1].name",
                   "duplicate route name 'api' (also listeners[0].virtual_hosts[0].routes[0])");
  }
  SECTION("empty names are allowed") {
    r1->clear_name();
    r2->clear_name();
    expectValid(c);
  }
  SECTION("the same route name in another virtual host is fine") {
    auto* vh2 = c.mutable_listeners(0)->add_virtual_hosts();
    *vh2 = c.listeners(0).virtual_hosts(0);
    vh2->set_name("copy");
    vh2->clear_domains();
    vh2->add_domains("copy.example.com");
    expectValid(c);
  }
  SECTION("route_filter is required") {
    r2->clear_route_filter();
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[1].route_filter", "required");
  }
  SECTION("prefix_rewrite only on prefix routes (reported once)") {
    r2->mutable_match()->set_path("/exact");
    r2->set_prefix_rewrite("/x/");
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[1].prefix_rewrite",
                   "only allowed with match.prefix");
    r2->mutable_match()->set_prefix("/p/");
    expectValid(c);
  }
  SECTION("negative timeout (reported once)") {
    r2->mutable_timeout()->set_seconds(-3);
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[1].timeout", "must not be negative");
    r2->mutable_timeout()->set_seconds(0);
    expectValid(c);
  }
}

TEST_CASE("route match problems come from the route table, with the full path") {
  Config c = base();
  auto* r = route0(c);
  SECTION("invalid regex") {
    r->mutable_match()->set_regex("/a(");
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[0].match.regex", "RE2");
  }
  SECTION("missing path specifier") {
    r->clear_match();
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[0].match", "required");
  }
  SECTION("invalid template") {
    r->mutable_match()->set_path_template("users/{id}");
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[0].match.path_template",
                   "must start with '/'");
  }
  SECTION("header matcher without a name") {
    r->mutable_match()->add_headers()->mutable_value()->set_exact("x");
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[0].match.headers[0].name", "empty");
  }
  SECTION("invalid regex_rewrite") {
    r->mutable_regex_rewrite()->set_pattern("(");
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[0].regex_rewrite.pattern", "RE2");
  }
  SECTION("every route is compiled, not just the first bad one") {
    auto* vh = c.mutable_listeners(0)->mutable_virtual_hosts(0);
    r->mutable_match()->set_regex("(");
    auto* r2 = vh->add_routes();
    *r2 = vh->routes(0);
    r2->set_name("two");
    r2->mutable_match()->set_path("no-slash");
    const auto errors = validateConfig(c);
    CHECK(paths(errors) ==
          std::vector<std::string>{"listeners[0].virtual_hosts[0].routes[0].match.regex",
                                   "listeners[0].virtual_hosts[0].routes[1].match.path"});
  }
}

TEST_CASE("filters: registered, right stage, valid config") {
  Config c = base();
  auto* r = route0(c);
  const std::string rf = "listeners[0].virtual_hosts[0].routes[0].route_filter";
  SECTION("unknown filter lists the registered ones") {
    r->mutable_route_filter()->set_name("nope");
    expectOneError(c, rf + ".name", "unknown filter 'nope' (registered: test_route, test_stage)");
  }
  SECTION("filter name required") {
    r->add_pre_filters();
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[0].pre_filters[0].name", "required");
  }
  SECTION("a stage filter as route_filter") {
    r->mutable_route_filter()->set_name("test_stage");
    expectOneError(c, rf + ".name", "'test_stage' is a stage filter");
  }
  SECTION("a route filter in a route's stage lists") {
    *r->add_post_filters() = r->route_filter();
    expectOneError(c, "listeners[0].virtual_hosts[0].routes[0].post_filters[0].name",
                   "'test_route' is a route filter");
  }
  SECTION("listener-level lists are checked too") {
    auto* l = c.mutable_listeners(0);
    l->add_pre_filters()->set_name("test_stage");
    *l->add_error_filters() = r->route_filter();
    expectOneError(c, "listeners[0].error_filters[0].name", "'test_route' is a route filter");
  }
  SECTION("factory errors are joined under .config") {
    setStruct(r->mutable_route_filter()->mutable_config(), "cluster", "missing");
    expectOneError(c, rf + ".config.cluster", "unknown cluster 'missing'");
    r->mutable_route_filter()->clear_config();
    expectOneError(c, rf + ".config.cluster", "required");
  }
  SECTION("nested paths from the factory") {
    auto* f = c.mutable_listeners(0)->add_post_filters();
    f->set_name("test_stage");
    (*f->mutable_config()->mutable_fields())["request_set"]
        .mutable_list_value()
        ->add_values()
        ->mutable_struct_value();
    CHECK(validateConfig(c).empty());
    setStruct(f->mutable_config(), "bogus", "1");
    expectOneError(c, "listeners[0].post_filters[0].config.bogus", "Cannot find field");
  }
  SECTION("type errors from protobuf become a path too") {
    (*r->mutable_route_filter()->mutable_config()->mutable_fields())["cluster"].set_number_value(
        5);
    const auto errors = validateConfig(c);
    INFO(dump(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path == rf + ".config.cluster");
  }
  SECTION("cluster names are known to the factories (all clusters, declared after listeners)") {
    auto* cl = c.add_clusters();
    *cl = c.clusters(0);
    cl->set_name("later");
    setStruct(r->mutable_route_filter()->mutable_config(), "cluster", "later");
    expectValid(c);
  }
}

TEST_CASE("a listener's default filters are compiled even when no route uses them") {
  // Found by test/fuzz:config_fuzz (when compileConfig still compiled a listener's defaults only
  // into the routes that inherit them): a default no route used (here: the only route sets its
  // own post_filters; a listener without virtual hosts is the same) was never compiled, so a
  // control-plane push was accepted that --validate refused. The one walk compiles every
  // listener's defaults at the listener.
  Config c = base();
  auto* f = c.mutable_listeners(0)->add_post_filters();
  f->set_name("test_stage");
  setStruct(f->mutable_config(), "bogus", "1");
  route0(c)->add_post_filters()->set_name("test_stage");
  expectOneError(c, "listeners[0].post_filters[0].config.bogus", "Cannot find field");
}

TEST_CASE("clusters") {
  Config c = base();
  auto* cl = c.mutable_clusters(0);
  const std::string e0 = "clusters[0].endpoints[0]";
  SECTION("name required") {
    cl->clear_name();
    const auto errors = validateConfig(c);
    // The route's cluster reference breaks too: reported where it is (the route), first.
    CHECK(paths(errors) ==
          std::vector<std::string>{
              "listeners[0].virtual_hosts[0].routes[0].route_filter.config.cluster",
              "clusters[0].name"});
  }
  SECTION("duplicate name") {
    *c.add_clusters() = *cl;
    expectOneError(c, "clusters[1].name", "duplicate cluster name 'backend' (also clusters[0])");
  }
  SECTION("at least one endpoint") {
    cl->clear_endpoints();
    expectOneError(c, "clusters[0].endpoints", "at least one endpoint");
  }
  SECTION("endpoint addresses") {
    for (const char* good : {"10.1.2.3:80", "[2001:db8::1]:8443", "backend.svc.local:9000",
                             "localhost:1"}) {
      INFO(good);
      cl->mutable_endpoints(0)->set_address(good);
      expectValid(c);
    }
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"", "required"},
        {"backend", "expected host:port"},
        {"10.0.0.1:0", "port must be 1..65535"},
        {"-bad-.com:80", "invalid host name"},
        {"a_b.com:80", "invalid host name"},
        {"10.0.0.256:80", "invalid IPv4 address"},
        {"10.0.0.1:http", "invalid port"},
    };
    for (const auto& [address, needle] : bad) {
      INFO(address);
      cl->mutable_endpoints(0)->set_address(address);
      expectOneError(c, e0 + ".address", needle);
    }
  }
  SECTION("weight") {
    cl->mutable_endpoints(0)->set_weight(10000);
    expectValid(c);
    cl->mutable_endpoints(0)->set_weight(10001);
    expectOneError(c, e0 + ".weight", "at most 10000");
  }
  SECTION("hash LBs need a hash policy with a source") {
    for (auto policy : {gateway::v1::Cluster::RING_HASH, gateway::v1::Cluster::MAGLEV}) {
      cl->set_lb_policy(policy);
      cl->clear_hash_policy();
      expectOneError(c, "clusters[0].hash_policy", "required for");
      cl->mutable_hash_policy();  // present but no source
      expectOneError(c, "clusters[0].hash_policy", "header, cookie or source_ip");
      cl->mutable_hash_policy()->set_header("x-user");
      expectValid(c);
    }
  }
  SECTION("hash policy sources must be usable") {
    cl->set_lb_policy(gateway::v1::Cluster::RING_HASH);
    cl->mutable_hash_policy()->set_header("");
    expectOneError(c, "clusters[0].hash_policy.header", "invalid header name");
    cl->mutable_hash_policy()->set_cookie("a b");
    expectOneError(c, "clusters[0].hash_policy.cookie", "invalid cookie name");
    cl->mutable_hash_policy()->set_source_ip(false);
    expectOneError(c, "clusters[0].hash_policy.source_ip", "must be true");
  }
  SECTION("other policies need no hash policy") {
    for (auto policy : {gateway::v1::Cluster::ROUND_ROBIN, gateway::v1::Cluster::LEAST_REQUEST,
                        gateway::v1::Cluster::RANDOM}) {
      cl->set_lb_policy(policy);
      expectValid(c);
    }
  }
  SECTION("unknown enum number (control plane)") {
    cl->set_lb_policy(static_cast<gateway::v1::Cluster::LbPolicy>(42));
    expectOneError(c, "clusters[0].lb_policy", "unknown policy 42");
  }
  SECTION("pool settings") {
    auto* pool = cl->mutable_pool();
    pool->set_max_connections_per_endpoint(65536);
    expectOneError(c, "clusters[0].pool.max_connections_per_endpoint", "at most 65535");
    pool->set_max_connections_per_endpoint(10);
    pool->set_max_idle_per_endpoint(11);
    expectOneError(c, "clusters[0].pool.max_idle_per_endpoint",
                   "must not exceed max_connections_per_endpoint (10)");
    pool->set_max_idle_per_endpoint(10);
    expectValid(c);
    pool->mutable_connect_timeout()->set_seconds(-1);
    expectOneError(c, "clusters[0].pool.connect_timeout", "must not be negative");
    pool->mutable_connect_timeout()->set_seconds(1);
    pool->mutable_idle_timeout()->set_seconds(-1);
    expectOneError(c, "clusters[0].pool.idle_timeout", "must not be negative");
  }
}

TEST_CASE("all errors are reported, in config order, not just the first") {
  const Config c = parseOk(R"yaml(
listeners:
  - name: a
    address: 127.0.0.1:80
    limits: {max_request_headers_kb: 4096}
    pre_filters: [{name: test_route, config: {cluster: c}}]
    virtual_hosts:
      - name: v
        domains: ["x.com", "x.com"]
        routes:
          - name: r
            match: {regex: "("}
            timeout: -1s
            route_filter: {name: test_route, config: {cluster: nope}}
          - name: r
            match: {path: /p}
            prefix_rewrite: /q
          - match: {prefix: /}
            route_filter: {name: unknown_filter}
  - name: a
    address: 127.0.0.1:80
    virtual_hosts:
      - domains: ["*"]
        routes: [{match: {prefix: /}, route_filter: {name: test_stage}}]
clusters:
  - name: c
    endpoints: []
  - name: c
    lb_policy: MAGLEV
    endpoints: [{address: "nope", weight: 20000}]
)yaml");
  const auto errors = validateConfig(c);
  INFO(dump(errors));
  const std::string r = "listeners[0].virtual_hosts[0].routes";
  CHECK(paths(errors) == std::vector<std::string>{
                             "listeners[0].limits.max_request_headers_kb",
                             "listeners[0].pre_filters[0].name",
                             "listeners[0].virtual_hosts[0].domains[1]",
                             r + "[0].route_filter.config.cluster",
                             r + "[0].timeout",
                             r + "[0].match.regex",
                             r + "[1].name",
                             r + "[1].route_filter",
                             r + "[1].prefix_rewrite",
                             r + "[2].route_filter.name",
                             "listeners[1].name",
                             "listeners[1].address",
                             "listeners[1].virtual_hosts[0].routes[0].route_filter.name",
                             "clusters[0].endpoints",
                             "clusters[1].name",
                             "clusters[1].endpoints[0].address",
                             "clusters[1].endpoints[0].weight",
                             "clusters[1].hash_policy",
                         });
}

TEST_CASE("the whole listener is compiled once its parts are clean") {
  // Sanity: a clean multi-host listener passes RouteTable::create as a whole.
  Config c = base();
  auto* vh = c.mutable_listeners(0)->add_virtual_hosts();
  vh->set_name("any");
  vh->add_domains("*");
  *vh->add_routes() = c.listeners(0).virtual_hosts(0).routes(0);
  expectValid(c);
}

TEST_CASE("ConfigError::toString") {
  CHECK(ConfigError{"a.b", "bad"}.toString() == "a.b: bad");
  CHECK(ConfigError{"", "bad"}.toString() == "bad");
}

} // namespace
} // namespace gw::config
