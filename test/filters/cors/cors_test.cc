// `cors`: preflights answered at the gateway (204 with every header, 403 with typed codes),
// cross-origin requests decorated in the response and error stages, disallowed origins, Vary
// merging, the upstream's own CORS headers replaced, credentials rules, counters, explain, and
// config validation with field paths (through the registry and the whole config validator).
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::counter;
using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::instanceOf;
using test::values;

constexpr char kPreflightVary[] =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

const char* const kStats[] = {"preflight_allowed", "preflight_denied", "actual_allowed",
                              "actual_denied", "origin_not_allowed"};

// The counters of one request's fake worker, in kStats order.
std::vector<uint64_t> stats(FakeRequestContext& ctx) {
  std::vector<uint64_t> out;
  for (const char* s : kStats) {
    out.push_back(counter(ctx, "cors", s));
  }
  return out;
}

// A fake request with these headers (lower-case names) and method.
void setRequest(FakeRequestContext& ctx, const std::string& method,
                std::vector<std::pair<std::string, std::string>> headers) {
  ctx.request().method = method;
  for (auto& [n, v] : headers) {
    ctx.request().headers.add(n, v);
  }
}

// A preflight from `origin` for `method` (and `headers` when not empty).
void setPreflight(FakeRequestContext& ctx, const std::string& origin, const std::string& method,
                  const std::string& headers = "") {
  setRequest(ctx, "OPTIONS", {{"origin", origin}, {"access-control-request-method", method}});
  if (!headers.empty()) {
    ctx.request().headers.add("access-control-request-headers", headers);
  }
}

// The one response the filter made (a preflight answer).
const FakeRequestContext::Response& answered(FakeRequestContext& ctx) {
  REQUIRE(ctx.responses.size() == 1);
  REQUIRE(ctx.failures.empty());
  return ctx.responses[0];
}

// The one error the filter failed the request with.
const ErrorInfo& failed(FakeRequestContext& ctx) {
  REQUIRE(ctx.failures.size() == 1);
  REQUIRE(ctx.responses.empty());
  return ctx.failures[0];
}

const char kAppConfig[] = R"({
  "allow_origins": ["https://app.example.com", "https://*.example.org"],
  "allow_methods": ["GET", "PUT", "DELETE", "PATCH"],
  "allow_headers": ["Content-Type", "X-Request-Id", "authorization"],
  "expose_headers": ["X-Total-Count", "ETag"],
  "max_age_seconds": 3600,
  "allow_credentials": true
})";

// ---------------------------------------------------------------------------------------------
// Preflights

TEST_CASE("cors: an allowed preflight is answered 204 with every header", "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  CHECK(c->seesResponse());
  CHECK(c->shared() != nullptr);
  FakeRequestContext ctx;
  setPreflight(ctx, "https://App.Example.com", "PUT", "content-type, X-Request-ID");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  const auto& r = answered(ctx);
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  const HeaderMap& h = r.head.headers;
  CHECK(values(h, "access-control-allow-origin") ==
        std::vector<std::string>{"https://App.Example.com"});  // the origin as sent
  CHECK(values(h, "access-control-allow-credentials") == std::vector<std::string>{"true"});
  CHECK(values(h, "access-control-allow-methods") ==
        std::vector<std::string>{"GET, PUT, DELETE, PATCH"});
  CHECK(values(h, "access-control-allow-headers") ==
        std::vector<std::string>{"content-type, x-request-id, authorization"});
  CHECK(values(h, "access-control-max-age") == std::vector<std::string>{"3600"});
  CHECK(values(h, "vary") == std::vector<std::string>{kPreflightVary});
  CHECK_FALSE(h.has("access-control-expose-headers"));  // actual responses only
  CHECK_FALSE(h.has("content-type"));
  CHECK(h.size() == 6);
  CHECK(stats(ctx) == std::vector<uint64_t>{1, 0, 0, 0, 0});
  CHECK(ctx.filterState().empty());  // nothing for the response stage: the filter answered
}

TEST_CASE("cors: preflight defaults and allow-all", "[filters][cors]") {
  auto c = createOk("cors", R"({"allow_origins": ["*"]})");
  FakeRequestContext ctx;
  setPreflight(ctx, "http://localhost:5173", "POST");
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  const HeaderMap& h = answered(ctx).head.headers;
  CHECK(values(h, "access-control-allow-origin") == std::vector<std::string>{"*"});
  CHECK_FALSE(h.has("access-control-allow-credentials"));
  CHECK(values(h, "access-control-allow-methods") == std::vector<std::string>{"GET, HEAD, POST"});
  CHECK_FALSE(h.has("access-control-allow-headers"));
  CHECK(values(h, "access-control-max-age") == std::vector<std::string>{"600"});

  // max_age_seconds: 0 is sent as 0 (no caching), not the default.
  auto zero = createOk("cors", R"({"allow_origins": ["*"], "max_age_seconds": 0})");
  FakeRequestContext z;
  setPreflight(z, "http://localhost:5173", "GET");
  CHECK(instanceOf(*zero, owned).onRequestHeaders(z) == FilterStatus::StopAndRespond);
  CHECK(values(answered(z).head.headers, "access-control-max-age") ==
        std::vector<std::string>{"0"});
}

TEST_CASE("cors: a preflight from an origin not allowed gets 403", "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  for (const char* origin :
       {"https://evil.com", "http://app.example.com", "https://app.example.com:8443",
        "https://example.org", "https://evilexample.org", "null", "https://app.example.com/",
        "garbage"}) {
    INFO(origin);
    FakeRequestContext ctx;
    setPreflight(ctx, origin, "GET");
    CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    const ErrorInfo& e = failed(ctx);
    CHECK(e.kind == ErrorKind::Forbidden);
    CHECK(e.status == 403);
    CHECK(e.code == "cors_origin_not_allowed");
    CHECK(e.message == absl::StrCat("origin '", origin, "' is not allowed"));
    CHECK(e.source == ErrorSource::Filter);
    CHECK(*test::header(e.headers, "vary") == kPreflightVary);
    CHECK(test::header(e.headers, "access-control-allow-origin") == nullptr);
    CHECK(stats(ctx) == std::vector<uint64_t>{0, 1, 0, 0, 1});
  }
  // Two Origin fields: not an origin anyone allowed.
  FakeRequestContext twice;
  setPreflight(twice, "https://app.example.com", "GET");
  twice.request().headers.add("origin", "https://app.example.com");
  CHECK(f.onRequestHeaders(twice) == FilterStatus::StopAndRespond);
  CHECK(failed(twice).code == "cors_origin_not_allowed");
}

TEST_CASE("cors: preflight methods are case-sensitive; GET, HEAD and POST always pass",
          "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  for (const char* ok : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}) {
    INFO(ok);
    FakeRequestContext ctx;
    setPreflight(ctx, "https://app.example.com", ok);
    CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(answered(ctx).status == 204);
  }
  for (const char* bad : {"OPTIONS", "TRACE", "patch", "put", "", "G ET", "PUT,DELETE"}) {
    INFO(bad);
    FakeRequestContext ctx;
    setPreflight(ctx, "https://app.example.com", bad);
    CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    const ErrorInfo& e = failed(ctx);
    CHECK(e.status == 403);
    CHECK(e.code == "cors_method_not_allowed");
    CHECK(e.message == absl::StrCat("method '", bad,
                                    "' is not allowed (allowed: GET, PUT, DELETE, PATCH)"));
    CHECK(*test::header(e.headers, "vary") == kPreflightVary);
    CHECK(stats(ctx) == std::vector<uint64_t>{0, 1, 0, 0, 0});
  }
  // Two Access-Control-Request-Method fields: refused.
  FakeRequestContext twice;
  setPreflight(twice, "https://app.example.com", "PUT");
  twice.request().headers.add("access-control-request-method", "PUT");
  CHECK(f.onRequestHeaders(twice) == FilterStatus::StopAndRespond);
  CHECK(failed(twice).code == "cors_method_not_allowed");

  // '*': any method, answered with the method asked for.
  auto any = createOk("cors", R"({"allow_origins": ["https://a.test"], "allow_methods": ["*"]})");
  FakeRequestContext ctx;
  setPreflight(ctx, "https://a.test", "PROPFIND");
  CHECK(instanceOf(*any, owned).onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  CHECK(values(answered(ctx).head.headers, "access-control-allow-methods") ==
        std::vector<std::string>{"PROPFIND"});
}

TEST_CASE("cors: requested headers are checked case-insensitively, every field and item",
          "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  for (const char* ok : {"content-type", "CONTENT-TYPE", "Content-Type,X-Request-Id",
                         " x-request-id ,, authorization ,", "Authorization", ""}) {
    INFO(ok);
    FakeRequestContext ctx;
    setPreflight(ctx, "https://app.example.com", "PUT");
    ctx.request().headers.add("access-control-request-headers", ok);
    CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(answered(ctx).status == 204);
  }
  struct Bad {
    std::vector<std::string> fields;
    std::string refused;
  };
  for (const Bad& bad : std::vector<Bad>{{{"content-type, x-other"}, "x-other"},
                                         {{"content-type", "X-Secret"}, "X-Secret"},
                                         {{"content-typ"}, "content-typ"},
                                         {{"content-type, bad header"}, "bad header"},
                                         {{"x-request-id;"}, "x-request-id;"}}) {
    INFO(bad.refused);
    FakeRequestContext ctx;
    setPreflight(ctx, "https://app.example.com", "PUT");
    for (const auto& v : bad.fields) {
      ctx.request().headers.add("access-control-request-headers", v);
    }
    CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    const ErrorInfo& e = failed(ctx);
    CHECK(e.status == 403);
    CHECK(e.code == "cors_header_not_allowed");
    CHECK(e.message == absl::StrCat("request header '", bad.refused, "' is not allowed"));
    CHECK(stats(ctx) == std::vector<uint64_t>{0, 1, 0, 0, 0});
  }
}

TEST_CASE("cors: allow_headers '*' covers every name but Authorization", "[filters][cors]") {
  auto any = createOk("cors", R"({"allow_origins": ["https://a.test"], "allow_headers": ["*"]})");
  FilterPtr owned;
  Filter& f = instanceOf(*any, owned);
  FakeRequestContext ctx;
  setPreflight(ctx, "https://a.test", "POST", "X-Anything, content-type");
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  CHECK(values(answered(ctx).head.headers, "access-control-allow-headers") ==
        std::vector<std::string>{"X-Anything, content-type"});  // what was asked

  FakeRequestContext none;
  setPreflight(none, "https://a.test", "POST");
  CHECK(f.onRequestHeaders(none) == FilterStatus::StopAndRespond);
  CHECK_FALSE(answered(none).head.headers.has("access-control-allow-headers"));

  FakeRequestContext auth;
  setPreflight(auth, "https://a.test", "POST", "x-a, Authorization");
  CHECK(f.onRequestHeaders(auth) == FilterStatus::StopAndRespond);
  CHECK(failed(auth).code == "cors_header_not_allowed");
  CHECK(failed(auth).message == "request header 'Authorization' is not allowed");

  auto listed = createOk(
      "cors", R"({"allow_origins": ["https://a.test"], "allow_headers": ["*", "Authorization"]})");
  FakeRequestContext auth2;
  setPreflight(auth2, "https://a.test", "POST", "x-a, Authorization");
  CHECK(instanceOf(*listed, owned).onRequestHeaders(auth2) == FilterStatus::StopAndRespond);
  CHECK(answered(auth2).status == 204);
}

TEST_CASE("cors: what is not a preflight is not answered", "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  // OPTIONS with an Origin but no Access-Control-Request-Method: a cross-origin OPTIONS request.
  FakeRequestContext opts;
  setRequest(opts, "OPTIONS", {{"origin", "https://app.example.com"}});
  CHECK(f.onRequestHeaders(opts) == FilterStatus::Continue);
  CHECK(opts.untouched());
  CHECK(stats(opts) == std::vector<uint64_t>{0, 0, 1, 0, 0});
  // Access-Control-Request-Method without an Origin: not CORS at all.
  FakeRequestContext no_origin;
  setRequest(no_origin, "OPTIONS", {{"access-control-request-method", "PUT"}});
  CHECK(f.onRequestHeaders(no_origin) == FilterStatus::Continue);
  CHECK(no_origin.untouched());
  CHECK(no_origin.filterState().empty());
  CHECK(stats(no_origin) == std::vector<uint64_t>{0, 0, 0, 0, 0});
  // A GET carrying Access-Control-Request-Method is an actual request.
  FakeRequestContext get;
  setRequest(get, "GET", {{"origin", "https://app.example.com"},
                          {"access-control-request-method", "DELETE"}});
  CHECK(f.onRequestHeaders(get) == FilterStatus::Continue);
  CHECK(get.untouched());
}

// ---------------------------------------------------------------------------------------------
// Actual (non-preflight) requests and their responses

TEST_CASE("cors: an allowed cross-origin request passes and its response is decorated",
          "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext ctx;
  setRequest(ctx, "PUT", {{"origin", "https://a.b.example.org"}, {"content-type", "text/plain"}});
  const size_t request_headers = ctx.request().headers.size();
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(ctx.untouched());
  CHECK(ctx.request().headers.size() == request_headers);  // the request goes on unchanged
  CHECK(stats(ctx) == std::vector<uint64_t>{0, 0, 1, 0, 0});

  HeaderMap& h = ctx.response().headers;
  h.add("content-type", "application/json");
  h.add("vary", "Accept-Encoding");
  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(h, "access-control-allow-origin") ==
        std::vector<std::string>{"https://a.b.example.org"});
  CHECK(values(h, "access-control-allow-credentials") == std::vector<std::string>{"true"});
  CHECK(values(h, "access-control-expose-headers") ==
        std::vector<std::string>{"X-Total-Count, ETag"});
  CHECK(values(h, "vary") == std::vector<std::string>{"Accept-Encoding, Origin"});
  CHECK_FALSE(h.has("access-control-allow-methods"));  // preflight answers only
  CHECK_FALSE(h.has("access-control-max-age"));
  CHECK(values(h, "content-type") == std::vector<std::string>{"application/json"});
  CHECK(h.size() == 5);
  CHECK(ctx.untouched());
}

TEST_CASE("cors: allow-all answers '*' and never reflects", "[filters][cors]") {
  auto c = createOk("cors", R"({"allow_origins": ["*"], "expose_headers": ["*"]})");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext ctx;
  setRequest(ctx, "GET", {{"origin", "https://anyone.test"}});
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  const HeaderMap& h = ctx.response().headers;
  CHECK(values(h, "access-control-allow-origin") == std::vector<std::string>{"*"});
  CHECK_FALSE(h.has("access-control-allow-credentials"));
  CHECK(values(h, "access-control-expose-headers") == std::vector<std::string>{"*"});
  CHECK(values(h, "vary") == std::vector<std::string>{"Origin"});

  // "null" is not covered by '*': no CORS headers, still Vary.
  FakeRequestContext null_origin;
  setRequest(null_origin, "GET", {{"origin", "null"}});
  CHECK(f.onRequestHeaders(null_origin) == FilterStatus::Continue);
  CHECK(f.onResponseHeaders(null_origin) == FilterStatus::Continue);
  CHECK_FALSE(null_origin.response().headers.has("access-control-allow-origin"));
  CHECK(values(null_origin.response().headers, "vary") == std::vector<std::string>{"Origin"});
  CHECK(stats(null_origin) == std::vector<uint64_t>{0, 0, 0, 0, 1});
}

TEST_CASE("cors: null is allowed only when listed", "[filters][cors]") {
  auto c = createOk("cors", R"({"allow_origins": ["null"], "allow_credentials": true})");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext ctx;
  setRequest(ctx, "GET", {{"origin", "null"}});
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(ctx.response().headers, "access-control-allow-origin") ==
        std::vector<std::string>{"null"});
  FakeRequestContext other;
  setRequest(other, "GET", {{"origin", "https://a.test"}});
  CHECK(f.onRequestHeaders(other) == FilterStatus::Continue);
  CHECK(f.onResponseHeaders(other) == FilterStatus::Continue);
  CHECK_FALSE(other.response().headers.has("access-control-allow-origin"));
}

TEST_CASE("cors: a disallowed origin passes without CORS headers; the upstream's are removed",
          "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext ctx;
  setRequest(ctx, "GET", {{"origin", "https://evil.example"}});
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(ctx.untouched());
  CHECK(stats(ctx) == std::vector<uint64_t>{0, 0, 0, 0, 1});
  HeaderMap& h = ctx.response().headers;
  h.add("access-control-allow-origin", "*");
  h.add("access-control-allow-credentials", "true");
  h.add("access-control-expose-headers", "x-secret");
  h.add("access-control-max-age", "99");
  h.add("access-control-allow-methods", "GET");
  h.add("access-control-allow-headers", "x-a");
  h.add("access-control-allow-private-network", "true");
  h.add("access-control-request-method", "GET");  // not a response header the filter owns
  h.add("x-other", "1");
  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  std::vector<std::string> names;
  for (const auto& [n, v] : h.entries()) {
    names.push_back(n);
  }
  CHECK(names == std::vector<std::string>{"access-control-request-method", "x-other", "vary"});
  CHECK(values(h, "vary") == std::vector<std::string>{"Origin"});
  CHECK(ctx.filterState().get(FilterStateKey<FilterStateObject>{"cors"})->describe() ==
        "not allowed https://evil.example");
}

TEST_CASE("cors: the upstream's CORS headers are replaced, not duplicated", "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext ctx;
  setRequest(ctx, "GET", {{"origin", "https://app.example.com"}});
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  HeaderMap& h = ctx.response().headers;
  h.add("access-control-allow-origin", "*");
  h.add("access-control-allow-origin", "https://other.test");
  h.add("access-control-allow-credentials", "false");
  h.add("access-control-expose-headers", "x-internal");
  h.add("vary", "origin");
  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(h, "access-control-allow-origin") ==
        std::vector<std::string>{"https://app.example.com"});
  CHECK(values(h, "access-control-allow-credentials") == std::vector<std::string>{"true"});
  CHECK(values(h, "access-control-expose-headers") ==
        std::vector<std::string>{"X-Total-Count, ETag"});
  CHECK(values(h, "vary") == std::vector<std::string>{"origin"});  // already there
  CHECK(ctx.filterState().get(FilterStateKey<FilterStateObject>{"cors"})->describe() ==
        "allowed https://app.example.com");
}

TEST_CASE("cors: reject_disallowed_origins answers 403 instead", "[filters][cors]") {
  auto c = createOk("cors", R"({"allow_origins": ["https://app.example.com"],
                               "reject_disallowed_origins": true})");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext ctx;
  setRequest(ctx, "POST", {{"origin", "https://evil.example"}});
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  const ErrorInfo& e = failed(ctx);
  CHECK(e.kind == ErrorKind::Forbidden);
  CHECK(e.status == 403);
  CHECK(e.code == "cors_origin_not_allowed");
  CHECK(e.message == "origin 'https://evil.example' is not allowed");
  CHECK(*test::header(e.headers, "vary") == "Origin");
  CHECK(stats(ctx) == std::vector<uint64_t>{0, 0, 0, 1, 1});
  // Allowed origins and requests without Origin still pass.
  FakeRequestContext ok;
  setRequest(ok, "POST", {{"origin", "https://app.example.com"}});
  CHECK(f.onRequestHeaders(ok) == FilterStatus::Continue);
  FakeRequestContext plain;
  CHECK(f.onRequestHeaders(plain) == FilterStatus::Continue);
  CHECK(plain.untouched());
}

TEST_CASE("cors: a request without Origin is untouched but for Vary", "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext ctx;
  setRequest(ctx, "GET", {{"accept", "*/*"}});
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  CHECK(ctx.untouched());
  CHECK(ctx.filterState().empty());
  CHECK(ctx.request().headers.size() == 1);
  HeaderMap& h = ctx.response().headers;
  h.add("access-control-allow-origin", "*");  // the upstream's own: left alone
  CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
  CHECK(values(h, "access-control-allow-origin") == std::vector<std::string>{"*"});
  CHECK(values(h, "vary") == std::vector<std::string>{"Origin"});
  CHECK(h.size() == 2);
  CHECK(stats(ctx) == std::vector<uint64_t>{0, 0, 0, 0, 0});
}

TEST_CASE("cors: Vary is merged, never duplicated", "[filters][cors]") {
  auto c = createOk("cors", R"({"allow_origins": ["https://a.test"]})");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  struct Case {
    std::vector<std::string> before;
    std::vector<std::string> after;
  };
  for (const Case& k : std::vector<Case>{
           {{}, {"Origin"}},
           {{"Accept-Encoding"}, {"Accept-Encoding, Origin"}},
           {{"accept-encoding, accept-language"}, {"accept-encoding, accept-language, Origin"}},
           {{"Accept-Encoding, "}, {"Accept-Encoding, Origin"}},
           {{""}, {"Origin"}},
           {{"ORIGIN"}, {"ORIGIN"}},
           {{"accept, origin"}, {"accept, origin"}},
           {{"Accept", "Origin"}, {"Accept", "Origin"}},
           {{"Accept", "Cookie"}, {"Accept, Origin", "Cookie"}},
           {{"*"}, {"*"}},
           {{"x-origin"}, {"x-origin, Origin"}},
       }) {
    INFO(absl::StrJoin(k.before, " | "));
    for (bool cors_request : {false, true}) {
      FakeRequestContext ctx;
      if (cors_request) {
        ctx.request().headers.add("origin", "https://a.test");
      }
      CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
      for (const auto& v : k.before) {
        ctx.response().headers.add("vary", v);
      }
      CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
      CHECK(values(ctx.response().headers, "vary") == k.after);
    }
  }
}

TEST_CASE("cors: error responses are decorated too", "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  // A later filter failed (401 from jwt_auth, a 502 from the upstream...): the page can read it.
  FakeRequestContext ctx;
  setRequest(ctx, "GET", {{"origin", "https://app.example.com"}});
  CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
  ctx.setError(ErrorInfo::make(ErrorKind::Unauthenticated, "no token", "jwt_missing"));
  ctx.response().status = 401;
  ctx.response().headers.add("content-type", "application/json");
  ctx.response().headers.add("www-authenticate", "Bearer");
  CHECK(f.onError(ctx) == FilterStatus::Continue);
  const HeaderMap& h = ctx.response().headers;
  CHECK(values(h, "access-control-allow-origin") ==
        std::vector<std::string>{"https://app.example.com"});
  CHECK(values(h, "access-control-allow-credentials") == std::vector<std::string>{"true"});
  CHECK(values(h, "vary") == std::vector<std::string>{"Origin"});
  CHECK(values(h, "www-authenticate") == std::vector<std::string>{"Bearer"});
  CHECK(ctx.untouched());

  FakeRequestContext denied;
  setRequest(denied, "GET", {{"origin", "https://evil.example"}});
  CHECK(f.onRequestHeaders(denied) == FilterStatus::Continue);
  denied.setError(ErrorInfo::make(ErrorKind::UpstreamTimeout, "timeout"));
  CHECK(f.onError(denied) == FilterStatus::Continue);
  CHECK_FALSE(denied.response().headers.has("access-control-allow-origin"));
  CHECK(values(denied.response().headers, "vary") == std::vector<std::string>{"Origin"});
}

TEST_CASE("cors: credentials are never sent with '*' or a reflected arbitrary origin",
          "[filters][cors]") {
  // The config rules that make it so (the validator's side is tested below); here, the headers.
  auto c = createOk("cors", R"({"allow_origin_regexes": ["https://[a-z]+\\.example\\.com"],
                               "allow_credentials": true})");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  for (const char* origin : {"https://cors-probe.invalid", "https://evil.com",
                             "https://a.example.com.evil.com", "null"}) {
    INFO(origin);
    FakeRequestContext ctx;
    setRequest(ctx, "GET", {{"origin", origin}});
    CHECK(f.onRequestHeaders(ctx) == FilterStatus::Continue);
    CHECK(f.onResponseHeaders(ctx) == FilterStatus::Continue);
    CHECK_FALSE(ctx.response().headers.has("access-control-allow-origin"));
    CHECK_FALSE(ctx.response().headers.has("access-control-allow-credentials"));
  }
  FakeRequestContext ok;
  setRequest(ok, "GET", {{"origin", "https://shop.example.com"}});
  CHECK(f.onRequestHeaders(ok) == FilterStatus::Continue);
  CHECK(f.onResponseHeaders(ok) == FilterStatus::Continue);
  CHECK(values(ok.response().headers, "access-control-allow-origin") ==
        std::vector<std::string>{"https://shop.example.com"});
  CHECK(values(ok.response().headers, "access-control-allow-credentials") ==
        std::vector<std::string>{"true"});
}

// ---------------------------------------------------------------------------------------------
// explain

TEST_CASE("cors: explain says what would happen", "[filters][cors]") {
  auto c = createOk("cors", kAppConfig);
  http::RequestHead head;
  head.method = "GET";
  CHECK(test::explain(*c, head) ==
        "not a CORS request (no Origin): passes; responses get Vary: Origin");

  head.headers.add("origin", "https://x.example.org");
  CHECK(test::explain(*c, head) ==
        "cross-origin request from 'https://x.example.org' (allowed by wildcard "
        "'https://*.example.org'): passes; responses get Access-Control-Allow-Origin: "
        "https://x.example.org, Access-Control-Allow-Credentials: true, "
        "Access-Control-Expose-Headers: X-Total-Count, ETag, Vary: Origin");
  {
    FilterState state;
    ExplainContext ctx{head, state};
    c->explain(ctx);
    REQUIRE(state.get(FilterStateKey<FilterStateObject>{"cors"}) != nullptr);
    CHECK(state.get(FilterStateKey<FilterStateObject>{"cors"})->describe() ==
          "allowed https://x.example.org");
  }

  head.method = "OPTIONS";
  head.headers.add("access-control-request-method", "PUT");
  head.headers.add("access-control-request-headers", "content-type");
  CHECK(test::explain(*c, head) ==
        "preflight from 'https://x.example.org' (allowed by wildcard 'https://*.example.org'): "
        "answer 204 (allow-methods GET, PUT, DELETE, PATCH; allow-headers content-type, "
        "x-request-id, authorization; max-age 3600; credentials; not sent upstream)");
  head.headers.set("access-control-request-headers", "x-nope");
  CHECK(test::explain(*c, head) ==
        "preflight from 'https://x.example.org' (allowed by wildcard 'https://*.example.org'): "
        "403 cors_header_not_allowed: request header 'x-nope' is not allowed");
  head.headers.set("access-control-request-method", "TRACE");
  CHECK(test::explain(*c, head) ==
        "preflight from 'https://x.example.org' (allowed by wildcard 'https://*.example.org'): "
        "403 cors_method_not_allowed: method 'TRACE' is not allowed (allowed: GET, PUT, DELETE, "
        "PATCH)");
  head.headers.set("origin", "https://evil.test");
  CHECK(test::explain(*c, head) ==
        "preflight from 'https://evil.test': 403 cors_origin_not_allowed (origin not allowed; "
        "not sent upstream)");

  head.method = "GET";
  CHECK(test::explain(*c, head) ==
        "cross-origin request from 'https://evil.test': origin not allowed: passes without CORS "
        "headers (the browser keeps the response from the page); responses get Vary: Origin");
  auto rejecting = createOk("cors", R"({"allow_origins": ["*"], "allow_methods": ["*"],
                                       "allow_headers": ["*"],
                                       "reject_disallowed_origins": true})");
  head.headers.set("origin", "null");
  CHECK(test::explain(*rejecting, head) ==
        "cross-origin request from 'null': 403 cors_origin_not_allowed (origin not allowed; "
        "reject_disallowed_origins)");
  head.headers.set("origin", "https://a.test");
  CHECK(test::explain(*rejecting, head) ==
        "cross-origin request from 'https://a.test' (allowed by '*'): passes; responses get "
        "Access-Control-Allow-Origin: *, Vary: Origin");
  head.method = "OPTIONS";
  CHECK(test::explain(*rejecting, head) ==
        "preflight from 'https://a.test' (allowed by '*'): answer 204 (allow-methods as "
        "requested; allow-headers as requested; max-age 600; not sent upstream)");
  // Explaining counts nothing and changes nothing.
  CHECK(head.headers.size() == 3);
}

// ---------------------------------------------------------------------------------------------
// Config validation

TEST_CASE("cors: config errors name the field", "[filters][cors]") {
  CHECK(createError("cors", "{}") ==
        "allow_origins: required (at least one origin, or allow_origin_regexes)");
  CHECK(createError("cors", R"({"allow_origins": ["*"], "allow_credentials": true})") ==
        "allow_origins[0]: '*' cannot be used with allow_credentials: true (browsers refuse "
        "'Access-Control-Allow-Origin: *' with credentials); list the origins");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"],
                               "allow_methods": ["GET", "*"], "allow_credentials": true})") ==
        "allow_methods[1]: '*' cannot be used with allow_credentials: true (browsers take it "
        "literally with credentials); list the methods");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"],
                               "allow_headers": ["*"], "allow_credentials": true})") ==
        "allow_headers[0]: '*' cannot be used with allow_credentials: true (browsers take it "
        "literally with credentials); list the header names");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"],
                               "expose_headers": ["etag", "*"], "allow_credentials": true})") ==
        "expose_headers[1]: '*' cannot be used with allow_credentials: true (browsers take it "
        "literally with credentials); list the header names");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"],
                               "allow_methods": ["GET", "BAD METHOD"]})") ==
        "allow_methods[1]: invalid method 'BAD METHOD'");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"], "allow_methods": [""]})") ==
        "allow_methods[0]: invalid method ''");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"], "allow_methods": ["put"]})") ==
        "allow_methods[0]: 'put' never matches: browsers send 'PUT' (methods are case-sensitive)");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"],
                               "allow_headers": ["x-ok", "x bad"]})") ==
        "allow_headers[1]: invalid header name 'x bad'");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"],
                               "expose_headers": ["x:y"]})") ==
        "expose_headers[0]: invalid header name 'x:y'");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"],
                               "max_age_seconds": 86401})") ==
        "max_age_seconds: must be at most 86400 (24 h; browsers cap it lower)");
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test/"]})").rfind(
            "allow_origins[0]: 'https://a.test/' is not an origin", 0) == 0);
  CHECK(createError("cors", R"({"allow_origin_regexes": [".*"], "allow_credentials": true})")
            .rfind("allow_origin_regexes[0]: matches 'https://cors-probe.invalid'", 0) == 0);
  CHECK(createError("cors", R"({"allow_origins": ["https://a.test"], "bogus": 1})").find("bogus") !=
        std::string::npos);
  // Valid corner cases.
  createOk("cors", R"({"allow_origins": ["https://a.test"], "allow_methods": ["PATCH", "patch",
                      "PROPFIND"], "max_age_seconds": 86400})");
  createOk("cors", R"({"allow_origin_regexes": ["https://[a-z]+\\.a\\.test"],
                       "allow_credentials": true})");
}

TEST_CASE("cors: the config validator reports the whole field path", "[filters][cors]") {
  auto config = test::parseConfigOk(R"(
listeners:
  - name: main
    address: 127.0.0.1:0
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {prefix: /a}
            pre_filters:
              - name: cors
                config:
                  allow_origins: ["https://app.example.com", "*"]
            route_filter: {name: router, config: {cluster: c}}
          - match: {prefix: /b}
            pre_filters:
              - {name: headers, config: {}}
              - name: cors
                config: {allow_origins: ["*"], allow_credentials: true}
            route_filter: {name: router, config: {cluster: c}}
clusters:
  - {name: c, endpoints: [{address: "127.0.0.1:1"}]}
)");
  std::vector<std::string> errors;
  for (const auto& e : config::validateConfig(config)) {
    errors.push_back(e.toString());
  }
  CHECK(errors == std::vector<std::string>{
                      "listeners[0].virtual_hosts[0].routes[0].pre_filters[0].config."
                      "allow_origins[1]: '*' allows every origin and cannot be combined with "
                      "other entries",
                      "listeners[0].virtual_hosts[0].routes[1].pre_filters[1].config."
                      "allow_origins[0]: '*' cannot be used with allow_credentials: true "
                      "(browsers refuse 'Access-Control-Allow-Origin: *' with credentials); "
                      "list the origins"});
}

} // namespace
} // namespace gw::filters
