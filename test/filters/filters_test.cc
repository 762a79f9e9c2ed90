// Unit tests of the built-in filters, driven through the public FilterFactory / FilterConfig /
// Filter interfaces with a fake RequestContext.
#include <algorithm>
#include <chrono>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/v1/filters.pb.h"
#include "gateway/v1/config.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "source/filters/filter.h"
#include "source/router/route_table.h"
#include "test/filters/fake_request_context.h"

namespace gw::filters {
namespace {

using namespace std::chrono_literals;
using test::FakeRequestContext;

google::protobuf::Struct toStruct(const std::string& json) {
  google::protobuf::Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(json, &s);
  INFO(json);
  REQUIRE(st.ok());
  return s;
}

ValidationContext clusters(std::initializer_list<const char*> names) {
  ValidationContext ctx;
  for (const char* n : names) {
    ctx.cluster_names.insert(n);
  }
  return ctx;
}

const FilterFactory& factory(const std::string& name) {
  const FilterFactory* f = FilterRegistry::get(name);
  INFO(name);
  REQUIRE(f != nullptr);
  return *f;
}

absl::StatusOr<FilterConfigConstSharedPtr> create(const std::string& name, const std::string& json,
                                                  const ValidationContext& ctx = {}) {
  return factory(name).createConfig(toStruct(json), ctx);
}

FilterConfigConstSharedPtr createOk(const std::string& name, const std::string& json,
                                    const ValidationContext& ctx = {}) {
  auto c = create(name, json, ctx);
  INFO(name << " " << json << " -> " << c.status().ToString());
  REQUIRE(c.ok());
  REQUIRE(*c != nullptr);
  return *c;
}

// The InvalidArgument message createConfig returns for `json`.
std::string createError(const std::string& name, const std::string& json,
                        const ValidationContext& ctx = {}) {
  auto c = create(name, json, ctx);
  INFO(name << " " << json);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
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

// Nothing was asked of the context that a plain header edit should not ask.
void checkNoSideEffects(const FakeRequestContext& ctx) {
  CHECK(ctx.responses.empty());
  CHECK(ctx.failures.empty());
  CHECK(ctx.resumes == 0);
  CHECK(ctx.timers.empty());
  CHECK(ctx.untouched());
}

// ---------------------------------------------------------------------------------------------
// Registry and structToMessage.

TEST_CASE("registry: built-in filters are registered with their kinds", "[filters][registry]") {
  const FilterFactory* router = FilterRegistry::get("router");
  const FilterFactory* direct = FilterRegistry::get("direct_response");
  const FilterFactory* headers = FilterRegistry::get("headers");
  REQUIRE(router != nullptr);
  REQUIRE(direct != nullptr);
  REQUIRE(headers != nullptr);
  CHECK(router->name() == "router");
  CHECK(direct->name() == "direct_response");
  CHECK(headers->name() == "headers");
  CHECK(router->kind() == FilterKind::Route);
  CHECK(direct->kind() == FilterKind::Route);
  CHECK(headers->kind() == FilterKind::Stage);

  const std::vector<std::string> names = FilterRegistry::names();
  for (const char* n : {"router", "direct_response", "headers"}) {
    INFO(n);
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  }
  CHECK(std::is_sorted(names.begin(), names.end()));
}

TEST_CASE("registry: unknown names give nullptr", "[filters][registry]") {
  CHECK(FilterRegistry::get("nope") == nullptr);
  CHECK(FilterRegistry::get("") == nullptr);
  CHECK(FilterRegistry::get("Router") == nullptr);  // names are case-sensitive
  CHECK(FilterRegistry::get("router ") == nullptr);
}

TEST_CASE("structToMessage: known fields are parsed, unknown fields rejected", "[filters]") {
  gateway::filters::v1::DirectResponse ok;
  REQUIRE(structToMessage(toStruct(R"({"status": 404, "body": "x", "content_type": "a/b"})"), &ok)
              .ok());
  CHECK(ok.status() == 404);
  CHECK(ok.body() == "x");
  CHECK(ok.content_type() == "a/b");

  gateway::filters::v1::DirectResponse camel;
  REQUIRE(structToMessage(toStruct(R"({"contentType": "a/b"})"), &camel).ok());
  CHECK(camel.content_type() == "a/b");

  gateway::filters::v1::Router r;
  auto st = structToMessage(toStruct(R"({"cluster": "a", "clustr": "b"})"), &r);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(st.message()), Catch::Contains("clustr"));

  gateway::filters::v1::Router empty;
  CHECK(structToMessage(google::protobuf::Struct(), &empty).ok());
  CHECK(empty.cluster().empty());
}

// structToMessage's reflection path must give exactly what the JSON mapping gives.
template <class M> void expectSameAsJsonMapping(const std::string& json) {
  INFO(json);
  M fast;
  REQUIRE(structToMessage(toStruct(json), &fast).ok());
  M slow;
  google::protobuf::util::JsonParseOptions opts;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &slow, opts).ok());
  CHECK(fast.SerializeAsString() == slow.SerializeAsString());
}

TEST_CASE("structToMessage: same result as the JSON mapping", "[filters]") {
  expectSameAsJsonMapping<gateway::filters::v1::Headers>(
      R"({"request_add": [{"name": "a", "value": "1"}, {"name": "b", "value": ""}],
          "requestSet": [{"name": "c", "value": "%REQUEST_ID%"}],
          "request_remove": ["x", "y"], "response_remove": []})");
  expectSameAsJsonMapping<gateway::filters::v1::Fault>(
      R"({"delay_ms": 250, "delayPercent": "50", "abort_status": 503.0, "header": null})");
  // Durations, 64-bit integers as strings, enums by name and number, oneofs, nested messages.
  expectSameAsJsonMapping<gateway::v1::ListenerLimits>(
      R"({"request_headers_timeout": "1.5s", "idle_timeout": "90s",
          "max_request_body_bytes": "1099511627776", "max_request_headers_kb": 8})");
  expectSameAsJsonMapping<gateway::v1::ListenerLimits>(
      R"({"request_headers_timeout": "0.000000001s", "idle_timeout": "0s"})");
  expectSameAsJsonMapping<gateway::v1::Cluster>(
      R"({"name": "c", "lb_policy": "MAGLEV", "hash_policy": {"header": "x-user"},
          "endpoints": [{"address": "127.0.0.1:1", "weight": 3}],
          "pool": {"connect_timeout": "0.250s", "max_idle_per_endpoint": 2}})");
  expectSameAsJsonMapping<gateway::v1::Cluster>(R"({"lb_policy": 1})");
}

// Random values for the fields of `desc`: the right kind mostly, wrong kinds, edge numbers,
// integer strings with signs and spaces, nulls, unknown names, two members of a oneof.
google::protobuf::Value randomValue(std::mt19937& rng, const google::protobuf::FieldDescriptor* f,
                                    int depth);

google::protobuf::Struct randomStruct(std::mt19937& rng, const google::protobuf::Descriptor* d,
                                      int depth) {
  google::protobuf::Struct s;
  for (int i = 0; i < d->field_count(); i++) {
    if (rng() % 3 == 0) {
      continue;
    }
    const auto* f = d->field(i);
    const std::string name = rng() % 4 == 0 ? f->json_name() : f->name();
    (*s.mutable_fields())[name] = randomValue(rng, f, depth);
  }
  if (rng() % 20 == 0) {
    (*s.mutable_fields())["no_such_field"].set_number_value(1);
  }
  return s;
}

google::protobuf::Value scalar(std::mt19937& rng, const google::protobuf::FieldDescriptor* f,
                               int depth) {
  using FD = google::protobuf::FieldDescriptor;
  google::protobuf::Value v;
  static const double kNumbers[] = {0, 1, -1, 1.5, 503, 4294967295.0, 4294967296.0, -2147483649.0,
                                    1e20, 9007199254740993.0};
  static const char* kStrings[] = {"x", "", "5", "-5", "+5", " 5", "5 ", "1.5s", "90s", "5m",
                                   "0.000000001s", "-1s", "MAGLEV", "ROUND_ROBIN", "12345678901",
                                   "99999999999999999999"};
  switch (rng() % 8) {
  case 0: v.set_null_value(google::protobuf::NULL_VALUE); return v;
  case 1: v.set_bool_value(rng() % 2 == 0); return v;
  case 2: v.set_number_value(kNumbers[rng() % std::size(kNumbers)]); return v;
  case 3: v.set_string_value(kStrings[rng() % std::size(kStrings)]); return v;
  default: break;
  }
  // The field's own kind.
  switch (f->cpp_type()) {
  case FD::CPPTYPE_STRING: v.set_string_value(absl::StrCat("v", rng() % 100)); break;
  case FD::CPPTYPE_BOOL: v.set_bool_value(rng() % 2 == 0); break;
  case FD::CPPTYPE_ENUM: {
    const auto* e = f->enum_type()->value(static_cast<int>(rng() % f->enum_type()->value_count()));
    if (rng() % 2 == 0) {
      v.set_string_value(e->name());
    } else {
      v.set_number_value(e->number());
    }
    break;
  }
  case FD::CPPTYPE_MESSAGE:
    if (f->message_type()->full_name() == "google.protobuf.Duration") {
      v.set_string_value(absl::StrCat(rng() % 1000, rng() % 2 ? ".25s" : "s"));
    } else if (depth < 3) {
      *v.mutable_struct_value() = randomStruct(rng, f->message_type(), depth + 1);
    } else {
      v.set_null_value(google::protobuf::NULL_VALUE);
    }
    break;
  default:
    if (rng() % 3 == 0) {
      v.set_string_value(std::to_string(rng() % 100000));
    } else {
      v.set_number_value(static_cast<double>(rng() % 100000));
    }
  }
  return v;
}

google::protobuf::Value randomValue(std::mt19937& rng, const google::protobuf::FieldDescriptor* f,
                                    int depth) {
  if (!f->is_repeated() || rng() % 8 == 0) {
    return scalar(rng, f, depth);
  }
  google::protobuf::Value v;
  const int n = static_cast<int>(rng() % 4);
  for (int i = 0; i < n; i++) {
    *v.mutable_list_value()->add_values() = scalar(rng, f, depth);
  }
  return v;
}

template <class M> void expectSameOutcomeAsJsonMapping(std::mt19937& rng, int iterations) {
  for (int i = 0; i < iterations; i++) {
    const google::protobuf::Struct s = randomStruct(rng, M::descriptor(), 0);
    std::string json;
    REQUIRE(google::protobuf::util::MessageToJsonString(s, &json).ok());
    INFO(M::descriptor()->full_name() << " " << json);
    M fast;
    const bool fast_ok = structToMessage(s, &fast).ok();
    M slow;
    const bool slow_ok = google::protobuf::util::JsonStringToMessage(json, &slow).ok();
    REQUIRE(fast_ok == slow_ok);
    if (fast_ok) {
      CHECK(fast.SerializeAsString() == slow.SerializeAsString());
    }
  }
}

TEST_CASE("structToMessage: same outcome as the JSON mapping on random configs", "[filters]") {
  std::mt19937 rng(20261129);
  expectSameOutcomeAsJsonMapping<gateway::filters::v1::Router>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::v1::DirectResponse>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::v1::Headers>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::v1::Fault>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::v1::JwtAuthConfig>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::v1::LocalRateLimitConfig>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::v1::ListenerLimits>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::v1::Cluster>(rng, 2000);
}

TEST_CASE("structToMessage: what the reflection path refuses is worded by the JSON mapping",
          "[filters]") {
  auto error = [](const std::string& json, google::protobuf::Message* m) {
    auto st = structToMessage(toStruct(json), m);
    REQUIRE_FALSE(st.ok());
    return std::string(st.message());
  };
  gateway::filters::v1::Fault f;
  CHECK_THAT(error(R"({"delay_ms": 1.5})", &f), Catch::Contains("delay_ms"));
  CHECK_THAT(error(R"({"delay_ms": -1})", &f), Catch::Contains("delay_ms"));
  CHECK_THAT(error(R"({"delay_ms": 4294967296})", &f), Catch::Contains("delay_ms"));
  CHECK_THAT(error(R"({"header": 5})", &f), Catch::Contains("header"));
  CHECK_THAT(error(R"({"bogus": 1})", &f), Catch::Contains("Cannot find field"));
  gateway::filters::v1::Headers h;
  CHECK_THAT(error(R"({"request_add": ["x"]})", &h), Catch::Contains("request_add"));
  CHECK_THAT(error(R"({"request_add": [{"name": "a", "nope": 1}]})", &h),
             Catch::Contains("nope"));
  gateway::v1::ListenerLimits l;
  CHECK_THAT(error(R"({"idle_timeout": "5m"})", &l), Catch::Contains("idle_timeout"));
  CHECK_THAT(error(R"({"idle_timeout": "ten s"})", &l), Catch::Contains("idle_timeout"));
  gateway::v1::Cluster c;
  CHECK_THAT(error(R"({"lb_policy": "FASTEST"})", &c), Catch::Contains("lb_policy"));
  // A failed fast attempt leaves nothing half-set behind when the fallback also fails.
  gateway::filters::v1::Router r;
  CHECK_FALSE(structToMessage(toStruct(R"({"cluster": "a", "zzz": 1})"), &r).ok());
}

// ---------------------------------------------------------------------------------------------
// router

TEST_CASE("router: valid config proxies to the cluster", "[filters][router]") {
  auto c = createOk("router", R"({"cluster": "users"})", clusters({"users", "orders"}));
  const RouteAction* a = c->routeAction();
  REQUIRE(a != nullptr);
  CHECK(a->kind == RouteAction::Kind::Proxy);
  CHECK(a->cluster == "users");
  CHECK(c->create() == nullptr);  // a route filter makes no per-request instance
}

TEST_CASE("router: config errors", "[filters][router]") {
  const auto ctx = clusters({"users"});
  SECTION("missing cluster") {
    const std::string e = createError("router", "{}", ctx);
    CHECK_THAT(e, Catch::StartsWith("cluster:"));
    CHECK_THAT(createError("router", R"({"cluster": ""})", ctx), Catch::StartsWith("cluster:"));
  }
  SECTION("unknown cluster") {
    const std::string e = createError("router", R"({"cluster": "orders"})", ctx);
    CHECK_THAT(e, Catch::StartsWith("cluster:"));
    CHECK_THAT(e, Catch::Contains("'orders'"));
    // No clusters at all.
    CHECK_THAT(createError("router", R"({"cluster": "users"})"), Catch::StartsWith("cluster:"));
  }
  SECTION("unknown field") {
    const std::string e = createError("router", R"({"cluster": "users", "timeout": "1s"})", ctx);
    CHECK_THAT(e, Catch::Contains("timeout"));
  }
}

// ---------------------------------------------------------------------------------------------
// direct_response

TEST_CASE("direct_response: defaults", "[filters][direct_response]") {
  auto c = createOk("direct_response", "{}");
  const RouteAction* a = c->routeAction();
  REQUIRE(a != nullptr);
  CHECK(a->kind == RouteAction::Kind::DirectResponse);
  CHECK(a->status == 200);
  CHECK(a->body.empty());
  CHECK(a->content_type == "text/plain");
  CHECK(c->create() == nullptr);

  // status 0 is the default.
  CHECK(createOk("direct_response", R"({"status": 0})")->routeAction()->status == 200);
}

TEST_CASE("direct_response: status, body and content type are kept", "[filters][direct_response]") {
  auto c = createOk("direct_response",
                    R"({"status": 410, "body": "{\"error\": \"gone\"}\n",
                        "content_type": "application/json"})");
  const RouteAction* a = c->routeAction();
  REQUIRE(a != nullptr);
  CHECK(a->kind == RouteAction::Kind::DirectResponse);
  CHECK(a->status == 410);
  CHECK(a->body == "{\"error\": \"gone\"}\n");
  CHECK(a->content_type == "application/json");
  CHECK(a->cluster.empty());

  CHECK(createOk("direct_response", R"({"status": 200})")->routeAction()->status == 200);
  CHECK(createOk("direct_response", R"({"status": 599})")->routeAction()->status == 599);
  CHECK(createOk("direct_response", R"({"body": "ok\n"})")->routeAction()->body == "ok\n");
}

TEST_CASE("direct_response: status out of range", "[filters][direct_response]") {
  for (const char* s : {"1", "100", "199", "600", "999", "4294967295"}) {
    INFO(s);
    CHECK_THAT(createError("direct_response", std::string(R"({"status": )") + s + "}"),
               Catch::StartsWith("status:"));
  }
}

TEST_CASE("direct_response: unknown field", "[filters][direct_response]") {
  CHECK_THAT(createError("direct_response", R"({"status": 200, "headers": {}})"),
             Catch::Contains("headers"));
}

// ---------------------------------------------------------------------------------------------
// headers: operations

TEST_CASE("headers: request_add keeps existing values", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_add": [{"name": "X-Tag", "value": "two"}]})");
  FakeRequestContext ctx;
  ctx.request().headers.add("x-tag", "one");
  ctx.request().headers.add("accept", "*/*");
  auto f = c->create();
  REQUIRE(f != nullptr);
  CHECK(f->onRequest(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "x-tag") == std::vector<std::string>{"one", "two"});
  CHECK(values(ctx.request().headers, "accept") == std::vector<std::string>{"*/*"});
  CHECK(ctx.response().headers.size() == 0);
  checkNoSideEffects(ctx);
}

TEST_CASE("stateless filters share one instance across requests", "[filters]") {
  // The data path runs shared() instances without making anything per request: two requests
  // through the same instance must not see each other's state.
  auto c = createOk("headers", R"({"request_set": [{"name": "x-route", "value": "%METHOD%"}]})");
  filters::Filter* f = c->shared();
  REQUIRE(f != nullptr);
  CHECK(c->shared() == f);
  FakeRequestContext a, b;
  a.request().method = "GET";
  b.request().method = "POST";
  CHECK(f->onRequest(a) == FilterStatus::Continue);
  CHECK(f->onRequest(b) == FilterStatus::Continue);
  CHECK(values(a.request().headers, "x-route") == std::vector<std::string>{"GET"});
  CHECK(values(b.request().headers, "x-route") == std::vector<std::string>{"POST"});
  auto fault = createOk("fault", R"({"abort_status": 503})");
  REQUIRE(fault->shared() != nullptr);
  FakeRequestContext d;
  CHECK(fault->shared()->onRequest(d) == FilterStatus::StopAndRespond);
  // Route filters have no stage instance at all.
  CHECK(createOk("direct_response", R"({"status": 200})")->shared() == nullptr);
}

TEST_CASE("headers: request_add adds a header that was absent", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_add": [{"name": "via", "value": "1.1 gateway"},
                                                   {"name": "via", "value": "again"}]})");
  FakeRequestContext ctx;
  CHECK(c->create()->onRequest(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "via") == std::vector<std::string>{"1.1 gateway", "again"});
}

TEST_CASE("headers: request_set replaces every existing value", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_set": [{"name": "X-Forwarded-Proto",
                                                    "value": "https"}]})");
  FakeRequestContext ctx;
  ctx.request().headers.add("x-forwarded-proto", "http");
  ctx.request().headers.add("accept", "*/*");
  ctx.request().headers.add("x-forwarded-proto", "ftp");
  CHECK(c->create()->onRequest(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "x-forwarded-proto") == std::vector<std::string>{"https"});
  CHECK(values(ctx.request().headers, "accept") == std::vector<std::string>{"*/*"});

  // Also sets a header that was absent.
  FakeRequestContext empty;
  CHECK(c->create()->onRequest(empty) == FilterStatus::Continue);
  CHECK(values(empty.request().headers, "x-forwarded-proto") == std::vector<std::string>{"https"});
}

TEST_CASE("headers: request_remove removes every value, case-insensitively", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_remove": ["X-Internal-Debug", "absent"]})");
  FakeRequestContext ctx;
  ctx.request().headers.add("x-internal-debug", "1");
  ctx.request().headers.add("accept", "*/*");
  ctx.request().headers.add("x-internal-debug", "2");
  CHECK(c->create()->onRequest(ctx) == FilterStatus::Continue);
  CHECK_FALSE(ctx.request().headers.has("x-internal-debug"));
  CHECK(ctx.request().headers.size() == 1);
  CHECK(values(ctx.request().headers, "accept") == std::vector<std::string>{"*/*"});
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: request ops leave the response alone and vice versa", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_set": [{"name": "x-req", "value": "r"}],
                                   "response_set": [{"name": "x-resp", "value": "s"}]})");
  FakeRequestContext ctx;
  auto f = c->create();
  CHECK(f->onRequest(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.request().headers, "x-req") == std::vector<std::string>{"r"});
  CHECK_FALSE(ctx.request().headers.has("x-resp"));
  CHECK(ctx.response().headers.size() == 0);

  CHECK(f->onResponse(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.response().headers, "x-resp") == std::vector<std::string>{"s"});
  CHECK_FALSE(ctx.response().headers.has("x-req"));
  CHECK(ctx.request().headers.size() == 1);
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: response_add / response_set / response_remove in onResponse",
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
  auto f = c->create();
  // Not touched in the request stage.
  CHECK(f->onRequest(ctx) == FilterStatus::Continue);
  CHECK(h.size() == 6);
  CHECK(ctx.request().headers.size() == 0);

  CHECK(f->onResponse(ctx) == FilterStatus::Continue);
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
  ctx.setError({502, "upstream_connect_failed", "connect refused", ErrorSource::Upstream, true});
  ctx.response().status = 502;
  ctx.response().headers.add("server", "x");
  ctx.response().headers.add("x-gateway", "0");
  CHECK(c->create()->onError(ctx) == FilterStatus::Continue);
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
  CHECK(c->create()->onResponse(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.response().headers, "x-a") == std::vector<std::string>{"set", "added"});
}

TEST_CASE("headers: an empty config is a no-op", "[filters][headers]") {
  auto c = createOk("headers", "{}");
  CHECK(c->routeAction() == nullptr);
  FakeRequestContext ctx;
  ctx.request().headers.add("a", "1");
  ctx.response().headers.add("b", "2");
  auto f = c->create();
  REQUIRE(f != nullptr);
  CHECK(f->onRequest(ctx) == FilterStatus::Continue);
  CHECK(f->onResponse(ctx) == FilterStatus::Continue);
  CHECK(f->onError(ctx) == FilterStatus::Continue);
  CHECK(ctx.request().headers.size() == 1);
  CHECK(ctx.response().headers.size() == 1);
  checkNoSideEffects(ctx);
}

TEST_CASE("headers: one config makes independent per-request instances", "[filters][headers]") {
  auto c = createOk("headers", R"({"request_set": [{"name": "x-id", "value": "%REQUEST_ID%"}]})");
  auto f1 = c->create();
  auto f2 = c->create();
  REQUIRE(f1 != nullptr);
  REQUIRE(f2 != nullptr);
  CHECK(f1.get() != f2.get());
  FakeRequestContext a;
  FakeRequestContext b;
  CHECK(f1->onRequest(a) == FilterStatus::Continue);
  CHECK(f2->onRequest(b) == FilterStatus::Continue);
  CHECK(values(a.request().headers, "x-id") == std::vector<std::string>{"req-0123456789abcdef"});
  CHECK(values(b.request().headers, "x-id") == std::vector<std::string>{"req-0123456789abcdef"});
}

// ---------------------------------------------------------------------------------------------
// headers: value templates

// Renders `value` as a response header through onResponse.
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
  REQUIRE((*c)->create()->onResponse(ctx) == FilterStatus::Continue);
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
// fault (the remaining built-in, beyond the router/direct_response/headers trio)

TEST_CASE("fault: registered as a stage filter and validated", "[filters][fault]") {
  const FilterFactory* f = FilterRegistry::get("fault");
  REQUIRE(f != nullptr);
  CHECK(f->kind() == FilterKind::Stage);
  CHECK_THAT(createError("fault", "{}"), Catch::StartsWith("delay_ms:"));
  CHECK_THAT(createError("fault", R"({"abort_status": 700})"), Catch::StartsWith("abort_status:"));
  CHECK_THAT(createError("fault", R"({"abort_status": 503, "abort_percent": 101})"),
             Catch::StartsWith("abort_percent:"));
  CHECK_THAT(createError("fault", R"({"delay_ms": 5, "delay_percent": 101})"),
             Catch::StartsWith("delay_percent:"));
  CHECK_THAT(createError("fault", R"({"delay_ms": 3600001})"), Catch::StartsWith("delay_ms:"));
}

TEST_CASE("fault: abort fails the request", "[filters][fault]") {
  auto c = createOk("fault", R"({"abort_status": 503})");
  FakeRequestContext ctx;
  CHECK(c->create()->onRequest(ctx) == FilterStatus::StopAndRespond);
  REQUIRE(ctx.failures.size() == 1);
  CHECK(ctx.failures[0].status == 503);
  CHECK(ctx.failures[0].code == "fault_injected");
  CHECK(ctx.failures[0].source == ErrorSource::Filter);
  CHECK(ctx.timers.empty());
}

TEST_CASE("fault: delay pauses and resumes through runAfter", "[filters][fault]") {
  auto c = createOk("fault", R"({"delay_ms": 250})");
  FakeRequestContext ctx;
  CHECK(c->create()->onRequest(ctx) == FilterStatus::Pause);
  REQUIRE(ctx.timers.size() == 1);
  CHECK(ctx.timers[0].delay == 250ms);
  CHECK(ctx.resumes == 0);
  ctx.timers[0].fn();
  CHECK(ctx.resumes == 1);
  CHECK(ctx.failures.empty());
}

TEST_CASE("fault: delay then abort", "[filters][fault]") {
  auto c = createOk("fault", R"({"delay_ms": 10, "abort_status": 429})");
  FakeRequestContext ctx;
  CHECK(c->create()->onRequest(ctx) == FilterStatus::Pause);
  REQUIRE(ctx.timers.size() == 1);
  CHECK(ctx.failures.empty());
  ctx.timers[0].fn();
  CHECK(ctx.resumes == 0);
  REQUIRE(ctx.failures.size() == 1);
  CHECK(ctx.failures[0].status == 429);
}

TEST_CASE("fault: header gate", "[filters][fault]") {
  auto c = createOk("fault", R"({"abort_status": 500, "header": "X-Chaos"})");
  FakeRequestContext without;
  CHECK(c->create()->onRequest(without) == FilterStatus::Continue);
  CHECK(without.failures.empty());
  FakeRequestContext with;
  with.request().headers.add("x-chaos", "");
  CHECK(c->create()->onRequest(with) == FilterStatus::StopAndRespond);
  CHECK(with.failures.size() == 1);
}

} // namespace
} // namespace gw::filters
