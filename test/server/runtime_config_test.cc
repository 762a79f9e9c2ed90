// compileConfig (listeners, route tables with attached filter chains, clusters) and the address
// helpers of runtime_config.
#include <atomic>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>

#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_split.h"
#include "gateway/v1/config.pb.h"
#include "google/protobuf/util/json_util.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "source/router/route_table.h"
#include "source/server/config_reaper.h"
#include "source/server/runtime_config.h"
#include "test/filters/fake_request_context.h"

namespace gw::server {
namespace {

using filters::FilterStatus;
using filters::StaticRoute;
using filters::test::FakeRequestContext;
using gateway::v1::Config;

Config parseJson(const std::string& json) {
  Config c;
  auto st = google::protobuf::util::JsonStringToMessage(json, &c);
  INFO(json);
  REQUIRE(st.ok());
  return c;
}

RuntimeConfigConstSharedPtr compile(const Config& c) {
  auto rc = compileConfig(c);
  INFO(rc.status().ToString());
  REQUIRE(rc.ok());
  REQUIRE(*rc != nullptr);
  return *rc;
}

// A `headers` filter that sets `header: value` on the response (post / error) or request (pre).
std::string tag(const std::string& list, const std::string& header, const std::string& value) {
  return R"({"name": "headers", "config": {")" + list + R"(": [{"name": ")" + header +
         R"(", "value": ")" + value + R"("}]}})";
}

// Two listeners and two clusters. Listener "main" has default pre/post/error filters; its routes
// override some stages and inherit the others. Listener "plain" has no defaults at all.
const std::string& validConfigJson() {
  static const std::string json = R"({
    "version": "v42",
    "listeners": [
      {
        "name": "main",
        "address": "127.0.0.1:0",
        "xff_trusted_hops": 2,
        "limits": {"max_request_headers_kb": 8, "max_request_headers_count": 20,
                   "request_headers_timeout": "2.5s", "idle_timeout": "30s",
                   "max_request_body_bytes": 1024, "max_requests_per_connection": 7},
        "path_normalization": {"merge_slashes": false},
        "pre_filters": [)" + tag("request_set", "x-pre", "listener") + R"(],
        "post_filters": [)" + tag("response_set", "x-post", "listener") + R"(],
        "error_filters": [)" + tag("response_set", "x-error", "listener") + R"(],
        "virtual_hosts": [
          {"name": "api", "domains": ["api.example.com"], "routes": [
            {"name": "users", "match": {"prefix": "/users/"},
             "pre_filters": [{"name": "fault", "config": {"delay_ms": 5}},
                             )" + tag("request_set", "x-pre", "users") + R"(],
             "route_filter": {"name": "router", "config": {"cluster": "users"}}},
            {"name": "orders", "match": {"prefix": "/orders/"},
             "post_filters": [)" + tag("response_set", "x-post", "orders-1") + R"(,
                              )" + tag("response_add", "x-post", "orders-2") + R"(],
             "error_filters": [)" + tag("response_set", "x-error", "orders") + R"(],
             "route_filter": {"name": "router", "config": {"cluster": "orders"}}}
          ]},
          {"name": "any", "domains": ["*"], "routes": [
            {"name": "health", "match": {"path": "/healthz"},
             "route_filter": {"name": "direct_response",
                              "config": {"status": 204, "body": "ok\n"}}}
          ]}
        ]
      },
      {
        "name": "plain",
        "address": "[::1]:0",
        "virtual_hosts": [
          {"domains": ["*"], "routes": [
            {"match": {"prefix": "/"},
             "route_filter": {"name": "router", "config": {"cluster": "orders"}}}
          ]}
        ]
      }
    ],
    "clusters": [
      {"name": "users", "endpoints": [{"address": "127.0.0.1:8081"},
                                      {"address": "[::1]:8082", "weight": 3},
                                      {"address": "127.0.0.2:8083", "weight": 0}]},
      {"name": "orders", "lb_policy": "LEAST_REQUEST",
       "endpoints": [{"address": "localhost:9000", "weight": 2}],
       "pool": {"max_connections_per_endpoint": 10, "max_idle_per_endpoint": 2,
                "idle_timeout": "1.5s", "connect_timeout": "0.25s"}}
    ]
  })";
  return json;
}

const ListenerConfig& listener(const RuntimeConfig& rc, const std::string& name) {
  for (const auto& l : rc.listeners) {
    if (l->name == name) {
      return *l;
    }
  }
  FAIL("no listener " << name);
  throw 0;  // unreachable
}

http::RequestHead request(const std::string& host, const std::string& path) {
  http::RequestHead h;
  h.method = "GET";
  h.target = path;
  h.path = path;
  h.host = host;
  return h;
}

// The matched route (which must exist and carry a filter chain).
const router::RouteEntry& route(const ListenerConfig& l, const std::string& host,
                                const std::string& path) {
  INFO(host << path);
  REQUIRE(l.routes != nullptr);
  const router::RouteEntry* r = l.routes->match(request(host, path)).route;
  REQUIRE(r != nullptr);
  REQUIRE(r->attachment() != nullptr);
  return *r;
}

using Names = std::vector<std::string>;

// Runs every filter of a stage list on `ctx` (all must Continue).
void runStage(const std::vector<filters::FilterConfigConstSharedPtr>& list,
              FakeRequestContext& ctx, FilterStatus (filters::Filter::*stage)(
                                           filters::RequestContext&)) {
  for (const auto& fc : list) {
    REQUIRE(fc != nullptr);
    filters::FilterPtr owned;
    filters::Filter& f = filters::test::instanceOf(*fc, owned);
    CHECK((f.*stage)(ctx) == FilterStatus::Continue);
  }
}

std::vector<std::string> values(const HeaderMap& h, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : h.entries()) {
    if (n == name) {
      out.push_back(v);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// compileConfig: listeners and filter chains

TEST_CASE("compileConfig: listeners in order with their settings", "[runtime_config]") {
  auto rc = compile(parseJson(validConfigJson()));
  CHECK(rc->version == "v42");
  CHECK(rc->proto.version() == "v42");
  REQUIRE(rc->listeners.size() == 2);
  CHECK(rc->listeners[0]->name == "main");
  CHECK(rc->listeners[1]->name == "plain");

  const ListenerConfig& main = *rc->listeners[0];
  CHECK(main.address == "127.0.0.1:0");
  CHECK(main.addr.ss_family == AF_INET);
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&main.addr)) == "127.0.0.1:0");
  CHECK(main.addr_len == sizeof(sockaddr_in));
  CHECK(main.codec_limits.max_header_bytes == 8 * 1024);
  CHECK(main.codec_limits.max_headers == 20);
  CHECK(main.request_headers_timeout == std::chrono::milliseconds(2500));
  CHECK(main.idle_timeout == std::chrono::milliseconds(30000));
  CHECK(main.max_request_body_bytes == 1024);
  CHECK(main.max_requests_per_connection == 7);
  CHECK(main.xff_trusted_hops == 2);
  CHECK_FALSE(main.path_options.merge_slashes);

  const ListenerConfig& plain = *rc->listeners[1];
  CHECK(plain.addr.ss_family == AF_INET6);
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&plain.addr)) == "[::1]:0");
  // Defaults.
  const ListenerConfig defaults;
  CHECK(plain.codec_limits.max_header_bytes == defaults.codec_limits.max_header_bytes);
  CHECK(plain.codec_limits.max_headers == defaults.codec_limits.max_headers);
  CHECK(plain.request_headers_timeout == std::chrono::milliseconds(10000));
  CHECK(plain.idle_timeout == std::chrono::milliseconds(60000));
  CHECK(plain.max_request_body_bytes == 0);
  CHECK(plain.max_requests_per_connection == 0);
  CHECK(plain.xff_trusted_hops == 0);
  CHECK(plain.path_options.merge_slashes == defaults.path_options.merge_slashes);
  CHECK(plain.path_options.reject_encoded_slashes ==
        defaults.path_options.reject_encoded_slashes);
}

TEST_CASE("compileConfig: every route carries a filter chain", "[runtime_config]") {
  auto rc = compile(parseJson(validConfigJson()));
  for (const auto& l : rc->listeners) {
    for (router::RouteEntry* r : l->routes->allRoutes()) {
      INFO(l->name << " route " << r->name());
      REQUIRE(r->attachment() != nullptr);
      const FilterChain& chain = filterChainOf(*r);
      REQUIRE(chain.route != nullptr);
      CHECK(chain.route->staticRoute() != nullptr);
      CHECK(chain.pre.size() == chain.pre_names.size());
      CHECK(chain.post.size() == chain.post_names.size());
      CHECK(chain.error.size() == chain.error_names.size());
    }
  }
}

TEST_CASE("compileConfig: route filters", "[runtime_config]") {
  auto rc = compile(parseJson(validConfigJson()));
  const ListenerConfig& main = listener(*rc, "main");
  {
    const FilterChain& c = filterChainOf(route(main, "api.example.com", "/users/1"));
    CHECK(c.route_name == "router");
    CHECK(c.route->staticRoute()->kind == StaticRoute::Kind::Proxy);
    CHECK(c.route->staticRoute()->cluster == "users");
  }
  {
    const FilterChain& c = filterChainOf(route(main, "api.example.com", "/orders/1"));
    CHECK(c.route_name == "router");
    CHECK(c.route->staticRoute()->cluster == "orders");
  }
  {
    const router::RouteEntry& r = route(main, "other.test", "/healthz");
    CHECK(r.name() == "health");
    const FilterChain& c = filterChainOf(r);
    CHECK(c.route_name == "direct_response");
    const StaticRoute* a = c.route->staticRoute();
    CHECK(a->kind == StaticRoute::Kind::DirectResponse);
    CHECK(a->status == 204);
    FakeRequestContext ctx;
    filters::test::FakeUpstream up(ctx.fakeWorker().http);
    filters::FilterPtr owned;
    CHECK(filters::test::instanceOf(*c.route, owned).onRoute(ctx, up) ==
          FilterStatus::StopAndRespond);
    REQUIRE(ctx.responses.size() == 1);
    CHECK(ctx.responses[0].status == 204);
    CHECK(ctx.responses[0].body == "ok\n");
    CHECK(ctx.responses[0].content_type == "text/plain");
  }
  {
    const FilterChain& c = filterChainOf(route(listener(*rc, "plain"), "x", "/anything"));
    CHECK(c.route->staticRoute()->cluster == "orders");
  }
}

TEST_CASE("compileConfig: route stage lists override listener defaults, empty ones inherit",
          "[runtime_config]") {
  auto rc = compile(parseJson(validConfigJson()));
  const ListenerConfig& main = listener(*rc, "main");

  SECTION("users: own pre filters; inherited post and error filters") {
    const router::RouteEntry& r = route(main, "api.example.com", "/users/1");
    CHECK(r.name() == "users");
    const FilterChain& c = filterChainOf(r);
    CHECK(c.pre_names == Names{"fault", "headers"});
    CHECK(c.post_names == Names{"headers"});
    CHECK(c.error_names == Names{"headers"});

    FakeRequestContext ctx;
    ctx.setRoute(&r);
    runStage({c.pre[1]}, ctx, &filters::Filter::onRequestHeaders);  // the route's headers, not fault
    CHECK(values(ctx.request().headers, "x-pre") == Names{"users"});
    runStage(c.post, ctx, &filters::Filter::onResponseHeaders);
    CHECK(values(ctx.response().headers, "x-post") == Names{"listener"});
    runStage(c.error, ctx, &filters::Filter::onError);
    CHECK(values(ctx.response().headers, "x-error") == Names{"listener"});
  }
  SECTION("orders: inherited pre filters; own post and error filters") {
    const router::RouteEntry& r = route(main, "api.example.com", "/orders/9");
    CHECK(r.name() == "orders");
    const FilterChain& c = filterChainOf(r);
    CHECK(c.pre_names == Names{"headers"});
    CHECK(c.post_names == Names{"headers", "headers"});
    CHECK(c.error_names == Names{"headers"});

    FakeRequestContext ctx;
    ctx.setRoute(&r);
    runStage(c.pre, ctx, &filters::Filter::onRequestHeaders);
    CHECK(values(ctx.request().headers, "x-pre") == Names{"listener"});
    runStage(c.post, ctx, &filters::Filter::onResponseHeaders);
    CHECK(values(ctx.response().headers, "x-post") == Names{"orders-1", "orders-2"});
    runStage(c.error, ctx, &filters::Filter::onError);
    CHECK(values(ctx.response().headers, "x-error") == Names{"orders"});
  }
  SECTION("health (another virtual host): everything inherited") {
    const FilterChain& c = filterChainOf(route(main, "www.example.com", "/healthz"));
    CHECK(c.pre_names == Names{"headers"});
    CHECK(c.post_names == Names{"headers"});
    CHECK(c.error_names == Names{"headers"});
  }
  SECTION("a listener without defaults gives empty stages") {
    const FilterChain& c = filterChainOf(route(listener(*rc, "plain"), "x", "/"));
    CHECK(c.pre.empty());
    CHECK(c.post.empty());
    CHECK(c.error.empty());
    CHECK(c.pre_names.empty());
    CHECK(c.post_names.empty());
    CHECK(c.error_names.empty());
  }
}

TEST_CASE("compileConfig: chains attach to the right routes across virtual hosts",
          "[runtime_config]") {
  // Virtual hosts declared "*" first, so table order and selection order differ.
  auto rc = compile(parseJson(R"({
    "listeners": [{"name": "l", "address": "127.0.0.1:0", "virtual_hosts": [
      {"name": "any", "domains": ["*"], "routes": [
        {"name": "a1", "match": {"prefix": "/a"},
         "route_filter": {"name": "direct_response", "config": {"status": 201}}},
        {"name": "a2", "match": {"prefix": "/"},
         "route_filter": {"name": "direct_response", "config": {"status": 202}}}]},
      {"name": "ex", "domains": ["*.example.com"], "routes": [
        {"name": "b1", "match": {"prefix": "/"},
         "route_filter": {"name": "direct_response", "config": {"status": 203}}}]},
      {"name": "exact", "domains": ["x.example.com"], "routes": [
        {"name": "c1", "match": {"path": "/p"},
         "route_filter": {"name": "direct_response", "config": {"status": 204}}},
        {"name": "c2", "match": {"prefix": "/"},
         "route_filter": {"name": "direct_response", "config": {"status": 205}}}]}
    ]}],
    "clusters": []
  })"));
  const ListenerConfig& l = *rc->listeners[0];
  auto statusOf = [&](const std::string& host, const std::string& path) {
    const router::RouteEntry& r = route(l, host, path);
    return std::make_pair(r.name(), filterChainOf(r).route->staticRoute()->status);
  };
  CHECK(statusOf("other", "/abc") == std::make_pair(std::string("a1"), 201));
  CHECK(statusOf("other", "/zzz") == std::make_pair(std::string("a2"), 202));
  CHECK(statusOf("y.example.com", "/") == std::make_pair(std::string("b1"), 203));
  CHECK(statusOf("x.example.com", "/p") == std::make_pair(std::string("c1"), 204));
  CHECK(statusOf("x.example.com", "/q") == std::make_pair(std::string("c2"), 205));
}

// ---------------------------------------------------------------------------------------------
// compileConfig: clusters

TEST_CASE("compileConfig: clusters with resolved endpoints, weights and pool settings",
          "[runtime_config]") {
  auto rc = compile(parseJson(validConfigJson()));
  REQUIRE(rc->clusters.size() == 2);
  CHECK(rc->cluster("nope") == nullptr);

  const ClusterConfig* users = rc->cluster("users");
  REQUIRE(users != nullptr);
  CHECK(users->name == "users");
  CHECK(users->proto.name() == "users");
  REQUIRE(users->endpoints.size() == 3);
  CHECK(users->endpoints[0].address == "127.0.0.1:8081");
  CHECK(users->endpoints[0].weight == 1);  // unset -> 1
  CHECK(users->endpoints[0].addr.ss_family == AF_INET);
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&users->endpoints[0].addr)) ==
        "127.0.0.1:8081");
  CHECK(users->endpoints[1].address == "[::1]:8082");
  CHECK(users->endpoints[1].weight == 3);
  CHECK(users->endpoints[1].addr.ss_family == AF_INET6);
  CHECK(users->endpoints[1].addr_len == sizeof(sockaddr_in6));
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&users->endpoints[1].addr)) ==
        "[::1]:8082");
  CHECK(users->endpoints[2].weight == 1);  // 0 -> 1
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&users->endpoints[2].addr)) ==
        "127.0.0.2:8083");
  // Default pool settings.
  CHECK(users->max_connections_per_endpoint == 1024);
  CHECK(users->max_idle_per_endpoint == 64);
  CHECK(users->idle_timeout == std::chrono::milliseconds(60000));
  CHECK(users->connect_timeout == std::chrono::milliseconds(5000));

  const ClusterConfig* orders = rc->cluster("orders");
  REQUIRE(orders != nullptr);
  REQUIRE(orders->endpoints.size() == 1);
  CHECK(orders->endpoints[0].address == "localhost:9000");
  CHECK(orders->endpoints[0].weight == 2);
  const std::string resolved =
      formatAddress(reinterpret_cast<const sockaddr*>(&orders->endpoints[0].addr));
  CHECK((resolved == "127.0.0.1:9000" || resolved == "[::1]:9000"));
  CHECK(orders->max_connections_per_endpoint == 10);
  CHECK(orders->max_idle_per_endpoint == 2);
  CHECK(orders->idle_timeout == std::chrono::milliseconds(1500));
  CHECK(orders->connect_timeout == std::chrono::milliseconds(250));
  CHECK(orders->proto.lb_policy() == gateway::v1::Cluster::LEAST_REQUEST);
}

TEST_CASE("compileConfig: a config needs a listener", "[runtime_config]") {
  auto rc = compileConfig(Config());
  REQUIRE_FALSE(rc.ok());
  CHECK(rc.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(rc.status().message()), Catch::StartsWith("listeners: "));
}

// ---------------------------------------------------------------------------------------------
// compileConfig: invalid configs

TEST_CASE("compileConfig: an invalid config lists every problem", "[runtime_config]") {
  Config c = parseJson(validConfigJson());
  auto* l = c.mutable_listeners(0);
  // 1: unknown cluster in a router.
  (*l->mutable_virtual_hosts(0)->mutable_routes(0)->mutable_route_filter()->mutable_config()
        ->mutable_fields())["cluster"]
      .set_string_value("nope");
  // 2: unknown filter in the listener's post filters.
  l->mutable_post_filters(0)->set_name("no_such_filter");
  // 3: a route without a route filter.
  l->mutable_virtual_hosts(1)->mutable_routes(0)->clear_route_filter();
  // 4: an endpoint with a bad port.
  c.mutable_clusters(0)->mutable_endpoints(0)->set_address("127.0.0.1:99999");
  // 5: an invalid headers config in a route's error filters.
  (*l->mutable_virtual_hosts(0)->mutable_routes(1)->mutable_error_filters(0)->mutable_config()
        ->mutable_fields())["bogus"]
      .set_bool_value(true);

  auto rc = compileConfig(c);
  REQUIRE_FALSE(rc.ok());
  CHECK(rc.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string msg(rc.status().message());
  INFO(msg);
  const std::vector<std::string> lines = absl::StrSplit(msg, '\n');
  CHECK(lines.size() == 5);
  CHECK_THAT(msg, Catch::Contains(
                      "listeners[0].virtual_hosts[0].routes[0].route_filter.config.cluster: "
                      "unknown cluster 'nope'"));
  CHECK_THAT(msg, Catch::Contains("listeners[0].post_filters[0].name: unknown filter"));
  CHECK_THAT(msg, Catch::Contains("listeners[0].virtual_hosts[1].routes[0].route_filter: "));
  CHECK_THAT(msg, Catch::Contains("clusters[0].endpoints[0].address: "));
  CHECK_THAT(msg,
             Catch::Contains("listeners[0].virtual_hosts[0].routes[1].error_filters[0].config"));
}

TEST_CASE("compileConfig: problems only compiling finds are all listed too", "[runtime_config]") {
  // Two bad regexes in one listener: the one walk lists both (the route table collects every
  // route's error), and the same config without them compiles.
  Config c = parseJson(validConfigJson());
  auto* vh = c.mutable_listeners(0)->mutable_virtual_hosts(0);
  vh->mutable_routes(0)->mutable_match()->set_regex("/a(");
  vh->mutable_routes(1)->mutable_match()->set_regex("/b[");
  std::vector<config::ConfigError> errors;
  auto rc = compileConfig(c, true, &errors);
  REQUIRE_FALSE(rc.ok());
  const std::string msg(rc.status().message());
  INFO(msg);
  CHECK_THAT(msg, Catch::Contains("listeners[0].virtual_hosts[0].routes[0].match.regex"));
  CHECK_THAT(msg, Catch::Contains("listeners[0].virtual_hosts[0].routes[1].match.regex"));
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].path == "listeners[0].virtual_hosts[0].routes[0].match.regex");
  CHECK(errors[1].path == "listeners[0].virtual_hosts[0].routes[1].match.regex");
}

// A route filter that counts how often its config is compiled.
std::atomic<int> g_route_compiles{0};
std::atomic<int> g_stage_compiles{0};
class CountingFactory : public filters::FilterFactory {
public:
  CountingFactory(const char* name, filters::FilterKind kind, std::atomic<int>& counter)
      : name_(name), kind_(kind), counter_(counter) {}
  absl::string_view name() const override { return name_; }
  filters::FilterKind kind() const override { return kind_; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return google::protobuf::Struct::descriptor();
  }
  absl::StatusOr<filters::FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct&, const filters::ValidationContext&) const override {
    counter_++;
    return filters::FilterConfigConstSharedPtr(std::make_shared<filters::FilterConfig>());
  }

private:
  const char* name_;
  filters::FilterKind kind_;
  std::atomic<int>& counter_;
};
struct RegisterCounting {
  RegisterCounting() {
    filters::FilterRegistry::add(std::make_unique<CountingFactory>(
        "t_count_route", filters::FilterKind::Route, g_route_compiles));
    filters::FilterRegistry::add(std::make_unique<CountingFactory>(
        "t_count_stage", filters::FilterKind::Stage, g_stage_compiles));
  }
} const kRegisterCounting;

TEST_CASE("compileConfig: validation and compilation walk the config once", "[runtime_config]") {
  // 50 routes with their own route filter, all using the listener's default pre filter.
  std::string routes;
  for (int i = 0; i < 50; i++) {
    absl::StrAppend(&routes, i == 0 ? "" : ",", R"({"name":"r)", i, R"(","match":{"prefix":"/r)",
                    i, R"(/"},"routeFilter":{"name":"t_count_route"}})");
  }
  Config c = parseJson(absl::StrCat(
      R"({"listeners":[{"name":"l","address":"127.0.0.1:0",
          "preFilters":[{"name":"t_count_stage"}],
          "virtualHosts":[{"domains":["*"],"routes":[)",
      routes, R"(]}]}]})"));
  g_route_compiles = 0;
  g_stage_compiles = 0;
  auto rc = compileConfig(c);
  REQUIRE(rc.ok());
  CHECK(g_route_compiles.load() == 50);  // each route filter config once
  CHECK(g_stage_compiles.load() == 1);   // the listener default once, shared by every route
  const auto& l = *(*rc)->listeners[0];
  const auto all = l.routes->allRoutes();
  REQUIRE(all.size() == 50);
  CHECK(filterChainOf(*all[0]).pre[0] == filterChainOf(*all[49]).pre[0]);
  // Validation alone is the same walk.
  g_route_compiles = 0;
  CHECK(config::validateConfig(c).empty());
  CHECK(g_route_compiles.load() == 50);
}

TEST_CASE("compileConfig: one problem", "[runtime_config]") {
  Config c = parseJson(validConfigJson());
  (*c.mutable_listeners(0)->mutable_pre_filters(0)->mutable_config()->mutable_fields())
      ["request_set"]
          .mutable_list_value()
          ->mutable_values(0)
          ->mutable_struct_value()
          ->mutable_fields()
          ->at("value")
          .set_string_value("%NOPE%");
  auto rc = compileConfig(c);
  REQUIRE_FALSE(rc.ok());
  CHECK(rc.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(rc.status().message()),
             Catch::StartsWith("listeners[0].pre_filters[0].config.request_set[0].value: "));
  CHECK(std::string(rc.status().message()).find('\n') == std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// ClusterConfig::sameUpstreamsAs

TEST_CASE("sameUpstreamsAs: identical protos are the same upstreams", "[runtime_config]") {
  auto a = compile(parseJson(validConfigJson()));
  auto b = compile(parseJson(validConfigJson()));
  for (const char* name : {"users", "orders"}) {
    INFO(name);
    CHECK(a->cluster(name)->sameUpstreamsAs(*b->cluster(name)));
    CHECK(a->cluster(name)->sameUpstreamsAs(*a->cluster(name)));
  }
  CHECK_FALSE(a->cluster("users")->sameUpstreamsAs(*b->cluster("orders")));

  // A change elsewhere in the config does not matter.
  Config other = parseJson(validConfigJson());
  other.set_version("v43");
  other.mutable_listeners(0)->set_xff_trusted_hops(0);
  auto c = compile(other);
  CHECK(a->cluster("users")->sameUpstreamsAs(*c->cluster("users")));
}

TEST_CASE("sameUpstreamsAs: a changed endpoint or pool setting is different",
          "[runtime_config]") {
  auto base = compile(parseJson(validConfigJson()));
  const ClusterConfig& users = *base->cluster("users");
  const ClusterConfig& orders = *base->cluster("orders");

  SECTION("endpoint address") {
    Config c = parseJson(validConfigJson());
    c.mutable_clusters(0)->mutable_endpoints(0)->set_address("127.0.0.1:9999");
    CHECK_FALSE(users.sameUpstreamsAs(*compile(c)->cluster("users")));
  }
  SECTION("endpoint added") {
    Config c = parseJson(validConfigJson());
    c.mutable_clusters(0)->add_endpoints()->set_address("127.0.0.3:1");
    CHECK_FALSE(users.sameUpstreamsAs(*compile(c)->cluster("users")));
  }
  SECTION("endpoint removed") {
    Config c = parseJson(validConfigJson());
    c.mutable_clusters(0)->mutable_endpoints()->RemoveLast();
    CHECK_FALSE(users.sameUpstreamsAs(*compile(c)->cluster("users")));
  }
  SECTION("endpoint weight") {
    Config c = parseJson(validConfigJson());
    c.mutable_clusters(0)->mutable_endpoints(1)->set_weight(4);
    CHECK_FALSE(users.sameUpstreamsAs(*compile(c)->cluster("users")));
  }
  SECTION("pool setting") {
    Config c = parseJson(validConfigJson());
    c.mutable_clusters(1)->mutable_pool()->set_max_idle_per_endpoint(3);
    CHECK_FALSE(orders.sameUpstreamsAs(*compile(c)->cluster("orders")));
  }
}

TEST_CASE("sameUpstreamsAs: a name that resolves to another address is different",
          "[runtime_config]") {
  auto base = compile(parseJson(validConfigJson()));
  const ClusterConfig& orders = *base->cluster("orders");  // localhost:9000
  ClusterConfig copy = orders;
  CHECK(orders.sameUpstreamsAs(copy));
  // Same proto, but the name resolved elsewhere (e.g. a DNS change between two loads).
  REQUIRE(parseAddress("127.0.0.9:9000", &copy.endpoints[0].addr, &copy.endpoints[0].addr_len)
              .ok());
  CHECK_FALSE(orders.sameUpstreamsAs(copy));
  CHECK_FALSE(copy.sameUpstreamsAs(orders));
}

// ---------------------------------------------------------------------------------------------
// parseAddress / formatAddress

TEST_CASE("parseAddress: IPv4", "[runtime_config][address]") {
  sockaddr_storage ss{};
  socklen_t len = 0;
  REQUIRE(parseAddress("127.0.0.1:8080", &ss, &len).ok());
  REQUIRE(ss.ss_family == AF_INET);
  CHECK(len == sizeof(sockaddr_in));
  const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
  CHECK(ntohs(in->sin_port) == 8080);
  CHECK(ntohl(in->sin_addr.s_addr) == 0x7f000001);

  REQUIRE(parseAddress("0.0.0.0:0", &ss, &len).ok());
  CHECK(ss.ss_family == AF_INET);
  CHECK(ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port) == 0);
  REQUIRE(parseAddress("10.1.2.3:65535", &ss, &len).ok());
  CHECK(ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port) == 65535);
}

TEST_CASE("parseAddress: bracketed IPv6", "[runtime_config][address]") {
  sockaddr_storage ss{};
  socklen_t len = 0;
  REQUIRE(parseAddress("[::1]:80", &ss, &len).ok());
  REQUIRE(ss.ss_family == AF_INET6);
  CHECK(len == sizeof(sockaddr_in6));
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  CHECK(ntohs(in6->sin6_port) == 80);
  CHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));

  REQUIRE(parseAddress("[::]:0", &ss, &len).ok());
  CHECK(ss.ss_family == AF_INET6);
}

TEST_CASE("parseAddress: names are resolved", "[runtime_config][address]") {
  sockaddr_storage ss{};
  socklen_t len = 0;
  REQUIRE(parseAddress("localhost:80", &ss, &len).ok());
  REQUIRE((ss.ss_family == AF_INET || ss.ss_family == AF_INET6));
  const std::string s = formatAddress(reinterpret_cast<const sockaddr*>(&ss));
  CHECK((s == "127.0.0.1:80" || s == "[::1]:80"));
}

TEST_CASE("parseAddress: bad ports and missing ports", "[runtime_config][address]") {
  for (const char* bad : {"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:-1",
                          "127.0.0.1:http0", "127.0.0.1:", "[::1]:", "[::1]:abc"}) {
    INFO(bad);
    sockaddr_storage ss{};
    socklen_t len = 0;
    const absl::Status st = parseAddress(bad, &ss, &len);
    CHECK_FALSE(st.ok());
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(st.message()), Catch::Contains(bad));
  }
  for (const char* bad : {"127.0.0.1", "localhost", "", "[::1]", "[::1]80", "[::1"}) {
    INFO(bad);
    sockaddr_storage ss{};
    socklen_t len = 0;
    const absl::Status st = parseAddress(bad, &ss, &len);
    CHECK_FALSE(st.ok());
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("parseAddress: unresolvable hosts", "[runtime_config][address]") {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const absl::Status st = parseAddress("999.1.1.1:80", &ss, &len);
  CHECK_FALSE(st.ok());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("formatAddress: round trip", "[runtime_config][address]") {
  for (const char* a : {"127.0.0.1:8080", "0.0.0.0:0", "10.20.30.40:65535", "[::1]:80", "[::]:0",
                        "[2001:db8::1]:443", "[fe80::1:2]:1"}) {
    INFO(a);
    sockaddr_storage ss{};
    socklen_t len = 0;
    REQUIRE(parseAddress(a, &ss, &len).ok());
    CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&ss)) == a);
  }
  sockaddr_storage unknown{};
  unknown.ss_family = AF_UNIX;
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&unknown)) == "unknown");
}

TEST_CASE("retired config generations are freed on the reaper thread", "[runtime_config]") {
  std::thread::id ran_on;
  int nice_there = -100;
  ConfigReaper::retire([&ran_on, &nice_there] {
    ran_on = std::this_thread::get_id();
    nice_there = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
  });
  ConfigReaper::flush();
  CHECK(ran_on != std::thread::id());
  CHECK(ran_on != std::this_thread::get_id());
  CHECK(nice_there >= 10);  // below the worker loops (lowerThreadPriority)

  // A compiled config dropped here is destroyed there: counted live until the reaper ran.
  const int64_t before = RuntimeConfig::liveGenerations();
  const uint64_t done_before = ConfigReaper::completed();
  {
    auto compiled = compileConfig(parseJson(validConfigJson()));
    REQUIRE(compiled.ok());
    CHECK(RuntimeConfig::liveGenerations() == before + 1);
  }
  ConfigReaper::flush();
  CHECK(ConfigReaper::completed() == done_before + 1);
  CHECK(RuntimeConfig::liveGenerations() == before);
}

} // namespace
} // namespace gw::server
