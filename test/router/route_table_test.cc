#include <memory>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/v1/config.pb.h"
#include "absl/strings/match.h"
#include "google/protobuf/text_format.h"
#include "source/router/route_table.h"

namespace gw::router {
namespace {

using gateway::v1::Listener;

Listener parseListener(const std::string& text) {
  Listener l;
  INFO(text);
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &l));
  return l;
}

std::unique_ptr<RouteTable> table(const std::string& text) {
  auto t = RouteTable::create(parseListener(text));
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  return std::move(*t);
}

// The error message create() returns for `text`.
std::string createError(const std::string& text) {
  auto t = RouteTable::create(parseListener(text));
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

http::RequestHead request(const std::string& path, const std::string& host = "example.com",
                          const std::string& method = "GET", const std::string& query = "") {
  http::RequestHead h;
  h.method = method;
  h.path = path;
  h.target = query.empty() ? path : path + "?" + query;
  h.query = query;
  h.host = host;
  return h;
}

// Name of the matched route, or "" when none matched.
std::string routeName(const RouteTable& t, const http::RequestHead& h) {
  const MatchResult r = t.match(h);
  return r.route == nullptr ? "" : r.route->name();
}

std::string routeName(const RouteTable& t, const std::string& path,
                      const std::string& host = "example.com") {
  return routeName(t, request(path, host));
}

// One vhost "*" with the given routes.
std::string anyHost(const std::string& routes) {
  return "virtual_hosts { name: 'all' domains: '*' " + routes + " }";
}

TEST_CASE("route table: virtual host precedence exact > longest suffix > *", "[route_table]") {
  auto t = table(R"(
    virtual_hosts { name: 'any' domains: '*' routes { name: 'any' match { prefix: '/' } } }
    virtual_hosts { name: 'ex' domains: '*.example.com'
                    routes { name: 'suffix' match { prefix: '/' } } }
    virtual_hosts { name: 'api' domains: '*.api.example.com'
                    routes { name: 'longer-suffix' match { prefix: '/' } } }
    virtual_hosts { name: 'exact' domains: 'v1.api.example.com' domains: 'other.test'
                    routes { name: 'exact' match { prefix: '/' } } }
  )");
  CHECK(routeName(*t, "/", "v1.api.example.com") == "exact");
  CHECK(routeName(*t, "/", "other.test") == "exact");
  CHECK(routeName(*t, "/", "v2.api.example.com") == "longer-suffix");
  CHECK(routeName(*t, "/", "a.b.api.example.com") == "longer-suffix");
  CHECK(routeName(*t, "/", "www.example.com") == "suffix");
  CHECK(routeName(*t, "/", "api.example.com") == "suffix");  // "*.api..." needs a label before
  CHECK(routeName(*t, "/", "example.com") == "any");         // "*.example.com" needs a label
  CHECK(routeName(*t, "/", "unrelated.org") == "any");
  CHECK(routeName(*t, "/", "") == "any");
}

TEST_CASE("route table: host is case-insensitive and its port is ignored", "[route_table]") {
  auto t = table(R"(
    virtual_hosts { name: 'api' domains: 'API.Example.com' domains: '*.Svc.Local'
                    domains: '[::1]' routes { name: 'api' match { prefix: '/' } } }
  )");
  CHECK(routeName(*t, "/", "api.example.com") == "api");
  CHECK(routeName(*t, "/", "Api.EXAMPLE.com") == "api");
  CHECK(routeName(*t, "/", "api.example.com:8080") == "api");
  CHECK(routeName(*t, "/", "API.example.com:443") == "api");
  CHECK(routeName(*t, "/", "x.svc.local:80") == "api");
  CHECK(routeName(*t, "/", "X.SVC.LOCAL") == "api");
  CHECK(routeName(*t, "/", "[::1]:8080") == "api");
  CHECK(routeName(*t, "/", "[::1]") == "api");
  CHECK(routeName(*t, "/", "other.example.com").empty());  // no "*" vhost: no match
  CHECK(routeName(*t, "/", "api.example.com.evil").empty());
}

TEST_CASE("route table: exact path", "[route_table]") {
  auto t = table(anyHost("routes { name: 'health' match { path: '/healthz' } }"));
  CHECK(routeName(*t, "/healthz") == "health");
  CHECK(routeName(*t, "/healthz/").empty());
  CHECK(routeName(*t, "/healthzz").empty());
  CHECK(routeName(*t, "/Healthz").empty());
}

TEST_CASE("route table: prefix", "[route_table]") {
  auto t = table(anyHost("routes { name: 'orders' match { prefix: '/api/orders/' } }"));
  CHECK(routeName(*t, "/api/orders/") == "orders");
  CHECK(routeName(*t, "/api/orders/42") == "orders");
  CHECK(routeName(*t, "/api/orders").empty());
  CHECK(routeName(*t, "/api/Orders/1").empty());
}

TEST_CASE("route table: regex path is a full match", "[route_table]") {
  auto t = table(anyHost(R"(routes { name: 'items' match { regex: '/items/[0-9]+' } })"));
  CHECK(routeName(*t, "/items/42") == "items");
  CHECK(routeName(*t, "/items/42/x").empty());
  CHECK(routeName(*t, "/v1/items/42").empty());
  CHECK(routeName(*t, "/items/").empty());
}

TEST_CASE("route table: path templates with captures", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'profile' match { path_template: '/api/users/{id}/profile' } }
    routes { name: 'pair' match { path_template: '/api/{kind}/*/{sub_id}' } }
    routes { name: 'files' match { path_template: '/files/**' } }
    routes { name: 'root' match { path_template: '/' } }
  )"));
  MatchResult r = t->match(request("/api/users/42/profile"));
  REQUIRE(r.route != nullptr);
  CHECK(r.route->name() == "profile");
  REQUIRE(r.captures.size() == 1);
  CHECK(r.captures[0] == std::make_pair(std::string("id"), std::string("42")));

  r = t->match(request("/api/orders/7/x9"));
  REQUIRE(r.route != nullptr);
  CHECK(r.route->name() == "pair");
  REQUIRE(r.captures.size() == 2);
  CHECK(r.captures[0] == std::make_pair(std::string("kind"), std::string("orders")));
  CHECK(r.captures[1] == std::make_pair(std::string("sub_id"), std::string("x9")));

  // A capture or '*' is exactly one non-empty segment.
  CHECK(routeName(*t, "/api/users/42/profile/x").empty());
  CHECK(routeName(*t, "/api/users/42").empty());
  CHECK(routeName(*t, "/api/a/b").empty());
  CHECK(routeName(*t, "/api/users//profile").empty());

  // '**' matches any remainder, including an empty one, after the slash.
  CHECK(routeName(*t, "/files/") == "files");
  CHECK(routeName(*t, "/files/a") == "files");
  CHECK(routeName(*t, "/files/a/b/c.txt") == "files");
  CHECK(routeName(*t, "/files").empty());
  CHECK(routeName(*t, "/filesystem/a").empty());

  CHECK(routeName(*t, "/") == "root");

  r = t->match(request("/files/a"));
  CHECK(r.captures.empty());
}

TEST_CASE("route table: captures of a route that fails later are not reported", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'post' match { path_template: '/u/{id}' methods: 'POST' } }
    routes { name: 'other' match { prefix: '/' } }
  )"));
  const MatchResult r = t->match(request("/u/1"));
  REQUIRE(r.route != nullptr);
  CHECK(r.route->name() == "other");
  CHECK(r.captures.empty());
}

TEST_CASE("route table: methods", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'write' match { prefix: '/' methods: 'POST' methods: 'put' } }
    routes { name: 'any' match { prefix: '/' } }
  )"));
  CHECK(routeName(*t, request("/x", "h", "POST")) == "write");
  CHECK(routeName(*t, request("/x", "h", "PUT")) == "write");  // config is upper-cased
  CHECK(routeName(*t, request("/x", "h", "GET")) == "any");
  CHECK(routeName(*t, request("/x", "h", "DELETE")) == "any");
}

TEST_CASE("route table: header matchers", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'exact'
             match { prefix: '/exact' headers { name: 'X-Env' value { exact: 'prod' } } } }
    routes { name: 'prefix'
             match { prefix: '/prefix' headers { name: 'x-ver' value { prefix: 'v2' } } } }
    routes { name: 'regex'
             match { prefix: '/regex' headers { name: 'x-id' value { regex: '[0-9]+' } } } }
    routes { name: 'present'
             match { prefix: '/present' headers { name: 'x-debug' value { present: true } } } }
    routes { name: 'unset' match { prefix: '/unset' headers { name: 'x-debug' } } }
    routes { name: 'absent'
             match { prefix: '/absent' headers { name: 'x-debug' value { present: false } } } }
    routes { name: 'not-prod'
             match { prefix: '/not'
                     headers { name: 'x-env' value { exact: 'prod' invert: true } } } }
    routes { name: 'not-present'
             match { prefix: '/np'
                     headers { name: 'x-debug' value { present: true invert: true } } } }
    routes { name: 'two' match { prefix: '/two' headers { name: 'a' value { exact: '1' } }
                                                 headers { name: 'b' value { exact: '2' } } } }
  )"));
  auto req = [](const std::string& path, std::vector<std::pair<std::string, std::string>> headers) {
    http::RequestHead h = request(path);
    for (const auto& [k, v] : headers) {
      h.headers.add(k, v);
    }
    return h;
  };
  CHECK(routeName(*t, req("/exact", {{"x-env", "prod"}})) == "exact");
  CHECK(routeName(*t, req("/exact", {{"x-env", "Prod"}})).empty());
  CHECK(routeName(*t, req("/exact", {{"x-env", "prod2"}})).empty());
  CHECK(routeName(*t, req("/exact", {})).empty());

  CHECK(routeName(*t, req("/prefix", {{"x-ver", "v2.1"}})) == "prefix");
  CHECK(routeName(*t, req("/prefix", {{"x-ver", "v1"}})).empty());

  CHECK(routeName(*t, req("/regex", {{"x-id", "123"}})) == "regex");
  CHECK(routeName(*t, req("/regex", {{"x-id", "123a"}})).empty());  // full match

  CHECK(routeName(*t, req("/present", {{"x-debug", ""}})) == "present");
  CHECK(routeName(*t, req("/present", {})).empty());
  CHECK(routeName(*t, req("/unset", {{"x-debug", "1"}})) == "unset");
  CHECK(routeName(*t, req("/unset", {})).empty());
  CHECK(routeName(*t, req("/absent", {})) == "absent");
  CHECK(routeName(*t, req("/absent", {{"x-debug", "1"}})).empty());

  CHECK(routeName(*t, req("/not", {{"x-env", "dev"}})) == "not-prod");
  CHECK(routeName(*t, req("/not", {})) == "not-prod");  // invert negates the whole matcher
  CHECK(routeName(*t, req("/not", {{"x-env", "prod"}})).empty());
  CHECK(routeName(*t, req("/np", {})) == "not-present");
  CHECK(routeName(*t, req("/np", {{"x-debug", "1"}})).empty());

  CHECK(routeName(*t, req("/two", {{"a", "1"}, {"b", "2"}})) == "two");
  CHECK(routeName(*t, req("/two", {{"a", "1"}})).empty());
  CHECK(routeName(*t, req("/two", {{"b", "2"}})).empty());

  // A repeated header is matched as its values joined with ','.
  CHECK(routeName(*t, req("/exact", {{"x-env", "prod"}, {"x-env", "dev"}})).empty());
  CHECK(routeName(*t, req("/regex", {{"x-id", "1"}, {"x-id", "2"}})).empty());
  CHECK(routeName(*t, req("/prefix", {{"x-ver", "v2"}, {"x-ver", "v3"}})) == "prefix");
}

TEST_CASE("route table: query parameter matchers", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'exact'
             match { prefix: '/exact' query_params { name: 'v' value { exact: 'a b' } } } }
    routes { name: 'regex'
             match { prefix: '/regex' query_params { name: 'id' value { regex: '[0-9]+' } } } }
    routes { name: 'prefix'
             match { prefix: '/prefix' query_params { name: 'q' value { prefix: 'abc' } } } }
    routes { name: 'present'
             match { prefix: '/present' query_params { name: 'debug' value { present: true } } } }
    routes { name: 'absent'
             match { prefix: '/absent'
                     query_params { name: 'debug' value { present: false } } } }
    routes { name: 'not'
             match { prefix: '/not' query_params { name: 'v' value { exact: '1' invert: true } } } }
    routes { name: 'key'
             match { prefix: '/key' query_params { name: 'a b' value { exact: 'c' } } } }
  )"));
  auto q = [](const std::string& path, const std::string& query) {
    return request(path, "h", "GET", query);
  };
  CHECK(routeName(*t, q("/exact", "v=a%20b")) == "exact");
  CHECK(routeName(*t, q("/exact", "x=1&v=a%20b&y=2")) == "exact");
  CHECK(routeName(*t, q("/exact", "v=a+b")).empty());  // only percent-decoding
  CHECK(routeName(*t, q("/exact", "v=a%20bc")).empty());
  CHECK(routeName(*t, q("/exact", "vv=a%20b")).empty());
  CHECK(routeName(*t, q("/exact", "v=a%20b&v=x")) == "exact");  // the first value counts
  CHECK(routeName(*t, q("/exact", "v=x&v=a%20b")).empty());

  CHECK(routeName(*t, q("/regex", "id=42")) == "regex");
  CHECK(routeName(*t, q("/regex", "id=42x")).empty());
  CHECK(routeName(*t, q("/regex", "id=%34%32")) == "regex");

  CHECK(routeName(*t, q("/prefix", "q=abcdef")) == "prefix");
  CHECK(routeName(*t, q("/prefix", "q=ab")).empty());

  CHECK(routeName(*t, q("/present", "debug")) == "present");
  CHECK(routeName(*t, q("/present", "a=1&debug=")) == "present");
  CHECK(routeName(*t, q("/present", "a=1&&debug=0")) == "present");
  CHECK(routeName(*t, q("/present", "debugx=1")).empty());
  CHECK(routeName(*t, q("/present", "")).empty());
  CHECK(routeName(*t, q("/absent", "")) == "absent");
  CHECK(routeName(*t, q("/absent", "x=debug")) == "absent");
  CHECK(routeName(*t, q("/absent", "debug=1")).empty());

  CHECK(routeName(*t, q("/not", "v=2")) == "not");
  CHECK(routeName(*t, q("/not", "")) == "not");
  CHECK(routeName(*t, q("/not", "v=1")).empty());

  CHECK(routeName(*t, q("/key", "a%20b=c")) == "key");  // keys are decoded too
}

TEST_CASE("route table: first match wins, in declaration order", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'first' match { prefix: '/api/' } }
    routes { name: 'second' match { prefix: '/api/users/' } }
    routes { name: 'third' match { prefix: '/' } }
  )"));
  CHECK(routeName(*t, "/api/users/1") == "first");
  CHECK(routeName(*t, "/other") == "third");

  auto t2 = table(anyHost(R"(
    routes { name: 'none' match { path: '/nothing' } }
  )"));
  CHECK(routeName(*t2, "/other").empty());
}

TEST_CASE("route table: prefix rewrite", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'v2' match { prefix: '/api/v1/' } prefix_rewrite: '/v2/' }
    routes { name: 'strip' match { prefix: '/svc/' } prefix_rewrite: '/' }
    routes { name: 'plain' match { prefix: '/' } }
  )"));
  const auto routes = t->allRoutes();
  REQUIRE(routes.size() == 3);
  CHECK(routes[0]->rewritePath("/api/v1/users?x") == "/v2/users?x");
  CHECK(routes[0]->rewritePath("/api/v1/") == "/v2/");
  CHECK(routes[1]->rewritePath("/svc/a/b") == "/a/b");
  CHECK(routes[1]->rewritePath("/other") == "/other");  // prefix not present: unchanged
  CHECK(routes[2]->rewritePath("/a/b") == "/a/b");
}

TEST_CASE("route table: regex rewrite", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'swap' match { prefix: '/u/' }
             regex_rewrite { pattern: '^/u/([^/]+)/([^/]+)$' substitution: '/users/\\2/\\1' } }
    routes { name: 'global' match { prefix: '/' }
             regex_rewrite { pattern: 'a' substitution: 'b' } }
    routes { name: 'strip' match { regex: '/x/.*' }
             regex_rewrite { pattern: '^/x' substitution: '' } }
  )"));
  const auto routes = t->allRoutes();
  REQUIRE(routes.size() == 3);
  CHECK(routes[0]->rewritePath("/u/1/2") == "/users/2/1");
  CHECK(routes[0]->rewritePath("/u/1") == "/u/1");  // no match: unchanged
  CHECK(routes[1]->rewritePath("/aaa/banana") == "/bbb/bbnbnb");
  CHECK(routes[2]->rewritePath("/x/y") == "/y");
  CHECK(routes[2]->rewritePath("/x") == "/");  // an empty result becomes "/"
}

TEST_CASE("route table: timeout", "[route_table]") {
  auto t = table(anyHost(R"(
    routes { name: 'default' match { prefix: '/a' } }
    routes { name: 'five' match { prefix: '/b' } timeout { seconds: 5 } }
    routes { name: 'off' match { prefix: '/c' } timeout { } }
    routes { name: 'ms' match { prefix: '/d' } timeout { seconds: 1 nanos: 250000000 } }
  )"));
  const auto routes = t->allRoutes();
  REQUIRE(routes.size() == 4);
  CHECK(routes[0]->timeout() == std::chrono::milliseconds(15000));
  CHECK(routes[1]->timeout() == std::chrono::milliseconds(5000));
  CHECK(routes[2]->timeout() == std::chrono::milliseconds(0));
  CHECK(routes[3]->timeout() == std::chrono::milliseconds(1250));
}

TEST_CASE("route table: allRoutes lists every route in order with its proto", "[route_table]") {
  auto t = table(R"(
    virtual_hosts { name: 'a' domains: 'a.test'
                    routes { name: 'r1' match { prefix: '/' } max_request_body_bytes: 10 }
                    routes { name: 'r2' match { prefix: '/' } } }
    virtual_hosts { name: 'b' domains: '*' routes { name: 'r3' match { prefix: '/' } } }
  )");
  const auto routes = t->allRoutes();
  REQUIRE(routes.size() == 3);
  CHECK(routes[0]->name() == "r1");
  CHECK(routes[0]->maxRequestBodyBytes() == 10);
  CHECK(routes[1]->name() == "r2");
  CHECK(routes[2]->name() == "r3");
  // match() returns the same objects, so attachments reach the data path.
  routes[2]->setAttachment(std::make_shared<int>(7));
  const MatchResult r = t->match(request("/", "b.test"));
  REQUIRE(r.route == routes[2]);
  CHECK(*static_cast<const int*>(r.route->attachment()) == 7);
}

TEST_CASE("route table: invalid regexes name the field", "[route_table]") {
  CHECK(createError(anyHost(R"(
    routes { match { prefix: '/' } }
    routes { match { prefix: '/' } }
    routes { match { regex: '(abc' } }
  )")) == "virtual_hosts[0].routes[2].match.regex: invalid RE2: missing ): (abc");
  CHECK(absl::StartsWith(createError(anyHost(R"(routes { match { prefix: '/' headers { name: 'a' }
                                      headers { name: 'b' value { regex: '[' } } } })")),
                         "virtual_hosts[0].routes[0].match.headers[1].value.regex: invalid RE2: "));
  CHECK(absl::StartsWith(
      createError(anyHost(R"(
        routes { match { prefix: '/' query_params { name: 'a' value { regex: '*' } } } })")),
      "virtual_hosts[0].routes[0].match.query_params[0].value.regex: invalid RE2: "));
  CHECK(absl::StartsWith(createError("virtual_hosts { domains: 'a' } " + anyHost(R"(
        routes { match { prefix: '/' } regex_rewrite { pattern: '(' substitution: 'x' } })")),
                         "virtual_hosts[1].routes[0].regex_rewrite.pattern: invalid RE2: "));
  CHECK(absl::StartsWith(createError(anyHost(R"(
        routes { match { prefix: '/' } regex_rewrite { pattern: '(a)' substitution: '\\2' } })")),
                         "virtual_hosts[0].routes[0].regex_rewrite.substitution: "));
}

TEST_CASE("route table: invalid templates name the field", "[route_table]") {
  auto templateError = [](const std::string& tmpl) {
    return createError(
        anyHost("routes { match { prefix: '/' } } "
                "routes { match { path_template: '" +
                tmpl + "' } }"));
  };
  const std::string prefix =
      "virtual_hosts[0].routes[1].match.path_template: invalid path template";
  CHECK(absl::StartsWith(templateError("api/{id}"), prefix));
  CHECK_THAT(templateError("api/{id}"), Catch::Contains("must start with '/'"));
  CHECK_THAT(templateError("/a/**/b"), Catch::Contains("'**' must be the last segment"));
  CHECK_THAT(templateError("/a/{id"), Catch::Contains("unterminated capture"));
  CHECK_THAT(templateError("/a/{}"), Catch::Contains("bad capture name"));
  CHECK_THAT(templateError("/a/{1x}"), Catch::Contains("bad capture name"));
  CHECK_THAT(templateError("/a/{id}/{id}"), Catch::Contains("duplicate capture name 'id'"));
  CHECK_THAT(templateError("/a/v{id}"), Catch::Contains("mixes a literal"));
  CHECK_THAT(templateError("/a/x*"), Catch::Contains("mixes a literal"));
  CHECK_THAT(templateError("/a/../b"), Catch::Contains("dot segments"));
  CHECK_THAT(templateError("/a//b"), Catch::Contains("empty segment"));
  CHECK_THAT(templateError("/a?x"), Catch::Contains("'?' or '#'"));
  CHECK(templateError("") ==
        "virtual_hosts[0].routes[1].match.path_template: invalid path template '': must start "
        "with '/'");
}

TEST_CASE("route table: other config errors", "[route_table]") {
  CHECK(createError("virtual_hosts { name: 'x' }") ==
        "virtual_hosts[0].domains: at least one domain is required (\"*\" for any)");
  CHECK(createError("virtual_hosts { domains: 'a' domains: '' }") ==
        "virtual_hosts[0].domains[1]: must not be empty");
  CHECK(createError("virtual_hosts { domains: 'a.com' } virtual_hosts { domains: 'A.com' }") ==
        "virtual_hosts[1].domains[0]: duplicate domain 'a.com' (also virtual_hosts[0].domains[0])");
  CHECK(createError("virtual_hosts { domains: '*' } virtual_hosts { domains: '*' }") ==
        "virtual_hosts[1].domains[0]: duplicate domain '*' (also virtual_hosts[0].domains[0])");
  CHECK_THAT(createError("virtual_hosts { domains: 'a.*' }"),
             Catch::StartsWith("virtual_hosts[0].domains[0]: '*' is only allowed"));
  CHECK(createError(anyHost("routes { match { path: 'x' } }")) ==
        "virtual_hosts[0].routes[0].match.path: must start with '/'");
  CHECK(createError(anyHost("routes { match { prefix: '' } }")) ==
        "virtual_hosts[0].routes[0].match.prefix: must start with '/'");
  CHECK(createError(anyHost("routes { }")) ==
        "virtual_hosts[0].routes[0].match: one of path, prefix, path_template or regex is "
        "required");
  CHECK(createError(anyHost("routes { match { prefix: '/' methods: '' } }")) ==
        "virtual_hosts[0].routes[0].match.methods[0]: must not be empty");
  CHECK(createError(anyHost("routes { match { prefix: '/' headers { value { exact: 'x' } } } }")) ==
        "virtual_hosts[0].routes[0].match.headers[0].name: must not be empty");
  CHECK(createError(anyHost("routes { match { prefix: '/' query_params { } } }")) ==
        "virtual_hosts[0].routes[0].match.query_params[0].name: must not be empty");
  CHECK(createError(anyHost("routes { match { path: '/a' } prefix_rewrite: '/b' }")) ==
        "virtual_hosts[0].routes[0].prefix_rewrite: only allowed with match.prefix");
  CHECK(createError(anyHost("routes { match { prefix: '/a' } prefix_rewrite: 'b' }")) ==
        "virtual_hosts[0].routes[0].prefix_rewrite: must start with '/'");
  CHECK(createError(anyHost("routes { match { prefix: '/a' } prefix_rewrite: '/b' "
                            "regex_rewrite { pattern: 'a' } }")) ==
        "virtual_hosts[0].routes[0].regex_rewrite: cannot be combined with prefix_rewrite");
  CHECK(createError(anyHost("routes { match { prefix: '/a' } regex_rewrite { } }")) ==
        "virtual_hosts[0].routes[0].regex_rewrite.pattern: must not be empty");
  CHECK(createError(anyHost("routes { match { prefix: '/a' } timeout { seconds: -1 } }")) ==
        "virtual_hosts[0].routes[0].timeout: must not be negative");
  // An empty listener is valid and matches nothing.
  auto t = table("");
  CHECK(t->allRoutes().empty());
  CHECK(t->match(request("/")).route == nullptr);
}

TEST_CASE("route table: trace explains every route tried", "[route_table]") {
  auto t = table(R"(
    virtual_hosts { name: 'other' domains: 'other.test' routes { name: 'o' match { prefix: '/' } } }
    virtual_hosts { name: 'demo' domains: '*'
      routes { name: 'orders' match { prefix: '/api/orders/' } }
      routes { name: 'payments' match { prefix: '/api/' methods: 'GET' methods: 'POST' } }
      routes { name: 'beta'
               match { prefix: '/api/' headers { name: 'x-beta' value { exact: '1' } } } }
      routes { name: 'v'
               match { prefix: '/api/' query_params { name: 'v' value { present: true } } } }
      routes { match { path_template: '/api/users/{id}' } }
      routes { name: 'never' match { prefix: '/' } }
    }
  )");
  http::RequestHead h = request("/api/users/42", "Demo.Example.com:8080", "DELETE");
  h.headers.add("x-beta", "0");
  MatchTrace trace;
  const MatchResult r = t->match(h, &trace);
  REQUIRE(r.route != nullptr);
  CHECK(r.route == t->allRoutes()[5]);
  CHECK(trace.virtual_host == "demo");
  const std::vector<std::string> expected = {
      "host 'demo.example.com' -> virtual host 'demo' (domain '*')",
      "route 'orders' (prefix /api/orders/): path '/api/users/42' does not match",
      "route 'payments' (prefix /api/): method 'DELETE' not in [GET, POST]",
      "route 'beta' (prefix /api/): header 'x-beta' = '0' does not satisfy exact '1'",
      "route 'v' (prefix /api/): query parameter 'v' (absent) does not satisfy present",
      "unnamed route #4 (template /api/users/{id}): matched {id='42'}",
  };
  CHECK(trace.lines == expected);

  // The same request without a trace gives the same answer.
  const MatchResult plain = t->match(h);
  CHECK(plain.route == r.route);
  CHECK(plain.captures == r.captures);
}

TEST_CASE("route table: trace of a rewrite, no match and no virtual host", "[route_table]") {
  auto t = table(R"(
    virtual_hosts { name: 'api' domains: '*.example.com'
      routes { name: 'v1' match { prefix: '/v1/' } prefix_rewrite: '/' }
      routes { name: 'neg'
               match { path: '/x' headers { name: 'x-env' value { prefix: 'pr' invert: true } } } }
    }
  )");
  MatchTrace trace;
  MatchResult r = t->match(request("/v1/a", "www.example.com"), &trace);
  REQUIRE(r.route != nullptr);
  CHECK(trace.lines == std::vector<std::string>{
                           "host 'www.example.com' -> virtual host 'api' (domain '*.example.com')",
                           "route 'v1' (prefix /v1/): matched, upstream path '/a'"});

  trace = MatchTrace();
  http::RequestHead h = request("/x", "www.example.com");
  h.headers.add("x-env", "prod");
  r = t->match(h, &trace);
  CHECK(r.route == nullptr);
  CHECK(trace.virtual_host == "api");
  CHECK(trace.lines == std::vector<std::string>{
                           "host 'www.example.com' -> virtual host 'api' (domain '*.example.com')",
                           "route 'v1' (prefix /v1/): path '/x' does not match",
                           "route 'neg' (path /x): header 'x-env' = 'prod' does not satisfy not "
                           "prefix 'pr'",
                           "no route of virtual host 'api' matches"});

  trace = MatchTrace();
  r = t->match(request("/v1/a", "example.org"), &trace);
  CHECK(r.route == nullptr);
  CHECK(trace.virtual_host.empty());
  CHECK(trace.lines == std::vector<std::string>{"host 'example.org': no virtual host matches"});
}

// Large route lists are matched through the first-segment index; the explain path (a trace)
// always scans linearly. Both must pick the same route for every request.
TEST_CASE("indexed matching picks the same route as a linear scan", "[router]") {
  std::mt19937 rng(42);
  const std::vector<std::string> segs = {"api", "apis", "users", "u", "x", ""};
  auto seg = [&] { return segs[rng() % segs.size()]; };
  for (int round = 0; round < 20; round++) {
    std::string text = "virtual_hosts { name: \"all\" domains: \"*\"\n";
    const int n = 20 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; i++) {
      std::string match;
      switch (rng() % 7) {
        case 0: match = "path: \"/" + seg() + "\""; break;
        case 1: match = "path: \"/" + seg() + "/" + seg() + "\""; break;
        case 2: match = "prefix: \"/" + seg() + "/\""; break;
        case 3: match = "prefix: \"/" + seg() + "\""; break;  // unpinned: "/api" matches "/apis"
        case 4: match = "path_template: \"/" + seg() + "/{id}\""; break;
        case 5: match = "path_template: \"/*/" + seg() + "\""; break;
        default: match = "regex: \"/(" + seg() + "|u)/.*\""; break;
      }
      if (match.find("path_template: \"//") != std::string::npos ||
          match.find("path_template: \"/*//") != std::string::npos) {
        match = "prefix: \"/z/\"";  // empty template segments are invalid
      }
      const std::string methods = rng() % 5 == 0 ? " methods: \"POST\"" : "";
      text += "routes { name: \"r" + std::to_string(i) + "\" match { " + match + methods +
              " } }\n";
    }
    text += "}\n";
    auto t = table(text);
    for (int k = 0; k < 300; k++) {
      std::string path = "/" + seg();
      for (int d = static_cast<int>(rng() % 3); d > 0; d--) {
        path += "/" + seg();
      }
      const auto h = request(path, "example.com", rng() % 4 == 0 ? "POST" : "GET");
      MatchTrace trace;
      const MatchResult linear = t->match(h, &trace);
      const MatchResult fast = t->match(h);
      INFO(text << "\npath " << path << " " << h.method);
      CHECK(fast.route == linear.route);
      CHECK(fast.captures == linear.captures);
    }
  }
}

TEST_CASE("10,000 prefix routes: the last one and the fallback are found", "[router]") {
  std::string text = "virtual_hosts { name: \"all\" domains: \"*\"\n";
  for (int i = 0; i < 10000; i++) {
    text += "routes { name: \"r" + std::to_string(i) + "\" match { prefix: \"/svc" +
            std::to_string(i) + "/\" } }\n";
  }
  text += "routes { name: \"fallback\" match { prefix: \"/\" } }\n}\n";
  auto t = table(text);
  CHECK(routeName(*t, "/svc9999/x") == "r9999");
  CHECK(routeName(*t, "/svc0/") == "r0");
  CHECK(routeName(*t, "/svc9999") == "fallback");  // prefix "/svc9999/" needs the slash
  CHECK(routeName(*t, "/other") == "fallback");
  CHECK(routeName(*t, "/") == "fallback");
}

} // namespace
} // namespace gw::router
