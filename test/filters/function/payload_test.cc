// The payload 2.0 event (buildEvent) and the result mapping (mapResult): every rule of payload.h.
#include <catch2/catch.hpp>

#include <string>

#include "rapidjson/document.h"
#include "source/filters/function/payload.h"

namespace gw::filters::function {
namespace {

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  INFO(s);
  REQUIRE(!d.HasParseError());
  return d;
}

std::string str(const rapidjson::Value& v) {
  REQUIRE(v.IsString());
  return std::string(v.GetString(), v.GetStringLength());
}

struct Event {
  HeaderMap headers;
  std::vector<std::pair<std::string, std::string>> params{{"name", "hello"}};
  std::vector<std::pair<std::string, std::string>> claims{{"sub", "alice"}, {"iss", "idp"}};
  EventInput in;
  Event() {
    headers.add("user-agent", "curl/8.0");
    headers.add("x-multi", "a");
    headers.add("x-multi", "b");
    headers.add("cookie", "s=1; theme=dark");
    headers.add("content-type", "application/json");
    in.route_key = "GET /api/functions/{name}";
    in.method = "GET";
    in.path = "/api/functions/hello";
    in.query = "name=Ada%20L&x=1&x=2&flag";
    in.protocol = "HTTP/1.1";
    in.source_ip = "192.0.2.7";
    in.request_id = "req-1";
    in.domain_name = "api.example.com";
    in.headers = &headers;
    in.path_parameters = &params;
    in.time_ms = 1583348638390;
  }
};

TEST_CASE("the event has the payload 2.0 fields") {
  Event e;
  auto d = parse(buildEvent(e.in));
  CHECK(str(d["version"]) == "2.0");
  CHECK(str(d["routeKey"]) == "GET /api/functions/{name}");
  CHECK(str(d["rawPath"]) == "/api/functions/hello");
  CHECK(str(d["rawQueryString"]) == "name=Ada%20L&x=1&x=2&flag");
  // Cookies come out of the headers into their own array.
  REQUIRE(d["cookies"].IsArray());
  REQUIRE(d["cookies"].Size() == 2);
  CHECK(str(d["cookies"][0]) == "s=1");
  CHECK(str(d["cookies"][1]) == "theme=dark");
  CHECK_FALSE(d["headers"].HasMember("cookie"));
  // Repeated headers joined with ','.
  CHECK(str(d["headers"]["x-multi"]) == "a,b");
  CHECK(str(d["headers"]["user-agent"]) == "curl/8.0");
  // Query parameters decoded, repeats joined, a bare name has "".
  CHECK(str(d["queryStringParameters"]["name"]) == "Ada L");
  CHECK(str(d["queryStringParameters"]["x"]) == "1,2");
  CHECK(str(d["queryStringParameters"]["flag"]) == "");
  CHECK(str(d["pathParameters"]["name"]) == "hello");
  const auto& rc = d["requestContext"];
  CHECK(str(rc["http"]["method"]) == "GET");
  CHECK(str(rc["http"]["path"]) == "/api/functions/hello");
  CHECK(str(rc["http"]["protocol"]) == "HTTP/1.1");
  CHECK(str(rc["http"]["sourceIp"]) == "192.0.2.7");
  CHECK(str(rc["http"]["userAgent"]) == "curl/8.0");
  CHECK(str(rc["requestId"]) == "req-1");
  CHECK(str(rc["routeKey"]) == "GET /api/functions/{name}");
  CHECK(str(rc["stage"]) == "$default");
  CHECK(str(rc["time"]) == "04/Mar/2020:19:03:58 +0000");
  CHECK(rc["timeEpoch"].GetInt64() == 1583348638390);
  CHECK(str(rc["domainName"]) == "api.example.com");
  CHECK(str(rc["domainPrefix"]) == "api");
  // No identity: no authorizer.
  CHECK_FALSE(rc.HasMember("authorizer"));
  // No body.
  CHECK_FALSE(d.HasMember("body"));
  CHECK(d["isBase64Encoded"].GetBool() == false);
}

TEST_CASE("identity claims become requestContext.authorizer.jwt") {
  Event e;
  e.in.claims = &e.claims;
  e.in.scopes = {"orders:read"};
  auto d = parse(buildEvent(e.in));
  const auto& jwt = d["requestContext"]["authorizer"]["jwt"];
  CHECK(str(jwt["claims"]["sub"]) == "alice");
  CHECK(str(jwt["claims"]["iss"]) == "idp");
  REQUIRE(jwt["scopes"].Size() == 1);
  CHECK(str(jwt["scopes"][0]) == "orders:read");
}

TEST_CASE("no query, no path parameters, no cookies: those fields are left out") {
  Event e;
  HeaderMap h;
  e.in.headers = &h;
  e.in.query = "";
  e.params.clear();
  auto d = parse(buildEvent(e.in));
  CHECK_FALSE(d.HasMember("queryStringParameters"));
  CHECK_FALSE(d.HasMember("pathParameters"));
  CHECK_FALSE(d.HasMember("cookies"));
  CHECK(d["headers"].IsObject());
  CHECK(str(d["requestContext"]["http"]["userAgent"]) == "");
}

TEST_CASE("text bodies go as they are, others base64") {
  Event e;
  e.in.body = "{\"a\": 1}";
  e.in.has_body = true;
  auto d = parse(buildEvent(e.in));
  CHECK(str(d["body"]) == "{\"a\": 1}");
  CHECK(d["isBase64Encoded"].GetBool() == false);

  HeaderMap bin;
  bin.add("content-type", "application/octet-stream");
  e.in.headers = &bin;
  e.in.body = std::string("\x00\xff\x01", 3);
  auto b = parse(buildEvent(e.in));
  CHECK(str(b["body"]) == "AP8B");
  CHECK(b["isBase64Encoded"].GetBool() == true);

  // A text type with bytes that are not UTF-8 is base64 too; no content type at all as well.
  HeaderMap bad;
  bad.add("content-type", "text/plain; charset=latin1");
  e.in.headers = &bad;
  e.in.body = "caf\xe9";
  CHECK(parse(buildEvent(e.in))["isBase64Encoded"].GetBool() == true);
  HeaderMap none;
  e.in.headers = &none;
  e.in.body = "x";
  CHECK(parse(buildEvent(e.in))["isBase64Encoded"].GetBool() == true);
}

TEST_CASE("isTextBody") {
  CHECK(isTextBody("text/plain", "hi"));
  CHECK(isTextBody("Application/JSON; charset=utf-8", "{}"));
  CHECK(isTextBody("application/problem+json", "{}"));
  CHECK(isTextBody("application/soap+xml", "<a/>"));
  CHECK(isTextBody("application/x-www-form-urlencoded", "a=1"));
  CHECK_FALSE(isTextBody("image/png", "x"));
  CHECK_FALSE(isTextBody("", "x"));
  CHECK_FALSE(isTextBody("text/plain", "\xff"));
}

TEST_CASE("bytes that are not UTF-8 in headers and query values become U+FFFD") {
  Event e;
  HeaderMap h;
  h.add("x-bin", "a\xff");
  e.in.headers = &h;
  e.in.query = "q=%FF";
  auto d = parse(buildEvent(e.in));
  CHECK(str(d["headers"]["x-bin"]) == "a\xEF\xBF\xBD");
  CHECK(str(d["queryStringParameters"]["q"]) == "\xEF\xBF\xBD");
}

TEST_CASE("a structured result maps status, headers, multiValueHeaders, cookies and body") {
  auto r = mapResult(R"({"statusCode": 201, "headers": {"Content-Type": "text/plain",
      "X-N": 5, "X-B": true, "Content-Length": "999", "Transfer-Encoding": "chunked"},
      "multiValueHeaders": {"x-m": ["a", "b"]}, "cookies": ["a=1", "b=2; Path=/"],
      "body": "created"})");
  REQUIRE(r.ok());
  CHECK(r->status == 201);
  CHECK(*r->headers.get("content-type") == "text/plain");
  CHECK(*r->headers.get("x-n") == "5");
  CHECK(*r->headers.get("x-b") == "true");
  CHECK_FALSE(r->headers.has("content-length"));  // framing is the gateway's
  CHECK_FALSE(r->headers.has("transfer-encoding"));
  CHECK(r->headers.count("x-m") == 2);
  CHECK(r->headers.count("set-cookie") == 2);
  CHECK(r->body == "created");
}

TEST_CASE("isBase64Encoded bodies are decoded") {
  auto r = mapResult(R"({"statusCode": 200, "body": "AP8B", "isBase64Encoded": true})");
  REQUIRE(r.ok());
  CHECK(r->body == std::string("\x00\xff\x01", 3));
  CHECK_FALSE(mapResult(R"({"statusCode": 200, "body": "@@@", "isBase64Encoded": true})").ok());
}

TEST_CASE("a bare JSON value is a 200 JSON body, its text unchanged") {
  for (const char* v : {R"({"message": "hi", "n": 12345678901234567890})", "[1, 2.50]",
                        "\"text\"", "42", "null", "true"}) {
    INFO(v);
    auto r = mapResult(v);
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(*r->headers.get("content-type") == "application/json");
    CHECK(r->body == v);
  }
}

TEST_CASE("a structured result without body or headers is an empty response") {
  auto r = mapResult(R"({"statusCode": 204})");
  REQUIRE(r.ok());
  CHECK(r->status == 204);
  CHECK(r->body.empty());
  CHECK(r->headers.empty());
}

TEST_CASE("invalid results name what is wrong") {
  struct Case {
    const char* result;
    const char* message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"not json", "not JSON"},
           {"", "not JSON"},
           {R"({"statusCode": "200"})", "statusCode"},
           {R"({"statusCode": 99})", "statusCode"},
           {R"({"statusCode": 600})", "statusCode"},
           {R"({"statusCode": 200.5})", "statusCode"},
           {R"({"statusCode": 200, "headers": []})", "headers"},
           {R"({"statusCode": 200, "headers": {"x": {}}})", "headers.x"},
           {R"({"statusCode": 200, "headers": {"bad name": "v"}})", "headers.bad name"},
           {R"({"statusCode": 200, "headers": {"x": "a\nb"}})", "headers.x"},
           {R"({"statusCode": 200, "multiValueHeaders": {"x": "a"}})", "multiValueHeaders.x"},
           {R"({"statusCode": 200, "multiValueHeaders": {"x": [[]]}})", "multiValueHeaders.x"},
           {R"({"statusCode": 200, "cookies": "a=1"})", "cookies"},
           {R"({"statusCode": 200, "cookies": [1]})", "cookies"},
           {R"({"statusCode": 200, "body": {"a": 1}})", "body must be a string"},
           {R"({"statusCode": 200, "isBase64Encoded": "yes"})", "isBase64Encoded"},
       }) {
    INFO(c.result);
    auto r = mapResult(c.result);
    REQUIRE_FALSE(r.ok());
    CHECK(std::string(r.status().message()).find(c.message) != std::string::npos);
  }
}

TEST_CASE("null members of a structured result are ignored") {
  auto r = mapResult(
      R"({"statusCode": 200, "headers": null, "cookies": null, "body": null, "isBase64Encoded": null})");
  REQUIRE(r.ok());
  CHECK(r->body.empty());
}

} // namespace
} // namespace gw::filters::function
