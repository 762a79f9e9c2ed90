// The filter registry, structToMessage, and what holds across filters: shared instances, and the
// config validation of policy references (field paths). Each filter's own tests are in
// test/filters/<name>/.
#include <algorithm>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/filters/buffer/v1/buffer.pb.h"
#include "gateway/filters/direct_response/v1/direct_response.pb.h"
#include "gateway/filters/fault/v1/fault.pb.h"
#include "gateway/filters/headers/v1/headers.pb.h"
#include "gateway/filters/jwt_auth/v1/jwt_auth.pb.h"
#include "gateway/filters/local_ratelimit/v1/local_ratelimit.pb.h"
#include "gateway/filters/router/v1/router.pb.h"
#include "gateway/v1/config.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::createOk;
using test::FakeRequestContext;
using test::FakeUpstream;
using test::toStruct;
using test::values;

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

TEST_CASE("registry: every built-in filter is registered once, with its config message",
          "[filters][registry]") {
  struct Expected {
    const char* name;
    FilterKind kind;
    const google::protobuf::Descriptor* descriptor;
  };
  const Expected expected[] = {
      {"buffer", FilterKind::Stage, gateway::filters::buffer::v1::Buffer::descriptor()},
      {"direct_response", FilterKind::Route,
       gateway::filters::direct_response::v1::DirectResponse::descriptor()},
      {"fault", FilterKind::Stage, gateway::filters::fault::v1::Fault::descriptor()},
      {"headers", FilterKind::Stage, gateway::filters::headers::v1::Headers::descriptor()},
      {"jwt_auth", FilterKind::Stage,
       gateway::filters::jwt_auth::v1::JwtAuthConfig::descriptor()},
      {"local_ratelimit", FilterKind::Stage,
       gateway::filters::local_ratelimit::v1::LocalRateLimitConfig::descriptor()},
      {"router", FilterKind::Route, gateway::filters::router::v1::Router::descriptor()},
  };
  const std::vector<std::string> names = FilterRegistry::names();
  for (const auto& e : expected) {
    INFO(e.name);
    const FilterFactory* f = FilterRegistry::get(e.name);
    REQUIRE(f != nullptr);
    CHECK(f->name() == e.name);
    CHECK(f->kind() == e.kind);
    CHECK(f->configDescriptor() == e.descriptor);
    // The config message is in the filter's own package: gateway.filters.<name>.v1.
    CHECK(e.descriptor->file()->package() == absl::StrCat("gateway.filters.", e.name, ".v1"));
    CHECK(std::count(names.begin(), names.end(), e.name) == 1);
  }
}

TEST_CASE("registry: unknown names give nullptr", "[filters][registry]") {
  CHECK(FilterRegistry::get("nope") == nullptr);
  CHECK(FilterRegistry::get("") == nullptr);
  CHECK(FilterRegistry::get("Router") == nullptr);  // names are case-sensitive
  CHECK(FilterRegistry::get("router ") == nullptr);
}

TEST_CASE("structToMessage: known fields are parsed, unknown fields rejected", "[filters]") {
  gateway::filters::direct_response::v1::DirectResponse ok;
  REQUIRE(structToMessage(toStruct(R"({"status": 404, "body": "x", "content_type": "a/b"})"), &ok)
              .ok());
  CHECK(ok.status() == 404);
  CHECK(ok.body() == "x");
  CHECK(ok.content_type() == "a/b");

  gateway::filters::direct_response::v1::DirectResponse camel;
  REQUIRE(structToMessage(toStruct(R"({"contentType": "a/b"})"), &camel).ok());
  CHECK(camel.content_type() == "a/b");

  gateway::filters::router::v1::Router r;
  auto st = structToMessage(toStruct(R"({"cluster": "a", "clustr": "b"})"), &r);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(st.message()), Catch::Contains("clustr"));

  gateway::filters::router::v1::Router empty;
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
  expectSameAsJsonMapping<gateway::filters::headers::v1::Headers>(
      R"({"request_add": [{"name": "a", "value": "1"}, {"name": "b", "value": ""}],
          "requestSet": [{"name": "c", "value": "%REQUEST_ID%"}],
          "request_remove": ["x", "y"], "response_remove": []})");
  expectSameAsJsonMapping<gateway::filters::fault::v1::Fault>(
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
  expectSameOutcomeAsJsonMapping<gateway::filters::router::v1::Router>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::direct_response::v1::DirectResponse>(rng,
                                                                                      2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::headers::v1::Headers>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::fault::v1::Fault>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::jwt_auth::v1::JwtAuthConfig>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::local_ratelimit::v1::LocalRateLimitConfig>(
      rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::v1::ListenerLimits>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::v1::Cluster>(rng, 2000);
  expectSameOutcomeAsJsonMapping<gateway::filters::buffer::v1::Buffer>(rng, 2000);
}

TEST_CASE("structToMessage: what the reflection path refuses is worded by the JSON mapping",
          "[filters]") {
  auto error = [](const std::string& json, google::protobuf::Message* m) {
    auto st = structToMessage(toStruct(json), m);
    REQUIRE_FALSE(st.ok());
    return std::string(st.message());
  };
  gateway::filters::fault::v1::Fault f;
  CHECK_THAT(error(R"({"delay_ms": 1.5})", &f), Catch::Contains("delay_ms"));
  CHECK_THAT(error(R"({"delay_ms": -1})", &f), Catch::Contains("delay_ms"));
  CHECK_THAT(error(R"({"delay_ms": 4294967296})", &f), Catch::Contains("delay_ms"));
  CHECK_THAT(error(R"({"header": 5})", &f), Catch::Contains("header"));
  CHECK_THAT(error(R"({"bogus": 1})", &f), Catch::Contains("Cannot find field"));
  gateway::filters::headers::v1::Headers h;
  CHECK_THAT(error(R"({"request_add": ["x"]})", &h), Catch::Contains("request_add"));
  CHECK_THAT(error(R"({"request_add": [{"name": "a", "nope": 1}]})", &h),
             Catch::Contains("nope"));
  gateway::v1::ListenerLimits l;
  CHECK_THAT(error(R"({"idle_timeout": "5m"})", &l), Catch::Contains("idle_timeout"));
  CHECK_THAT(error(R"({"idle_timeout": "ten s"})", &l), Catch::Contains("idle_timeout"));
  gateway::v1::Cluster c;
  CHECK_THAT(error(R"({"lb_policy": "FASTEST"})", &c), Catch::Contains("lb_policy"));
  // A failed fast attempt leaves nothing half-set behind when the fallback also fails.
  gateway::filters::router::v1::Router r;
  CHECK_FALSE(structToMessage(toStruct(R"({"cluster": "a", "zzz": 1})"), &r).ok());
}

// ---------------------------------------------------------------------------------------------
// Across filters

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
  CHECK(f->onRequestHeaders(a) == FilterStatus::Continue);
  CHECK(f->onRequestHeaders(b) == FilterStatus::Continue);
  CHECK(values(a.request().headers, "x-route") == std::vector<std::string>{"GET"});
  CHECK(values(b.request().headers, "x-route") == std::vector<std::string>{"POST"});
  auto fault = createOk("fault", R"({"abort_status": 503})");
  REQUIRE(fault->shared() != nullptr);
  FakeRequestContext d;
  CHECK(fault->shared()->onRequestHeaders(d) == FilterStatus::StopAndRespond);
  // Route filters are shared too now (they answer in onRoute): one instance, no create().
  auto direct = createOk("direct_response", R"({"status": 200})");
  Filter* df = direct->shared();
  REQUIRE(df != nullptr);
  CHECK(direct->shared() == df);
  CHECK(direct->create() == nullptr);
  FakeRequestContext e1, e2;
  FakeUpstream u1(e1.fakeWorker().http), u2(e2.fakeWorker().http);
  CHECK(df->onRoute(e1, u1) == FilterStatus::StopAndRespond);
  CHECK(df->onRoute(e2, u2) == FilterStatus::StopAndRespond);
  CHECK(e1.responses.size() == 1);
  CHECK(e2.responses.size() == 1);
}

std::vector<std::string> validate(const std::string& yaml) {
  std::vector<std::string> out;
  for (const auto& e : config::validateConfig(test::parseConfigOk(yaml))) {
    out.push_back(e.toString());
  }
  return out;
}

const char* kPolicies = R"(
auth_providers:
  - name: main
    secret: filter-test-secret
    issuer: iss
    claim_headers: {sub: x-user-id, tier: x-tier}
  - name: fwd
    secret: filter-test-secret
    forward: true
rate_limit_policies:
  - name: two
    requests_per_unit: 1
    unit: HOUR
    burst: 2
    response_headers: true
  - name: by-tenant
    requests_per_unit: 1
    unit: HOUR
    burst: 1
    key_by: {header: x-tenant}
)";

TEST_CASE("config: policy problems and references have field paths", "[policy][config]") {
  const auto errors = validate(R"(
auth_providers:
  - name: a
    public_key_pem: "nope"
  - secret: s
  - name: a
    secret: s
rate_limit_policies:
  - name: r
    requests_per_unit: 0
  - name: r
    requests_per_unit: 5
listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /x}
            route_filter: {name: direct_response, config: {status: 200}}
          - match: {prefix: /}
            pre_filters:
              - {name: jwt_auth, config: {provider: x}}
              - {name: jwt_auth, config: {provider: a}}
              - {name: local_ratelimit, config: {policy: nope}}
              - {name: jwt_auth, config: {}}
            route_filter: {name: direct_response, config: {status: 200}}
)");
  CHECK(errors == std::vector<std::string>{
                      "auth_providers[0].public_key_pem: not a PEM public key (expected "
                      "-----BEGIN PUBLIC KEY-----)",
                      "auth_providers[1].name: required",
                      "auth_providers[2].name: duplicate auth provider name 'a' (also "
                      "auth_providers[0])",
                      "rate_limit_policies[0].requests_per_unit: a rate is required: "
                      "requests_per_unit (+ unit) or tokens_per_fill + fill_interval (zero "
                      "allows nothing)",
                      "rate_limit_policies[1].name: duplicate rate-limit policy name 'r' (also "
                      "rate_limit_policies[0])",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[0].config.provider: "
                      "unknown auth provider 'x'",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[1].config.provider: "
                      "auth provider 'a' is invalid",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[2].config.policy: "
                      "unknown rate-limit policy 'nope'",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[3].config.provider: "
                      "required (the name of an auth provider)"});
  CHECK(validate(absl::StrCat(kPolicies, R"(
listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /}
            pre_filters:
              - {name: jwt_auth, config: {provider: main}}
              - {name: local_ratelimit, config: {policy: two}}
            route_filter: {name: direct_response, config: {status: 200}}
)")).empty());
}

} // namespace
} // namespace gw::filters
