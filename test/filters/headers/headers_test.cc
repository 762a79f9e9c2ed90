// `headers`: request / response / error header operations, value templates, and config
// validation (names, values, gateway-managed headers).
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "google/protobuf/struct.pb.h"
#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::checkNoSideEffects;
using test::createError;
using test::createOk;
using test::factory;
using test::FakeRequestContext;
using test::instanceOf;
using test::values;

// ---------------------------------------------------------------------------------------------
// headers: operations

TEST_CASE("headers: request_add keeps existing values", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_add": [{"name": "X-Tag", "value": "two"}]})");
  FakeRequestContext ctx;
  ctx.request().headers.add("x-tag", "one");
  ctx.request().headers.add("accept", "*/*");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "x-tag") == std::vector<std::string>{"one", "two"});
  CHECK(values(ctx.request().headers, "accept") == std::vector<std::string>{"*/*"});
  CHECK(ctx.response().headers.size() == 0);
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: request_add adds a header that was absent", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_add": [{"name": "via", "value": "1.1 gateway"},
                                                   {"name": "via", "value": "again"}]})");
  FakeRequestContext ctx;
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "via") == std::vector<std::string>{"1.1 gateway", "again"});
}

TEST_CASE("headers: request_set replaces every existing value", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_set": [{"name": "X-Forwarded-Proto",
                                                    "value": "https"}]})");
  FakeRequestContext ctx;
  ctx.request().headers.add("x-forwarded-proto", "http");
  ctx.request().headers.add("accept", "*/*");
  ctx.request().headers.add("x-forwarded-proto", "ftp");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "x-forwarded-proto") == std::vector<std::string>{"https"});
  CHECK(values(ctx.request().headers, "accept") == std::vector<std::string>{"*/*"});

  // Also sets a header that was absent.
  FakeRequestContext empty;
  CHECK(f.onRequestHeaders(empty) == FilterStatus::Continue);
  CHECK(values(empty.request().headers, "x-forwarded-proto") == std::vector<std::string>{"https"});
}

TEST_CASE("headers: request_remove removes every value, case-insensitively", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_remove": ["X-Internal-Debug", "absent"]})");
  FakeRequestContext ctx;
  ctx.request().headers.add("x-internal-debug", "1");
  ctx.request().headers.add("accept", "*/*");
  ctx.request().headers.add("x-internal-debug", "2");
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK_FALSE(ctx.request().headers.has("x-internal-debug"));
  CHECK(ctx.request().headers.size() == 1);
  CHECK(values(ctx.request().headers, "accept") == std::vector<std::string>{"*/*"});
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: request ops leave the response alone and vice versa", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_set": [{"name": "x-req", "value": "r"}],
                                   "response_set": [{"name": "x-resp", "value": "s"}]})");
  FakeRequestContext ctx;
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "x-req") == std::vector<std::string>{"r"});
  CHECK_FALSE(ctx.request().headers.has("x-resp"));
  CHECK(ctx.response().headers.size() == 0);

  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.response().headers, "x-resp") == std::vector<std::string>{"s"});
  CHECK_FALSE(ctx.response().headers.has("x-req"));
  CHECK(ctx.request().headers.size() == 1);
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: response_add / response_set / response_remove in onResponseHeaders",
          "[filters][headers]") {
  auto c = createOk("headers", R"({
      "response_add": [{"name": "Cache-Control", "value": "no-store"}],
      "response_set": [{"name": "Server", "value": "gateway"}],
      "response_remove": ["X-Powered-By"]})");
  FakeRequestContext ctx;
  auto& h = ctx.response().headers;
  h.add("cache-control", "private");
  h.add("server", "nginx");
  h.add("x-powered-by", "php");
  h.add("server", "apache");
  h.add("x-powered-by", "asp");
  h.add("content-type", "text/html");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  // Not touched in the request stage.
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(h.size() == 6);
  CHECK(ctx.request().headers.size() == 0);

  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(h, "cache-control") == std::vector<std::string>{"private", "no-store"});
  CHECK(values(h, "server") == std::vector<std::string>{"gateway"});
  CHECK_FALSE(h.has("x-powered-by"));
  CHECK(values(h, "content-type") == std::vector<std::string>{"text/html"});
  CHECK(ctx.request().headers.size() == 0);
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: onError applies the response ops", "[filters][headers]") {
  auto c = createOk("headers", R"({
      "request_set": [{"name": "x-req", "value": "r"}],
      "response_add": [{"name": "x-error-at", "value": "%START_TIME%"}],
      "response_set": [{"name": "x-gateway", "value": "1"}],
      "response_remove": ["server"]})");
  FakeRequestContext ctx;
  ctx.setError(ErrorInfo::make(ErrorKind::UpstreamConnectFailed, "connect refused"));
  ctx.response().status = 502;
  ctx.response().headers.add("server", "x");
  ctx.response().headers.add("x-gateway", "0");
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onError(ctx) == FilterStatus::Continue);
  const auto& h = ctx.response().headers;
  CHECK(values(h, "x-error-at") == std::vector<std::string>{"2024-06-01T12:00:00Z"});
  CHECK(values(h, "x-gateway") == std::vector<std::string>{"1"});
  CHECK_FALSE(h.has("server"));
  CHECK(ctx.request().headers.size() == 0);  // request ops do not run in the error stage
  CHECK(ctx.response().status == 502);
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: within one filter the order is remove, set, add", "[filters][headers]") {
  auto c = createOk("headers", R"({
      "response_remove": ["x-a"],
      "response_set": [{"name": "x-a", "value": "set"}],
      "response_add": [{"name": "x-a", "value": "added"}]})");
  FakeRequestContext ctx;
  ctx.response().headers.add("x-a", "old");
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.response().headers, "x-a") == std::vector<std::string>{"set", "added"});
}

TEST_CASE("headers: an empty config is a no-op", "[filters][headers]") {
  auto c = createOk("headers", "{}");
  CHECK(c->staticRoute() == nullptr);
  FakeRequestContext ctx;
  ctx.request().headers.add("a", "1");
  ctx.response().headers.add("b", "2");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(f.onError(ctx) == FilterStatus::Continue);
  CHECK(ctx.request().headers.size() == 1);
  CHECK(ctx.response().headers.size() == 1);
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: one shared instance serves every request", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_set": [{"name": "x-id", "value": "%REQUEST_ID%"}]})");
  // Stateless: the data path runs the shared instance and makes nothing per request.
  REQUIRE(c->shared() != nullptr);
  CHECK(c->create() == nullptr);
  FakeRequestContext a;
  FakeRequestContext b;
  CHECK(c->shared()->onRequestHeaders(a) == FilterStatus::Continue);
  CHECK(c->shared()->onRequestHeaders(b) == FilterStatus::Continue);
  CHECK(values(a.request().headers, "x-id") == std::vector<std::string>{"req-0123456789abcdef"});
  CHECK(values(b.request().headers, "x-id") == std::vector<std::string>{"req-0123456789abcdef"});
}

TEST_CASE("headers: explain lists the ops in the order they run", "[filters][headers]") {
  auto c = createOk("headers", R"({
      "request_add": [{"name": "x-c", "value": "1"}],
      "request_set": [{"name": "X-A", "value": "req-%REQUEST_ID%"}],
      "request_remove": ["x-b"],
      "response_remove": ["server"]})");
  http::RequestHead head;
  CHECK(test::explain(*c, head) ==
        "request: remove x-b, set x-a: req-%REQUEST_ID%, add x-c: 1; response: remove server");
  CHECK(test::explain(*createOk("headers", "{}"), head) ==
        "request: no changes; response: no changes");
  CHECK(head.headers.empty());  // explain changes nothing
}

// ---------------------------------------------------------------------------------------------
// headers: value templates

// Renders `value` as a response header through onResponseHeaders.
std::string render(const std::string& value, FakeRequestContext& ctx) {
  google::protobuf::Struct s;
  auto* list = (*s.mutable_fields())["response_set"].mutable_list_value();
  auto* entry = list->add_values()->mutable_struct_value()->mutable_fields();
  (*entry)["name"].set_string_value("x-out");
  (*entry)["value"].set_string_value(value);
  auto c = factory("headers").createConfig(s, {});
  INFO(value << " -> " << c.status().ToString());
  REQUIRE(c.ok());
  ctx.response().headers.clear();
  FilterPtr owned;
  REQUIRE(instanceOf(**c, owned).onResponseHeaders(ctx) == FilterStatus::Continue);
  const std::string* v = ctx.response().headers.get("x-out");
  REQUIRE(v != nullptr);
  return *v;
}

std::string render(const std::string& value) {
  FakeRequestContext ctx;
  ctx.setUpstreamHost("10.0.0.5:8080");
  return render(value, ctx);
}

TEST_CASE("headers: every variable renders", "[filters][headers][template]") {
  CHECK(render("%REQUEST_ID%") == "req-0123456789abcdef");
  CHECK(render("%CLIENT_ADDRESS%") == "192.0.2.7");
  CHECK(render("%ROUTE_NAME%") == "users");
  CHECK(render("%UPSTREAM_HOST%") == "10.0.0.5:8080");
  CHECK(render("%START_TIME%") == "2024-06-01T12:00:00Z");
  CHECK(render("%RESPONSE_TIME_MS%") == "37");
  CHECK(render("%HOST%") == "api.example.com");
  CHECK(render("%METHOD%") == "GET");
  CHECK(render("%PATH%") == "/api/users/42");  // the path, without the query
}

TEST_CASE("headers: variables are evaluated per request", "[filters][headers][template]") {
  FakeRequestContext ctx;
  ctx.request().method = "POST";
  ctx.request().path = "/other";
  ctx.request().host = "b.test";
  ctx.setElapsedMs(0);
  ctx.rematch();  // the unnamed catch-all route
  REQUIRE(ctx.route() != nullptr);
  CHECK(render("%METHOD% %HOST%%PATH% %ROUTE_NAME%|%UPSTREAM_HOST%|%RESPONSE_TIME_MS%", ctx) ==
        "POST b.test/other ||0");
  ctx.setElapsedMs(123456789012LL);
  CHECK(render("%RESPONSE_TIME_MS%", ctx) == "123456789012");
  ctx.setRoute(nullptr);
  CHECK(render("[%ROUTE_NAME%]", ctx) == "[]");
}

TEST_CASE("headers: literals and mixed templates", "[filters][headers][template]") {
  CHECK(render("") == "");
  CHECK(render("plain text") == "plain text");
  CHECK(render("gw;dur=%RESPONSE_TIME_MS%") == "gw;dur=37");
  CHECK(render("%START_TIME% %METHOD% %HOST%%PATH%") ==
        "2024-06-01T12:00:00Z GET api.example.com/api/users/42");
  CHECK(render("<%METHOD%><%METHOD%>") == "<GET><GET>");
}

TEST_CASE("headers: %% is a literal percent sign", "[filters][headers][template]") {
  CHECK(render("%%") == "%");
  CHECK(render("100%%") == "100%");
  CHECK(render("%%%%") == "%%");
  CHECK(render("%%METHOD%%") == "%METHOD%");
  CHECK(render("%METHOD%%%") == "GET%");
  CHECK(render("%%%METHOD%") == "%GET");
  CHECK(render("a%%b%METHOD%c%%d") == "a%bGETc%d");
}

TEST_CASE("headers: unknown and unterminated variables are config errors",
          "[filters][headers][template]") {
  {
    const std::string e =
        createError("headers", R"({"request_set": [{"name": "x-a", "value": "%NOPE%"}]})");
    CHECK_THAT(e, Catch::StartsWith("request_set[0].value: "));
    CHECK_THAT(e, Catch::Contains("NOPE"));
  }
  {
    const std::string e =
        createError("headers", R"({"request_set": [{"name": "x-a", "value": "abc%METHOD"}]})");
    CHECK_THAT(e, Catch::StartsWith("request_set[0].value: "));
    CHECK_THAT(e, Catch::Contains("unterminated"));
  }
  // Variable names are case-sensitive.
  CHECK_THAT(createError("headers", R"({"response_add": [{"name": "x-a", "value": "%method%"}]})"),
             Catch::StartsWith("response_add[0].value: "));
  // A lone '%' and an odd run of them.
  CHECK_THAT(createError("headers", R"({"request_add": [{"name": "x-a", "value": "50%"}]})"),
             Catch::StartsWith("request_add[0].value: "));
  CHECK_THAT(createError("headers", R"({"request_add": [{"name": "x-a", "value": "%%%"}]})"),
             Catch::StartsWith("request_add[0].value: "));
  // The index of the offending entry, in each list.
  CHECK_THAT(createError("headers", R"({"response_set": [{"name": "x-a", "value": "ok"},
                                                         {"name": "x-b", "value": "%X%"}]})"),
             Catch::StartsWith("response_set[1].value: "));
  CHECK_THAT(createError("headers", R"({"response_add": [{"name": "x-a", "value": "%PATH"}]})"),
             Catch::StartsWith("response_add[0].value: "));
}

TEST_CASE("headers: values with control characters are config errors", "[filters][headers]") {
  CHECK_THAT(createError("headers", R"({"request_set": [{"name": "x-a", "value": "a\r\nb: c"}]})"),
             Catch::StartsWith("request_set[0].value: "));
  CHECK_THAT(createError("headers", R"({"response_add": [{"name": "x-a", "value": "a\u0000"}]})"),
             Catch::StartsWith("response_add[0].value: "));
}

// ---------------------------------------------------------------------------------------------
// headers: names

TEST_CASE("headers: invalid header names are rejected with the field path", "[filters][headers]") {
  for (const char* bad : {"bad name", "x:y", "x\\u00e9", "(x)", "a/b", "x@y"}) {
    INFO(bad);
    const std::string name = std::string("\"") + bad + "\"";
    CHECK_THAT(createError("headers", R"({"request_add": [{"name": )" + name + "}]}"),
               Catch::StartsWith("request_add[0].name: "));
    CHECK_THAT(createError("headers", R"({"request_set": [{"name": "ok"}, {"name": )" + name +
                                          "}]}"),
               Catch::StartsWith("request_set[1].name: "));
    CHECK_THAT(createError("headers", R"({"response_add": [{"name": )" + name + "}]}"),
               Catch::StartsWith("response_add[0].name: "));
    CHECK_THAT(createError("headers", R"({"response_set": [{"name": )" + name + "}]}"),
               Catch::StartsWith("response_set[0].name: "));
    CHECK_THAT(createError("headers", R"({"request_remove": [)" + name + "]}"),
               Catch::StartsWith("request_remove[0]: "));
    CHECK_THAT(createError("headers", R"({"response_remove": ["ok", )" + name + "]}"),
               Catch::StartsWith("response_remove[1]: "));
  }
}

TEST_CASE("headers: empty header names are rejected", "[filters][headers]") {
  CHECK_THAT(createError("headers", R"({"request_set": [{"value": "v"}]})"),
             Catch::StartsWith("request_set[0].name: "));
  CHECK_THAT(createError("headers", R"({"response_remove": [""]})"),
             Catch::StartsWith("response_remove[0]: "));
}

TEST_CASE("headers: gateway-managed header names are rejected", "[filters][headers]") {
  for (const char* managed : {"content-length", "host", "connection", "transfer-encoding",
                              "Content-Length", "HOST", "keep-alive", "te", "upgrade",
                              "trailer"}) {
    INFO(managed);
    const std::string name = std::string("\"") + managed + "\"";
    for (const char* list : {"request_add", "request_set", "response_add", "response_set"}) {
      INFO(list);
      const std::string e =
          createError("headers", std::string(R"({")") + list + R"(": [{"name": )" + name + "}]}");
      CHECK_THAT(e, Catch::StartsWith(std::string(list) + "[0].name: "));
      CHECK_THAT(e, Catch::Contains("managed by the gateway"));
    }
    for (const char* list : {"request_remove", "response_remove"}) {
      INFO(list);
      const std::string e =
          createError("headers", std::string(R"({")") + list + R"(": [)" + name + "]}");
      CHECK_THAT(e, Catch::StartsWith(std::string(list) + "[0]: "));
      CHECK_THAT(e, Catch::Contains("managed by the gateway"));
    }
  }
  // Names that merely contain a managed name are fine.
  createOk("headers", R"({"request_set": [{"name": "x-host", "value": "a"}],
                         "response_remove": ["content-length-hint", "x-connection"]})");
}

TEST_CASE("headers: unknown fields are rejected", "[filters][headers]") {
  CHECK_THAT(createError("headers", R"({"request_append": []})"),
             Catch::Contains("request_append"));
  CHECK_THAT(createError("headers", R"({"request_set": [{"name": "a", "valu": "b"}]})"),
             Catch::Contains("valu"));
}

// ---------------------------------------------------------------------------------------------

} // namespace
} // namespace gw::filters
