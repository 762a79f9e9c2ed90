// The `function` route filter on a fake request: config errors, the invocation it sends (path,
// headers, the payload 2.0 event), the mapping of results, function errors, timeouts, transport
// errors, SigV4 signing with credentials from a file or the environment, and cancellation.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "source/filters/identity.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters::test {
namespace {

FilterConfigConstSharedPtr make(const std::string& extra = "") {
  return createOk("function",
                  absl::StrCat(R"({"cluster": "fn", "function_name": "hello")",
                               extra.empty() ? "" : ", ", extra, "}"),
                  clusters({"fn"}));
}

std::string err(const std::string& json) {
  return createError("function", json, clusters({"fn"}));
}

HttpResult ok(const std::string& body, int status = 200) {
  HttpResult r;
  r.response.head.status = status;
  r.response.body = body;
  return r;
}

struct Run {
  FakeRequestContext ctx;
  FakeUpstream upstream{ctx.fakeWorker().http};
  FilterPtr owned;
  Filter* f = nullptr;
  FilterStatus st = FilterStatus::Continue;
  explicit Run(const FilterConfig& c, bool start = true) {
    f = &instanceOf(c, owned);
    if (start) {
      st = f->onRoute(ctx, upstream);
    }
  }
  FakeHttpClient& http() { return ctx.fakeWorker().http; }
};

TEST_CASE("config errors name the field") {
  CHECK(err(R"({"function_name": "f"})") == "cluster: required (the function runtime's cluster)");
  CHECK(err(R"({"cluster": "x", "function_name": "f"})") == "cluster: unknown cluster 'x'");
  CHECK(absl::StartsWith(err(R"({"cluster": "fn"})"), "function_name: required"));
  CHECK(absl::StartsWith(err(R"({"cluster": "fn", "function_name": "a/b"})"),
                         "function_name: required"));
  CHECK(err(R"({"cluster": "fn", "function_name": "f", "timeout_ms": 900001})") ==
        "timeout_ms: must be at most 900000");
  CHECK(err(R"({"cluster": "fn", "function_name": "f", "qualifier": "a/b"})") ==
        "qualifier: must be a version number or an alias name");
  CHECK(absl::StartsWith(
      err(R"({"cluster": "fn", "function_name": "f", "path_template": "nope"})"),
      "path_template: invalid path template"));
  CHECK(err(R"({"cluster": "fn", "function_name": "f", "aws": {}})") ==
        "aws.region: required (e.g. eu-west-1)");
  CHECK(err(R"({"cluster": "fn", "function_name": "f", "aws": {"region": "EU"}})") ==
        "aws.region: must be lower-case letters, digits and '-'");
  CHECK(absl::StartsWith(
      err(R"({"cluster": "fn", "function_name": "f", "aws": {"region": "eu-west-1",
              "credentials_file": "/nonexistent/creds"}})"),
      "aws.credentials_file: cannot read '/nonexistent/creds'"));
  CHECK(absl::StrContains(err(R"({"cluster": "fn", "function_name": "f", "bogus": 1})"), "bogus"));
}

TEST_CASE("the invocation is POST /2015-03-31/functions/<name>/invocations with the event") {
  auto c = make(R"("path_template": "/api/users/{id}", "route_key": "GET /api/users/{id}",
                   "timeout_ms": 700)");
  Run r(*c, false);
  r.ctx.request().headers.add("user-agent", "curl/8");
  r.ctx.request().headers.add("content-type", "application/json");
  r.ctx.requestBody() = R"({"a":1})";
  r.st = r.f->onRoute(r.ctx, r.upstream);
  CHECK(r.st == FilterStatus::Pause);
  REQUIRE(r.http().calls.size() == 1);
  const auto& call = r.http().calls[0];
  CHECK(call.cluster == "fn");
  CHECK(call.request.method == "POST");
  CHECK(call.request.path == "/2015-03-31/functions/hello/invocations");
  CHECK(call.request.timeout.count() == 700);
  CHECK(*call.request.headers.get("content-type") == "application/json");
  CHECK(*call.request.headers.get("x-request-id") == "req-0123456789abcdef");
  CHECK_FALSE(call.request.headers.has("authorization"));  // not signed without `aws`
  rapidjson::Document d;
  d.Parse(call.request.body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["version"].GetString()) == "2.0");
  CHECK(std::string(d["routeKey"].GetString()) == "GET /api/users/{id}");
  CHECK(std::string(d["rawPath"].GetString()) == "/api/users/42");
  CHECK(std::string(d["rawQueryString"].GetString()) == "x=1");
  CHECK(std::string(d["pathParameters"]["id"].GetString()) == "42");
  CHECK(std::string(d["queryStringParameters"]["x"].GetString()) == "1");
  CHECK(std::string(d["requestContext"]["http"]["sourceIp"].GetString()) == "192.0.2.7");
  CHECK(std::string(d["requestContext"]["requestId"].GetString()) == "req-0123456789abcdef");
  CHECK(d["requestContext"]["timeEpoch"].GetInt64() == kStartEpochSeconds * 1000);
  CHECK(std::string(d["body"].GetString()) == R"({"a":1})");
  // The request body is buffered for the event.
  CHECK(c->requestBody().mode == BodyPolicy::Mode::Buffer);
  CHECK(c->requestBody().max_bytes == 1 << 20);
}

TEST_CASE("qualifier and ARNs in the invocation path") {
  auto c = make(R"("qualifier": "$LATEST")");
  Run r(*c);
  CHECK(r.http().calls[0].request.path ==
        "/2015-03-31/functions/hello/invocations?Qualifier=%24LATEST");
  auto arn = createOk("function",
                      R"({"cluster": "fn", "function_name": "arn:aws:lambda:eu-west-1:1:function:f"})",
                      clusters({"fn"}));
  Run a(*arn);
  CHECK(a.http().calls[0].request.path ==
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Af/invocations");
}

TEST_CASE("the identity's claims reach the event") {
  auto c = make();
  Run r(*c, false);
  Identity& id = r.ctx.filterState().emplace(kIdentity);
  id.subject = "alice";
  id.claims = {{"sub", "alice"}};
  id.permissions = {"orders:read"};
  r.f->onRoute(r.ctx, r.upstream);
  rapidjson::Document d;
  d.Parse(r.http().calls[0].request.body.c_str());
  CHECK(std::string(d["requestContext"]["authorizer"]["jwt"]["claims"]["sub"].GetString()) ==
        "alice");
  CHECK(std::string(d["requestContext"]["authorizer"]["jwt"]["scopes"][0].GetString()) ==
        "orders:read");
}

TEST_CASE("a structured result is the response") {
  auto c = make();
  Run r(*c);
  r.http().complete(0, ok(R"({"statusCode": 201, "headers": {"content-type": "text/plain"},
                              "cookies": ["a=1"], "body": "made"})"));
  REQUIRE(r.ctx.responses.size() == 1);
  CHECK(r.ctx.responses[0].status == 201);
  CHECK(r.ctx.responses[0].body == "made");
  CHECK(r.ctx.responses[0].content_type == "text/plain");
  CHECK(*r.ctx.responses[0].head.headers.get("set-cookie") == "a=1");
  CHECK(counter(r.ctx, "function", "ok") == 1);
  CHECK(counter(r.ctx, "function", "invocations") == 1);
}

TEST_CASE("a bare JSON value is a 200 JSON response") {
  auto c = make();
  Run r(*c);
  r.http().complete(0, ok(R"({"message":"Hello, Ada!"})"));
  REQUIRE(r.ctx.responses.size() == 1);
  CHECK(r.ctx.responses[0].status == 200);
  CHECK(r.ctx.responses[0].content_type == "application/json");
  CHECK(r.ctx.responses[0].body == R"({"message":"Hello, Ada!"})");
}

TEST_CASE("function errors are 502 function_error") {
  auto c = make();
  {
    Run r(*c);
    HttpResult res = ok(R"({"errorMessage": "boom", "errorType": "RuntimeError"})");
    res.response.head.headers.add("x-amz-function-error", "Unhandled");
    r.http().complete(0, std::move(res));
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].status == 502);
    CHECK(r.ctx.failures[0].code == "function_error");
    CHECK(r.ctx.failures[0].message == "function 'hello' failed (Unhandled): RuntimeError: boom");
    CHECK(r.ctx.responses.empty());
    CHECK(counter(r.ctx, "function", "function_errors") == 1);
  }
  {
    Run r(*c);
    r.http().complete(0, ok(R"({"Type": "User", "message": "Function not found"})", 404));
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].status == 502);
    CHECK(r.ctx.failures[0].code == "function_error");
    CHECK(r.ctx.failures[0].message == "invoking function 'hello' returned status 404");
  }
}

TEST_CASE("an invalid result is 502 function_invalid_result") {
  auto c = make();
  for (const char* body : {"not json", R"({"statusCode": "x"})", R"({"statusCode": 200, "body": 1})"}) {
    INFO(body);
    Run r(*c);
    r.http().complete(0, ok(body));
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].status == 502);
    CHECK(r.ctx.failures[0].code == "function_invalid_result");
    CHECK(absl::StartsWith(r.ctx.failures[0].message,
                           "function 'hello' returned an invalid result: "));
  }
}

TEST_CASE("a timeout is 502 function_timeout: from the client, or from the request's timer") {
  auto c = make(R"("timeout_ms": 300)");
  {
    Run r(*c);
    HttpResult res;
    res.failed = true;
    res.error = ErrorInfo::make(ErrorKind::UpstreamTimeout, "no response within 300 ms");
    r.http().complete(0, std::move(res));
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].status == 502);
    CHECK(r.ctx.failures[0].code == "function_timeout");
    CHECK(r.ctx.failures[0].message == "function 'hello' did not answer within 300 ms");
  }
  {
    Run r(*c);
    REQUIRE(r.ctx.timers.size() == 1);
    CHECK(r.ctx.timers[0].delay.count() == 350);
    r.ctx.timers[0].fn();
    CHECK(r.http().calls[0].cancelled);
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].code == "function_timeout");
    CHECK(counter(r.ctx, "function", "timeouts") == 1);
    // The late answer changes nothing.
    r.http().complete(0, ok("{}"));
    CHECK(r.ctx.responses.empty());
  }
}

TEST_CASE("transport errors are handed on as they are") {
  auto c = make();
  Run r(*c);
  HttpResult res;
  res.failed = true;
  res.error = ErrorInfo::make(ErrorKind::UpstreamConnectFailed, "connection refused");
  r.http().complete(0, std::move(res));
  REQUIRE(r.ctx.failures.size() == 1);
  CHECK(r.ctx.failures[0].code == "upstream_connect_failed");
}

TEST_CASE("onDestroy cancels the invocation; a late answer is dropped") {
  auto c = make();
  Run r(*c);
  r.f->onDestroy(r.ctx);
  CHECK(r.http().calls[0].cancelled);
  CHECK(counter(r.ctx, "function", "cancelled") == 1);
  r.ctx.end();
  r.http().complete(0, ok("{}"));
  CHECK(r.ctx.responses.empty());
}

TEST_CASE("aws: the call is SigV4-signed with credentials from a file, never shown") {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                                        "/aws-credentials");
  {
    std::ofstream out(path);
    out << "[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = nope\n"
        << "[gw]\naws_access_key_id = AKIDEXAMPLE\n"
        << "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n"
        << "aws_session_token = SESSION\n";
  }
  auto c = make(absl::StrCat(R"("aws": {"region": "eu-west-1", "credentials_file": ")", path,
                             R"(", "profile": "gw"})"));
  Run r(*c);
  const HttpRequest& call = r.http().calls[0].request;
  CHECK(call.authority == "lambda.eu-west-1.amazonaws.com");
  const std::string* date = call.headers.get("x-amz-date");
  REQUIRE(date != nullptr);
  CHECK(date->size() == 16);
  CHECK(*call.headers.get("x-amz-security-token") == "SESSION");
  const std::string* auth = call.headers.get("authorization");
  REQUIRE(auth != nullptr);
  CHECK(absl::StartsWith(*auth, absl::StrCat("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/",
                                             date->substr(0, 8), "/eu-west-1/lambda/aws4_request, "
                                             "SignedHeaders=content-type;host;x-amz-date;"
                                             "x-amz-invocation-type;x-amz-security-token, "
                                             "Signature=")));
  // explain names the region, never the key.
  http::RequestHead head;
  const std::string e = explain(*c, head);
  CHECK(absl::StrContains(e, "SigV4 eu-west-1"));
  CHECK_FALSE(absl::StrContains(e, "EXAMPLEKEY"));
  CHECK_FALSE(absl::StrContains(e, "AKID"));
  CHECK(absl::StartsWith(
      err(absl::StrCat(R"({"cluster": "fn", "function_name": "f", "aws": {"region": "eu-west-1",
                           "credentials_file": ")", path, R"(", "profile": "none"}})")),
      "aws.profile: no [none] section"));
  std::remove(path.c_str());
}

TEST_CASE("aws: credentials from the environment") {
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  CHECK(absl::StartsWith(
      err(R"({"cluster": "fn", "function_name": "f", "aws": {"region": "eu-west-1"}})"),
      "aws: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"));
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  unsetenv("AWS_SESSION_TOKEN");
  auto c = make(R"("aws": {"region": "us-east-1", "host": "lambda.local"})");
  Run r(*c);
  const HttpRequest& call = r.http().calls[0].request;
  CHECK(call.authority == "lambda.local");
  CHECK_FALSE(call.headers.has("x-amz-security-token"));
  CHECK(absl::StrContains(*call.headers.get("authorization"), "Credential=AKIDENV/"));
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
}

TEST_CASE("explain says what would be invoked") {
  auto c = make(R"("timeout_ms": 900)");
  http::RequestHead head;
  CHECK(explain(*c, head) ==
        "invoke function 'hello' on cluster 'fn' (POST /2015-03-31/functions/hello/invocations, "
        "payload 2.0, timeout 900 ms)");
}

} // namespace
} // namespace gw::filters::test
