#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters::test {
namespace {

const char kBase[] = R"("cluster": "idp", "path": "/oauth2/introspect", "client_id": "gw",
                        "client_secret_env": "GW_TEST_OAUTH2_SECRET")";

std::string cfg(const std::string& extra = "") {
  return absl::StrCat("{", kBase, extra.empty() ? "" : ", ", extra, "}");
}

FilterConfigConstSharedPtr make(const std::string& extra = "") {
  return createOk("oauth2_introspection", cfg(extra), clusters({"idp"}));
}

HttpResult ok(const std::string& body, int status = 200) {
  HttpResult r;
  r.response.head.status = status;
  r.response.body = body;
  return r;
}

int64_t nowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string activeBody(const std::string& scope, int64_t exp = 0) {
  return absl::StrCat(R"({"active":true,"sub":"alice","client_id":"app","username":"al",)",
                      R"("scope":")", scope, "\"", exp > 0 ? absl::StrCat(",\"exp\":", exp) : "",
                      "}");
}

struct Run {
  FakeRequestContext ctx;
  FilterPtr owned;
  Filter* f = nullptr;
  FilterStatus st = FilterStatus::Continue;
  Run(const FilterConfig& c, const std::string& auth) {
    if (!auth.empty()) {
      ctx.request().headers.add("authorization", auth);
    }
    f = &instanceOf(c, owned);
    st = f->onRequestHeaders(ctx);
  }
};

TEST_CASE("missing and malformed bearer tokens get 401 with WWW-Authenticate: Bearer") {
  auto c = make();
  for (const char* auth : {"", "Basic Zm9vOmJhcg==", "Bearer", "Bearer a b", "Bearer =abc"}) {
    INFO(auth);
    Run r(*c, auth);
    CHECK(r.st == FilterStatus::StopAndRespond);
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].status == 401);
    CHECK(r.ctx.failures[0].code ==
          (*auth ? "oauth2_token_malformed" : "oauth2_token_missing"));
    CHECK(*header(r.ctx.failures[0].headers, "www-authenticate") == "Bearer");
    CHECK(r.ctx.fakeWorker().http.calls.empty());
  }
}

TEST_CASE("the token is POSTed form-encoded with basic client auth") {
  auto c = make();
  Run r(*c, "Bearer ab+c/d==");
  CHECK(r.st == FilterStatus::Pause);
  auto& calls = r.ctx.fakeWorker().http.calls;
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].cluster == "idp");
  CHECK(calls[0].request.method == "POST");
  CHECK(calls[0].request.path == "/oauth2/introspect");
  CHECK(calls[0].request.body == "token=ab%2Bc%2Fd%3D%3D&token_type_hint=access_token");
  CHECK(*calls[0].request.headers.get("content-type") == "application/x-www-form-urlencoded");
  CHECK(*calls[0].request.headers.get("authorization") ==
        "Basic " + absl::Base64Escape("gw:s3cr3t-value"));
  CHECK(calls[0].request.timeout == std::chrono::milliseconds(1000));
  REQUIRE(r.ctx.timers.size() == 1);  // the request's own deadline
}

TEST_CASE("an active token with the scopes passes and sets the identity and headers") {
  auto c = make(R"("required_scopes": ["payments"],
                   "claim_headers": [{"claim": "sub", "header": "x-user"},
                                     {"claim": "client_id", "header": "x-client"}])");
  Run r(*c, "Bearer tok1");
  r.ctx.request().headers.add("x-user", "forged");
  // (added after onRequestHeaders ran: a second request below checks the removal)
  r.ctx.fakeWorker().http.complete(0, ok(activeBody("read payments", nowS() + 3600)));
  CHECK(r.ctx.resumes == 1);
  CHECK(r.ctx.failures.empty());
  const Identity* id = r.ctx.filterState().get(kIdentity);
  REQUIRE(id != nullptr);
  CHECK(id->method == "oauth2");
  CHECK(id->subject == "alice");
  CHECK(id->permissions == std::vector<std::string>{"read", "payments"});
  CHECK(id->claims.size() == 4);
  CHECK(values(r.ctx.request().headers, "x-client") == std::vector<std::string>{"app"});
  CHECK_FALSE(r.ctx.request().headers.has("authorization"));

  // Same token again: from the cache, no call; the client's copy of x-user is replaced.
  FakeRequestContext ctx2;
  ctx2.request().headers.add("authorization", "Bearer tok1");
  ctx2.request().headers.add("x-user", "forged");
  FilterPtr owned2;
  CHECK(instanceOf(*c, owned2).onRequestHeaders(ctx2) == FilterStatus::Continue);
  CHECK(ctx2.fakeWorker().http.calls.empty());
  CHECK(values(ctx2.request().headers, "x-user") == std::vector<std::string>{"alice"});
  CHECK(counter(ctx2, "oauth2_introspection", "cache_hits") == 1);
}

TEST_CASE("without sub, the subject is the username, else the client_id") {
  auto c = make("");
  for (const auto& [body, want] : std::vector<std::pair<std::string, std::string>>{
           {R"({"active":true,"username":"al","client_id":"app","scope":"x"})", "al"},
           {R"({"active":true,"client_id":"app","scope":"x"})", "app"}}) {
    Run r(*c, "Bearer " + want);
    r.ctx.fakeWorker().http.complete(0, ok(body));
    REQUIRE(r.ctx.resumes == 1);
    const Identity* id = r.ctx.filterState().get(kIdentity);
    REQUIRE(id != nullptr);
    CHECK(id->subject == want);
  }
}

TEST_CASE("an inactive token gets 401 invalid_token, cached briefly") {
  auto c = make(R"("negative_cache_ttl_seconds": 60)");
  Run r(*c, "Bearer dead");
  r.ctx.fakeWorker().http.complete(0, ok(R"({"active":false})"));
  REQUIRE(r.ctx.failures.size() == 1);
  CHECK(r.ctx.failures[0].status == 401);
  CHECK(r.ctx.failures[0].code == "oauth2_token_inactive");
  CHECK(*header(r.ctx.failures[0].headers, "www-authenticate") ==
        "Bearer error=\"invalid_token\"");
  CHECK(r.ctx.resumes == 0);
  Run again(*c, "Bearer dead");
  CHECK(again.st == FilterStatus::StopAndRespond);
  CHECK(again.ctx.fakeWorker().http.calls.empty());

  auto nocache = make(R"("negative_cache_ttl_seconds": 0)");
  Run a(*nocache, "Bearer dead");
  a.ctx.fakeWorker().http.complete(0, ok(R"({"active":false})"));
  Run b(*nocache, "Bearer dead");
  CHECK(b.st == FilterStatus::Pause);  // not cached: asked again
}

TEST_CASE("an active token past its exp is refused and not cached") {
  auto c = make();
  Run r(*c, "Bearer old");
  r.ctx.fakeWorker().http.complete(0, ok(activeBody("payments", nowS() - 10)));
  REQUIRE(r.ctx.failures.size() == 1);
  CHECK(r.ctx.failures[0].code == "oauth2_token_inactive");
  Run again(*c, "Bearer old");
  CHECK(again.st == FilterStatus::Pause);
}

TEST_CASE("a missing scope gets 403 insufficient_scope naming the scopes") {
  auto c = make(R"("required_scopes": ["payments", "write"])");
  Run r(*c, "Bearer t");
  r.ctx.fakeWorker().http.complete(0, ok(activeBody("payments read")));
  REQUIRE(r.ctx.failures.size() == 1);
  CHECK(r.ctx.failures[0].status == 403);
  CHECK(r.ctx.failures[0].code == "oauth2_insufficient_scope");
  CHECK(*header(r.ctx.failures[0].headers, "www-authenticate") ==
        "Bearer error=\"insufficient_scope\", scope=\"payments write\"");
  CHECK(*header(r.ctx.failures[0].details, "missing_scope") == "write");
  CHECK(r.ctx.filterState().get(kIdentity) == nullptr);
}

TEST_CASE("a failed, non-200 or non-JSON introspection is 503 introspection_unavailable") {
  auto c = make();
  HttpResult down;
  down.failed = true;
  down.error = ErrorInfo::make(ErrorKind::UpstreamConnectFailed, "connect refused");
  HttpResult cases[] = {std::move(down), ok("{}", 500), ok("not json"), ok(R"({"sub":"x"})"),
                        ok(R"({"active":"yes"})")};
  for (auto& res : cases) {
    Run r(*c, "Bearer tok");
    r.ctx.fakeWorker().http.complete(0, std::move(res));
    REQUIRE(r.ctx.failures.size() == 1);
    CHECK(r.ctx.failures[0].status == 503);
    CHECK(r.ctx.failures[0].code == "introspection_unavailable");
    CHECK_FALSE(absl::StrContains(r.ctx.failures[0].message, "s3cr3t"));
    CHECK(r.ctx.resumes == 0);
    CHECK(counter(r.ctx, "oauth2_introspection", "errors") == 1);
  }
}

TEST_CASE("failure_mode allow lets the request through without identity, counted") {
  auto c = make(R"("failure_mode": "allow")");
  Run r(*c, "Bearer tok");
  r.ctx.fakeWorker().http.complete(0, ok("", 502));
  CHECK(r.ctx.failures.empty());
  CHECK(r.ctx.resumes == 1);
  CHECK(r.ctx.filterState().get(kIdentity) == nullptr);
  CHECK(counter(r.ctx, "oauth2_introspection", "fail_open") == 1);
}

TEST_CASE("the request timer fails a call the client never answers, and cancels it") {
  auto c = make(R"("timeout_ms": 200)");
  Run r(*c, "Bearer slow");
  REQUIRE(r.ctx.timers.size() == 1);
  CHECK(r.ctx.timers[0].delay == std::chrono::milliseconds(250));
  r.ctx.timers[0].fn();
  REQUIRE(r.ctx.failures.size() == 1);
  CHECK(r.ctx.failures[0].code == "introspection_unavailable");
  CHECK(absl::StrContains(r.ctx.failures[0].message, "timed out"));
  CHECK(r.ctx.fakeWorker().http.calls[0].cancelled);
  // A late answer changes nothing.
  r.ctx.fakeWorker().http.complete(0, ok(activeBody("")));
  CHECK(r.ctx.resumes == 0);
}

TEST_CASE("onDestroy cancels the call in flight") {
  auto c = make();
  Run r(*c, "Bearer tok");
  r.f->onDestroy(r.ctx);
  r.ctx.end();
  CHECK(r.ctx.fakeWorker().http.calls[0].cancelled);
  CHECK(r.ctx.fakeWorker().http.inFlight() == 0);
}

TEST_CASE("mode report lets refusals through, recorded") {
  auto c = make(R"("mode": "report", "required_scopes": ["admin"])");
  Run r(*c, "Bearer t");
  r.ctx.fakeWorker().http.complete(0, ok(activeBody("payments")));
  CHECK(r.ctx.failures.empty());
  CHECK(r.ctx.resumes == 1);
  const ReportOnlyDecisions* d = r.ctx.filterState().get(kReportOnly);
  REQUIRE(d != nullptr);
  CHECK(d->entries ==
        std::vector<std::string>{"oauth2_introspection:oauth2_insufficient_scope"});
}

TEST_CASE("config errors name the field; the secret never appears") {
  const ValidationContext v = clusters({"idp"});
  auto err = [&](const std::string& json) {
    return createError("oauth2_introspection", json, v);
  };
  CHECK(absl::StartsWith(err(R"({"path":"/i","client_id":"a","client_secret_env":"X"})"),
                         "cluster: required"));
  CHECK(err(R"({"cluster":"nope","path":"/i","client_id":"a","client_secret_env":"X"})") ==
        "cluster: unknown cluster 'nope'");
  CHECK(absl::StartsWith(err(R"({"cluster":"idp","path":"i","client_id":"a",
                                 "client_secret_env":"X"})"),
                         "path: "));
  CHECK(err(R"({"cluster":"idp","path":"/i","client_secret_env":"X"})") ==
        "client_id: required");
  CHECK(absl::StartsWith(err(R"({"cluster":"idp","path":"/i","client_id":"a"})"),
                         "client_secret_env: exactly one"));
  CHECK(err(R"({"cluster":"idp","path":"/i","client_id":"a",
                "client_secret_env":"GW_NO_SUCH_VAR_9"})") ==
        "client_secret_env: environment variable 'GW_NO_SUCH_VAR_9' is not set or empty");
  CHECK(err(R"({"cluster":"idp","path":"/i","client_id":"a",
                "client_secret_file":"/nonexistent/secret"})") ==
        "client_secret_file: cannot read '/nonexistent/secret'");
  CHECK(absl::StartsWith(err(cfg(R"("failure_mode": "maybe")")), "failure_mode: must be"));
  CHECK(absl::StartsWith(err(cfg(R"("mode": "audit")")), "mode: "));
  CHECK(absl::StartsWith(err(cfg(R"("required_scopes": ["a b"])")), "required_scopes[0]: "));
  CHECK(absl::StartsWith(err(cfg(R"("claim_headers": [{"claim": "sub", "header": "X-User"}])")),
                         "claim_headers[0].header: "));
  CHECK(absl::StartsWith(err(cfg(R"("claim_headers": [{"header": "x-user"}])")),
                         "claim_headers[0].claim: required"));
  CHECK(absl::StartsWith(err(cfg(R"("timeout_ms": 70000)")), "timeout_ms: "));
}

TEST_CASE("the secret can come from a file; explain does not show it") {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                                                   : "/tmp",
                                        "/oauth2_secret");
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fputs("file-secret\n", f);
  std::fclose(f);
  auto c = createOk("oauth2_introspection",
                    absl::StrCat(R"({"cluster":"idp","path":"/i","client_id":"gw",)",
                                 R"("client_secret_file":")", path, "\"}"),
                    clusters({"idp"}));
  Run r(*c, "Bearer x");
  REQUIRE(r.ctx.fakeWorker().http.calls.size() == 1);
  CHECK(*r.ctx.fakeWorker().http.calls[0].request.headers.get("authorization") ==
        "Basic " + absl::Base64Escape("gw:file-secret"));
  http::RequestHead head;
  head.headers.add("authorization", "Bearer x");
  const std::string e = explain(*c, head);
  CHECK(absl::StrContains(e, "cluster 'idp'"));
  CHECK_FALSE(absl::StrContains(e, "file-secret"));
}

} // namespace
} // namespace gw::filters::test
