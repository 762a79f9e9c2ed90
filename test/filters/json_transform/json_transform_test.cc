// `json_transform` as a filter: which bodies it touches (content types, encodings, empty), body
// policies, 400 invalid_json, invalid responses passed or 502, template sources from the request
// (headers, path captures, query, identity), counters, explain, and config errors.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::counter;
using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::instanceOf;

constexpr char kRename[] =
    R"({"request": [{"op": "rename", "path": "user_name", "to": "userName"}],
        "response": [{"op": "rename", "path": "instance", "to": "served_by"},
                     {"op": "remove", "path": "headers"}]})";

FilterStatus requestBody(const FilterConfig& c, FakeRequestContext& ctx, std::string& body) {
  FilterPtr owned;
  return instanceOf(c, owned).onRequestBody(ctx, body, true);
}
FilterStatus responseBody(const FilterConfig& c, FakeRequestContext& ctx, std::string& body) {
  FilterPtr owned;
  return instanceOf(c, owned).onResponseBody(ctx, body, true);
}

TEST_CASE("json_transform: buffers the directions that have operations", "[json_transform]") {
  auto both = createOk("json_transform", kRename);
  CHECK(both->requestBody().mode == BodyPolicy::Mode::Buffer);
  CHECK(both->requestBody().max_bytes == 1 << 20);
  CHECK(both->responseBody().mode == BodyPolicy::Mode::Buffer);
  CHECK(both->seesResponse());
  CHECK(both->shared() != nullptr);
  auto resp = createOk("json_transform",
                       R"({"response": [{"op": "remove", "path": "a"}], "max_body_bytes": 4096})");
  CHECK(resp->requestBody().mode == BodyPolicy::Mode::Untouched);
  CHECK(resp->responseBody().mode == BodyPolicy::Mode::Buffer);
  CHECK(resp->responseBody().max_bytes == 4096);
  auto req = createOk("json_transform", R"({"request": [{"op": "remove", "path": "a"}]})");
  CHECK(req->responseBody().mode == BodyPolicy::Mode::Untouched);
  CHECK_FALSE(req->seesResponse());
}

TEST_CASE("json_transform: a JSON request body is transformed", "[json_transform]") {
  auto c = createOk("json_transform", kRename);
  FakeRequestContext ctx;
  ctx.request().headers.add("content-type", "application/json; charset=utf-8");
  std::string body = R"({"user_name": "ada", "id": 18446744073709551615})";
  CHECK(requestBody(*c, ctx, body) == FilterStatus::Continue);
  CHECK(body == R"({"userName":"ada","id":18446744073709551615})");
  CHECK(counter(ctx, "json_transform", "transformed") == 1);
  CHECK(ctx.untouched());
}

TEST_CASE("json_transform: +json media types are JSON; others pass untouched",
          "[json_transform]") {
  auto c = createOk("json_transform", kRename);
  for (const char* ct : {"application/vnd.example.v2+json", "Application/JSON",
                         "application/problem+json"}) {
    FakeRequestContext ctx;
    ctx.request().headers.add("content-type", ct);
    std::string body = R"({"user_name":1})";
    requestBody(*c, ctx, body);
    CHECK(body == R"({"userName":1})");
  }
  for (const char* ct : {"text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                         ""}) {
    FakeRequestContext ctx;
    if (*ct) {
      ctx.request().headers.add("content-type", ct);
    }
    std::string body = R"({"user_name": 1})";
    CHECK(requestBody(*c, ctx, body) == FilterStatus::Continue);
    CHECK(body == R"({"user_name": 1})");
    CHECK(counter(ctx, "json_transform", "not_json") == 1);
  }
}

TEST_CASE("json_transform: an encoded or empty body passes untouched", "[json_transform]") {
  auto c = createOk("json_transform", kRename);
  FakeRequestContext ctx;
  ctx.request().headers.add("content-type", "application/json");
  ctx.request().headers.add("content-encoding", "gzip");
  std::string body = "\x1f\x8b not json";
  CHECK(requestBody(*c, ctx, body) == FilterStatus::Continue);
  CHECK(body == "\x1f\x8b not json");
  FakeRequestContext empty;
  empty.request().headers.add("content-type", "application/json");
  std::string nothing;
  CHECK(requestBody(*c, empty, nothing) == FilterStatus::Continue);
  CHECK(empty.failures.empty());
}

TEST_CASE("json_transform: an invalid JSON request gets 400 invalid_json", "[json_transform]") {
  auto c = createOk("json_transform", kRename);
  FakeRequestContext ctx;
  ctx.request().headers.add("content-type", "application/json");
  std::string body = R"({"user_name": )";
  CHECK(requestBody(*c, ctx, body) == FilterStatus::StopAndRespond);
  REQUIRE(ctx.failures.size() == 1);
  CHECK(ctx.failures[0].status == 400);
  CHECK(ctx.failures[0].code == "invalid_json");
  CHECK(ctx.failures[0].message ==
        "request body is not valid JSON: invalid JSON at byte 14: Invalid value.");
  CHECK(counter(ctx, "json_transform", "invalid_request") == 1);
}

TEST_CASE("json_transform: a response body is transformed by the response operations",
          "[json_transform]") {
  auto c = createOk("json_transform", kRename);
  FakeRequestContext ctx;
  ctx.response().headers.add("content-type", "application/json");
  std::string body = R"({"service":"user-service","instance":"user-1","headers":{"a":"b"},"n":1.10})";
  CHECK(responseBody(*c, ctx, body) == FilterStatus::Continue);
  CHECK(body == R"({"service":"user-service","served_by":"user-1","n":1.10})");
}

TEST_CASE("json_transform: an invalid JSON response passes unchanged, or 502 with reject",
          "[json_transform]") {
  auto pass = createOk("json_transform", kRename);
  FakeRequestContext ctx;
  ctx.response().headers.add("content-type", "application/json");
  std::string body = "<html>oops</html>";
  CHECK(responseBody(*pass, ctx, body) == FilterStatus::Continue);
  CHECK(body == "<html>oops</html>");
  CHECK(ctx.failures.empty());
  CHECK(counter(ctx, "json_transform", "invalid_response") == 1);

  auto reject = createOk("json_transform",
                         R"({"response": [{"op": "remove", "path": "a"}],
                             "on_invalid_response": "reject"})");
  FakeRequestContext ctx2;
  ctx2.response().headers.add("content-type", "application/json");
  std::string body2 = "{\"a\":";
  CHECK(responseBody(*reject, ctx2, body2) == FilterStatus::StopAndRespond);
  REQUIRE(ctx2.failures.size() == 1);
  CHECK(ctx2.failures[0].status == 502);
  CHECK(ctx2.failures[0].code == "invalid_upstream_json");
  CHECK(ctx2.failures[0].source == ErrorSource::Upstream);
}

TEST_CASE("json_transform: templates read the request's header, capture, query and identity",
          "[json_transform]") {
  auto c = createOk("json_transform", R"({
      "path_template": "/api/users/{id}",
      "request": [
        {"op": "set", "path": "meta.user_id", "template": "{path.id}"},
        {"op": "set", "path": "meta.tenant", "template": "t-{header.X-Tenant}"},
        {"op": "set", "path": "meta.q", "template": "{query.q}"},
        {"op": "set", "path": "meta.sub", "template": "{identity.subject}"},
        {"op": "set", "path": "meta.email", "template": "{claim.email}"},
        {"op": "add", "path": "meta.missing", "template": "{query.nope}"},
        {"op": "set", "path": "meta.n", "value": 3},
        {"op": "set", "path": "meta.big", "value_json": "9007199254740993"}]})");
  FakeRequestContext ctx;
  ctx.request().path = "/api/users/a%20b";
  ctx.request().query = "x=1&q=hello+w%C3%B6rld";
  ctx.request().headers.add("content-type", "application/json");
  ctx.request().headers.add("x-tenant", "acme");
  auto id = std::make_unique<Identity>();
  id->subject = "alice";
  id->claims.emplace_back("email", "alice@example.com");
  ctx.filterState().set(kIdentity, std::move(id));
  std::string body = R"({"a":1})";
  CHECK(requestBody(*c, ctx, body) == FilterStatus::Continue);
  CHECK(body == R"({"a":1,"meta":{"user_id":"a b","tenant":"t-acme","q":"hello wörld",)"
                R"("sub":"alice","email":"alice@example.com","n":3,"big":9007199254740993}})");
}

TEST_CASE("json_transform: explain lists both directions", "[json_transform]") {
  auto c = createOk("json_transform", kRename);
  http::RequestHead head;
  CHECK(test::explain(*c, head) ==
        "JSON bodies up to 1048576 bytes; request: rename user_name -> userName; response: "
        "rename instance -> served_by, remove headers");
}

TEST_CASE("json_transform: config errors", "[json_transform]") {
  CHECK(createError("json_transform", "{}") == "request: give request or response operations");
  CHECK(createError("json_transform", R"({"response": [{"op": "rename", "path": "a"}]})") ==
        "response[0].to: required");
  CHECK(createError("json_transform", R"({"request": [{"op": "remove", "path": "a"}],
                                          "max_body_bytes": 100000000})") ==
        "max_body_bytes: at most 67108864 (64 MiB)");
  CHECK(createError("json_transform", R"({"request": [{"op": "remove", "path": "a"}],
                                          "on_invalid_response": "drop"})") ==
        "on_invalid_response: unknown value 'drop' (pass or reject)");
  CHECK(createError("json_transform",
                    R"({"request": [{"op": "set", "path": "a", "template": "{path.id}"}]})") ==
        "request: {path.id} is not a capture of path_template ''");
  CHECK(createError("json_transform",
                    R"({"request": [{"op": "set", "path": "a", "value": 1, "value_json": "2"}]})") ==
        "request[0]: set exactly one of value, value_json and template");
  CHECK(createError("json_transform", R"({"path_template": "x",
                    "request": [{"op": "remove", "path": "a"}]})")
            .rfind("path_template: invalid path template", 0) == 0);
  CHECK(createError("json_transform", R"({"request": [{"op": "remove", "path": "a", "x": 1}]})")
            .find("x") != std::string::npos);
}

} // namespace
} // namespace gw::filters
