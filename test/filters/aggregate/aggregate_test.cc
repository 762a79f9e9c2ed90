// The `aggregate` route filter on a fake request (GET /api/users/42?x=1): config errors, part
// paths from captures, query, headers and identity, the headers every part carries, the merged
// answer, optional and required failures, the deadline, cancellation and the per-part counters.
#include <catch2/catch.hpp>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include "source/filters/aggregate/part_template.h"
#include "source/filters/filter_stats.h"
#include "source/filters/identity.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters::test {
namespace {

const char kParts[] = R"("path_template": "/api/users/{id}", "timeout_ms": 1000, "parts": [
    {"name": "user", "cluster": "users", "path": "/users/{id}"},
    {"name": "orders", "cluster": "orders", "path": "/orders?user={id}&x={query.x}",
     "timeout_ms": 300},
    {"name": "payments", "cluster": "payments", "path": "/payments/{identity.subject}",
     "optional": true}])";

ValidationContext ctxClusters() { return clusters({"users", "orders", "payments"}); }

FilterConfigConstSharedPtr make(const std::string& extra = "") {
  return createOk("aggregate",
                  absl::StrCat("{", kParts, extra.empty() ? "" : ", ", extra, "}"),
                  ctxClusters());
}

std::string err(const std::string& json) {
  return createError("aggregate", json, ctxClusters());
}

HttpResult ok(const std::string& body, int status = 200) {
  HttpResult r;
  r.response.head.status = status;
  r.response.body = body;
  return r;
}

HttpResult failed(ErrorKind kind, const std::string& msg) {
  HttpResult r;
  r.failed = true;
  r.error = ErrorInfo::make(kind, msg);
  return r;
}

struct Run {
  FakeRequestContext ctx;
  FakeUpstream upstream{ctx.fakeWorker().http};
  FilterPtr owned;
  Filter* f = nullptr;
  FilterStatus st = FilterStatus::Continue;
  Run(const FilterConfig& c, bool identity = true) {
    f = &instanceOf(c, owned);
    if (identity) {
      Identity& id = ctx.filterState().emplace(kIdentity);
      id.subject = "alice smith";
      id.claims = {{"tenant", "t1"}};
    }
    ctx.request().headers.add("authorization", "Bearer tok");
    ctx.request().headers.add("x-tenant", "acme");
    ctx.request().headers.add("cookie", "secret=1");
    st = f->onRoute(ctx, upstream);
  }
  FakeHttpClient& http() { return ctx.fakeWorker().http; }
  size_t index(const std::string& cluster) {
    for (size_t i = 0; i < http().calls.size(); i++) {
      if (http().calls[i].cluster == cluster) {
        return i;
      }
    }
    FAIL("no call to " << cluster);
    return 0;
  }
};

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  INFO(s);
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

uint64_t partCount(FakeRequestContext& ctx, const std::string& part, const std::string& result) {
  const std::string want = absl::StrCat("route=\"users\",part=\"", part, "\",result=\"", result,
                                        "\"");
  std::vector<const FilterStatsBlock*> blocks{&ctx.fakeWorker().stats};
  const std::string text = renderFilterStats(blocks);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "gateway_filter_aggregate_parts_total{") &&
        absl::StrContains(line, want)) {
      uint64_t n = 0;
      REQUIRE(absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &n));
      return n;
    }
  }
  return 0;
}

TEST_CASE("config errors name the field") {
  CHECK(err(R"({"parts": []})") == "parts: required (at least one part)");
  CHECK(err(R"({"parts": [{"cluster": "users", "path": "/"}]})") ==
        "parts[0].name: required: 1-64 characters of A-Z a-z 0-9 '_' '-'");
  CHECK(err(R"({"parts": [{"name": "errors", "cluster": "users", "path": "/"}]})") ==
        "parts[0].name: 'errors' is the key of the failures list");
  CHECK(err(R"({"parts": [{"name": "a", "cluster": "users", "path": "/"},
                          {"name": "a", "cluster": "users", "path": "/"}]})") ==
        "parts[1].name: duplicate part name 'a'");
  CHECK(err(R"({"parts": [{"name": "a", "path": "/"}]})") == "parts[0].cluster: required");
  CHECK(err(R"({"parts": [{"name": "a", "cluster": "nope", "path": "/"}]})") ==
        "parts[0].cluster: unknown cluster 'nope'");
  CHECK(err(R"({"parts": [{"name": "a", "cluster": "users", "path": "x"}]})") ==
        "parts[0].path: required, starting with '/'");
  CHECK(absl::StartsWith(
      err(R"({"parts": [{"name": "a", "cluster": "users", "path": "/u/{id}"}]})"),
      "parts[0].path: '{id}' is not a capture of path_template"));
  CHECK(err(R"({"path_template": "/u/{id}", "parts": [{"name": "a", "cluster": "users",
                "path": "/u/{id"}]})") == "parts[0].path: unterminated placeholder '{id'");
  CHECK(err(R"({"parts": [{"name": "a", "cluster": "users", "path": "/u/{query.}"}]})") ==
        "parts[0].path: bad placeholder '{query.}'");
  CHECK(err(R"({"parts": [{"name": "a", "cluster": "users", "path": "/u v"}]})") ==
        "parts[0].path: must be printable ASCII without spaces or '#'");
  CHECK(err(R"({"parts": [{"name": "a", "cluster": "users", "path": "/", "method": "get"}]})") ==
        "parts[0].method: must be an upper-case token (GET)");
  CHECK(err(R"({"timeout_ms": 100, "parts": [{"name": "a", "cluster": "users", "path": "/",
                "timeout_ms": 200}]})") ==
        "parts[0].timeout_ms: must be at most the filter's timeout_ms (100)");
  CHECK(err(R"({"timeout_ms": 60001, "parts": [{"name": "a", "cluster": "users", "path": "/"}]})") ==
        "timeout_ms: must be at most 60000");
  CHECK(err(R"({"forward_headers": ["X-A"], "parts": [{"name": "a", "cluster": "users",
                "path": "/"}]})") == "forward_headers[0]: must be a lower-case header name");
  CHECK(err(R"({"forward_headers": ["host"], "parts": [{"name": "a", "cluster": "users",
                "path": "/"}]})") == "forward_headers[0]: 'host' cannot be forwarded");
  CHECK(err(R"({"identity_header": "authorization", "parts": [{"name": "a",
                "cluster": "users", "path": "/"}]})") ==
        "identity_header: must be a lower-case header name other than host and authorization");
  CHECK(absl::StartsWith(err(R"({"path_template": "x", "parts": [{"name": "a",
                "cluster": "users", "path": "/"}]})"), "path_template: invalid path template"));
}

TEST_CASE("part path templates") {
  using aggregate::expand;
  using aggregate::parsePartPath;
  auto pieces = parsePartPath("/a/{id}/b?q={query.q}&h={header.x-h}&s={identity.subject}"
                              "&c={identity.claim.tenant}",
                              {"id"}, "p");
  REQUIRE(pieces.ok());
  std::vector<std::pair<std::string, std::string>> caps{{"id", "4%202"}};
  HeaderMap h;
  h.add("x-h", "v/1");
  Identity id;
  id.subject = "al&ce";
  id.claims = {{"tenant", "t 1"}};
  aggregate::Values v{&caps, "z=1&q=a%2Bb", &h, &id};
  std::string out, missing;
  REQUIRE(expand(*pieces, v, out, &missing));
  // Values are decoded, then percent-encoded whole: '/', '&', ' ' and '+' cannot break out.
  CHECK(out == "/a/4%202/b?q=a%2Bb&h=v%2F1&s=al%26ce&c=t%201");
  aggregate::Values none{&caps, "", nullptr, nullptr};
  out.clear();
  CHECK_FALSE(expand(*pieces, none, out, &missing));
  CHECK(missing == "{query.q}");
  auto subject = parsePartPath("/{identity.subject}", {}, "p");
  out.clear();
  CHECK_FALSE(expand(*subject, none, out, &missing));
  CHECK(missing == "{identity.subject}");
}

TEST_CASE("the parts go out in parallel, each with its path, timeout and the shared headers") {
  auto c = make(R"("forward_headers": ["x-tenant"], "identity_header": "x-user-id")");
  Run r(*c);
  CHECK(r.st == FilterStatus::Pause);
  REQUIRE(r.http().calls.size() == 3);
  const auto& user = r.http().calls[r.index("users")].request;
  const auto& orders = r.http().calls[r.index("orders")].request;
  const auto& pay = r.http().calls[r.index("payments")].request;
  CHECK(user.method == "GET");
  CHECK(user.path == "/users/42");
  CHECK(orders.path == "/orders?user=42&x=1");
  CHECK(pay.path == "/payments/alice%20smith");
  CHECK(user.timeout.count() == 1100);  // the deadline (1000) stops it first
  CHECK(orders.timeout.count() == 300);
  for (const HttpRequest* q : {&user, &orders, &pay}) {
    CHECK(*q->headers.get("authorization") == "Bearer tok");
    CHECK(*q->headers.get("x-request-id") == "req-0123456789abcdef");
    CHECK(*q->headers.get("x-tenant") == "acme");
    CHECK(*q->headers.get("x-user-id") == "alice smith");
    CHECK(*q->headers.get("accept") == "application/json");
    CHECK_FALSE(q->headers.has("cookie"));  // only chosen headers
  }
  // The deadline timer.
  REQUIRE(r.ctx.timers.size() == 1);
  CHECK(r.ctx.timers[0].delay.count() == 1000);
}

TEST_CASE("forward_authorization: false keeps the Authorization header back") {
  auto c = make(R"("forward_authorization": false)");
  Run r(*c);
  CHECK_FALSE(r.http().calls[0].request.headers.has("authorization"));
}

TEST_CASE("the answer is one JSON object with each part under its name, numbers unchanged") {
  auto c = make();
  Run r(*c);
  r.http().complete(r.index("orders"), ok(R"([{"id": 12345678901234567890, "total": 10.50}])"));
  CHECK(r.ctx.responses.empty());  // still waiting for the others
  r.http().complete(r.index("users"), ok(R"({"name": "Ada"})"));
  r.http().complete(r.index("payments"), ok(R"({"balance": 0.10})", 201));
  REQUIRE(r.ctx.responses.size() == 1);
  CHECK(r.ctx.responses[0].status == 200);
  CHECK(r.ctx.responses[0].content_type == "application/json");
  CHECK(r.ctx.responses[0].body ==
        R"({"user":{"name": "Ada"},"orders":[{"id": 12345678901234567890, "total": 10.50}],)"
        R"("payments":{"balance": 0.10}})");
  CHECK(r.ctx.failures.empty());
  CHECK(partCount(r.ctx, "user", "ok") == 1);
  CHECK(partCount(r.ctx, "payments", "ok") == 1);
}

TEST_CASE("a failed optional part is null with an errors entry naming it and why") {
  auto c = make();
  Run r(*c);
  r.http().complete(r.index("users"), ok(R"({"name": "Ada"})"));
  r.http().complete(r.index("orders"), ok("[]"));
  r.http().complete(r.index("payments"),
                    failed(ErrorKind::UpstreamConnectFailed, "connection refused"));
  REQUIRE(r.ctx.responses.size() == 1);
  auto d = parse(r.ctx.responses[0].body);
  CHECK(d["payments"].IsNull());
  REQUIRE(d["errors"].Size() == 1);
  CHECK(std::string(d["errors"][0]["part"].GetString()) == "payments");
  CHECK(std::string(d["errors"][0]["error"].GetString()) == "upstream_connect_failed");
  CHECK(std::string(d["errors"][0]["message"].GetString()) == "connection refused");
  CHECK(partCount(r.ctx, "payments", "failed") == 1);
}

TEST_CASE("non-2xx and non-JSON answers fail a part") {
  auto c = make();
  {
    Run r(*c);
    r.http().complete(r.index("users"), ok("{}"));
    r.http().complete(r.index("orders"), ok("[]"));
    r.http().complete(r.index("payments"), ok("{}", 503));
    auto d = parse(r.ctx.responses.at(0).body);
    CHECK(std::string(d["errors"][0]["error"].GetString()) == "upstream_status");
    CHECK(std::string(d["errors"][0]["message"].GetString()) ==
          "status 503 from cluster 'payments'");
  }
  {
    Run r(*c);
    r.http().complete(r.index("users"), ok("{}"));
    r.http().complete(r.index("orders"), ok("[]"));
    r.http().complete(r.index("payments"), ok("{\"a\": 1} trailing"));
    auto d = parse(r.ctx.responses.at(0).body);
    CHECK(std::string(d["errors"][0]["error"].GetString()) == "invalid_json");
  }
}

TEST_CASE("a failed required part is 502 naming it, and the others are cancelled") {
  auto c = make();
  Run r(*c);
  r.http().complete(r.index("orders"), failed(ErrorKind::UpstreamTimeout, "no response within 300 ms"));
  REQUIRE(r.ctx.failures.size() == 1);
  const ErrorInfo& e = r.ctx.failures[0];
  CHECK(e.status == 502);
  CHECK(e.code == "aggregate_part_failed");
  CHECK(e.message ==
        "required part 'orders' failed: upstream_timeout (no response within 300 ms)");
  CHECK(*header(e.details, "part") == "orders");
  CHECK(*header(e.details, "reason") == "upstream_timeout");
  CHECK(r.http().calls[r.index("users")].cancelled);
  CHECK(r.http().calls[r.index("payments")].cancelled);
  CHECK(r.ctx.responses.empty());
  CHECK(partCount(r.ctx, "orders", "timeout") == 1);
  CHECK(partCount(r.ctx, "user", "cancelled") == 1);
  CHECK(counter(r.ctx, "aggregate", "required_failed") == 1);
  // The deadline firing later changes nothing.
  r.ctx.timers[0].fn();
  CHECK(r.ctx.failures.size() == 1);
  CHECK(r.ctx.responses.empty());
}

TEST_CASE("at the deadline running parts are cancelled") {
  auto c = make();
  SECTION("an optional part still running: null and an errors entry") {
    Run r(*c);
    r.http().complete(r.index("users"), ok("{}"));
    r.http().complete(r.index("orders"), ok("[]"));
    r.ctx.timers[0].fn();
    CHECK(r.http().calls[r.index("payments")].cancelled);
    REQUIRE(r.ctx.responses.size() == 1);
    auto d = parse(r.ctx.responses[0].body);
    CHECK(d["payments"].IsNull());
    CHECK(std::string(d["errors"][0]["error"].GetString()) == "deadline_exceeded");
    CHECK(partCount(r.ctx, "payments", "cancelled") == 1);
    CHECK(counter(r.ctx, "aggregate", "deadline") == 1);
  }
  SECTION("a required part still running: 502 naming it") {
    Run r(*c);
    r.http().complete(r.index("orders"), ok("[]"));
    r.ctx.timers[0].fn();
    CHECK(r.http().calls[r.index("users")].cancelled);
    CHECK(r.http().calls[r.index("payments")].cancelled);
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].code == "aggregate_part_failed");
    CHECK(absl::StartsWith(r.ctx.failures[0].message,
                           "required part 'user' failed: deadline_exceeded"));
  }
}

TEST_CASE("a missing value: 400 for a required part, null for an optional one") {
  auto c = make();
  {
    // No identity: the optional payments part has no {identity.subject}.
    Run r(*c, false);
    CHECK(r.http().calls.size() == 2);
    r.http().complete(r.index("users"), ok("{}"));
    r.http().complete(r.index("orders"), ok("[]"));
    auto d = parse(r.ctx.responses.at(0).body);
    CHECK(d["payments"].IsNull());
    CHECK(std::string(d["errors"][0]["message"].GetString()) ==
          "no value for {identity.subject}");
  }
  {
    // Re-run on a request without ?x= : the required orders part lacks {query.x}.
    FakeRequestContext ctx2;
    ctx2.request().query = "";
    FakeUpstream up2{ctx2.fakeWorker().http};
    FilterPtr owned;
    Filter& f = instanceOf(*c, owned);
    CHECK(f.onRoute(ctx2, up2) == FilterStatus::StopAndRespond);
    REQUIRE(ctx2.failures.size() == 1);
    CHECK(ctx2.failures[0].status == 400);
    CHECK(ctx2.failures[0].code == "aggregate_missing_value");
    CHECK(ctx2.failures[0].message == "required part 'orders' needs {query.x}");
    CHECK(ctx2.fakeWorker().http.calls.empty());  // nothing was sent
  }
}

TEST_CASE("onDestroy cancels what is running; late answers are dropped") {
  auto c = make();
  Run r(*c);
  r.http().complete(r.index("users"), ok("{}"));
  r.f->onDestroy(r.ctx);
  CHECK(r.http().calls[r.index("orders")].cancelled);
  CHECK(r.http().calls[r.index("payments")].cancelled);
  CHECK_FALSE(r.http().calls[r.index("users")].cancelled);
  r.ctx.end();
  r.http().complete(r.index("orders"), ok("[]"));
  CHECK(r.ctx.responses.empty());
  CHECK(r.ctx.failures.empty());
}

TEST_CASE("explain lists the parts") {
  auto c = make();
  http::RequestHead head;
  CHECK(explain(*c, head) ==
        "aggregate 3 parts in parallel (deadline 1000 ms): user <- cluster 'users', "
        "orders <- cluster 'orders', payments <- cluster 'payments' (optional)");
}

} // namespace
} // namespace gw::filters::test
