// `jwt_auth` with a remote_jwks provider, through the filter interface with fake workers whose
// HttpClient the test answers: requests wait for the first fetch (503 jwks_unavailable when it
// fails), kid rotation (an unknown kid refetches at once and the request waits for it; old
// tokens keep working while their key is served), a failed fetch keeping the last keys, the refresh interval, and the rate limit on
// refetches for unknown kids.
#include <deque>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/jwt_auth/remote_jwks.h"
#include "source/policy/jwt.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"
#include "test/policy/test_tokens.h"

namespace gw::filters {
namespace {

using test::counter;
using test::createOk;
using test::FakeRequestContext;

const char* kProviders = R"(
auth_providers:
  - name: idp
    algorithms: [RS256, EdDSA]
    remote_jwks:
      cluster: idp
      refresh_interval: 60s
      min_refresh_interval: 5s
)";

int64_t fake_now_ms = 1000000;

// One filter config and the requests run through it; each request has its own fake worker (the
// remote key set follows the latest), and all stay alive so their calls and counters can be read.
struct Harness {
  Harness() {
    RemoteJwks::clock() = [] { return fake_now_ms; };
    ctx = test::policyContext(kProviders);
    config = createOk("jwt_auth", R"({"provider":"idp"})", ctx);
  }
  ~Harness() {
    // Nothing may stay in flight past the fake workers.
    for (auto& r : requests) {
      for (auto& c : r.fakeWorker().http.calls) {
        if (c.cb && !c.cancelled) {
          HttpResult res;
          res.failed = true;
          res.error = ErrorInfo::make(ErrorKind::UpstreamReset, "test over");
          c.cb(std::move(res));
          c.cb = nullptr;
        }
      }
    }
  }
  // Runs one request with `token` (empty: none); returns it.
  FakeRequestContext& run(const std::string& token, FilterStatus want) {
    FakeRequestContext& r = requests.emplace_back();
    if (!token.empty()) {
      r.request().headers.add("authorization", "Bearer " + token);
    }
    CHECK(config->shared()->onRequestHeaders(r) == want);
    return r;
  }
  std::string failure(const std::string& token) {
    FakeRequestContext& r = run(token, FilterStatus::StopAndRespond);
    REQUIRE(r.failures.size() == 1);
    return absl::StrCat(r.failures[0].status, " ", r.failures[0].code);
  }
  // Pending fetch calls over every worker.
  std::vector<test::FakeHttpClient::Call*> pending() {
    std::vector<test::FakeHttpClient::Call*> out;
    for (auto& r : requests) {
      for (auto& c : r.fakeWorker().http.calls) {
        if (c.cb && !c.cancelled) {
          out.push_back(&c);
        }
      }
    }
    return out;
  }
  void answer(int status, const std::string& body) {
    auto p = pending();
    REQUIRE(p.size() == 1);
    CHECK(p[0]->cluster == "idp");
    CHECK(p[0]->request.path == "/.well-known/jwks.json");
    HttpResult res;
    res.response.head.status = status;
    res.response.body = body;
    HttpCallback cb = std::move(p[0]->cb);
    p[0]->cb = nullptr;
    cb(std::move(res));
  }
  void failFetch() {
    auto p = pending();
    REQUIRE(p.size() == 1);
    HttpResult res;
    res.failed = true;
    res.error = ErrorInfo::make(ErrorKind::UpstreamConnectFailed, "connection refused");
    HttpCallback cb = std::move(p[0]->cb);
    p[0]->cb = nullptr;
    cb(std::move(res));
  }
  uint64_t total(const char* name) {
    uint64_t n = 0;
    for (auto& r : requests) {
      n += counter(r, "jwt_auth", name);
    }
    return n;
  }

  ValidationContext ctx;
  FilterConfigConstSharedPtr config;
  std::deque<FakeRequestContext> requests;
};

std::string claims() {
  return absl::StrCat(R"({"sub":"alice","roles":["a","b"],"exp":)", policy::jwtNow() + 600, "}");
}
std::string rsToken(EVP_PKEY* k, const std::string& kid) {
  return policy::test::pkeyToken(claims(), k, "RS256", EVP_sha256(), kid);
}
std::string jwks(std::initializer_list<std::pair<EVP_PKEY*, const char*>> keys) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const auto& [k, kid] : keys) {
    absl::StrAppend(&out, first ? "" : ",", policy::test::publicJwk(k, kid));
    first = false;
  }
  return out + "]}";
}

TEST_CASE("remote_jwks: requests wait for the first fetch, then tokens verify",
          "[policy][filters][jwks]") {
  auto a = policy::test::rsaKey();
  auto ed = policy::test::edKey();
  Harness h;
  const std::string ta = rsToken(a.get(), "a");
  // Requests with a token wait for the first fetch (one fetch, however many wait).
  FakeRequestContext& w1 = h.run(ta, FilterStatus::Pause);
  CHECK(h.pending().size() == 1);
  FakeRequestContext& w2 = h.run(ta, FilterStatus::Pause);
  CHECK(h.pending().size() == 1);
  h.answer(200, jwks({{a.get(), "a"}, {ed.get(), "d"}}));
  for (FakeRequestContext* w : {&w1, &w2}) {
    CHECK(w->resumes == 1);
    CHECK(w->failures.empty());
    REQUIRE(w->filterState().get(kIdentity) != nullptr);
  }
  CHECK(h.total("jwks_fetch_ok") == 1);
  CHECK(h.total("jwks_keys_loaded") == 2);
  FakeRequestContext& ok = h.run(ta, FilterStatus::Continue);
  const Identity* id = ok.filterState().get(kIdentity);
  REQUIRE(id != nullptr);
  CHECK(id->subject == "alice");
  CHECK(id->roles == std::vector<std::string>{"a", "b"});
  h.run(policy::test::pkeyToken(claims(), ed.get(), "EdDSA", nullptr, "d"), FilterStatus::Continue);
  // No kid: every fitting key is tried.
  h.run(policy::test::pkeyToken(claims(), a.get(), "RS256"), FilterStatus::Continue);
  // Tampered, other key, HS256 with the JWK as secret, alg none.
  CHECK(h.failure(rsToken(policy::test::rsaKey().get(), "a")) == "401 jwt_bad_signature");
  CHECK(h.failure(policy::test::hmacToken(claims(), policy::test::publicJwk(a.get(), "a"))) ==
        "401 jwt_alg_not_allowed");
  CHECK(h.pending().empty());
  // A request without a token when allow_missing is off: 401, not 503.
  CHECK(h.failure("") == "401 jwt_missing");
}

TEST_CASE("remote_jwks: rotation by kid, old tokens keep working while served",
          "[policy][filters][jwks]") {
  auto a = policy::test::rsaKey();
  auto b = policy::test::rsaKey();
  Harness h;
  const std::string ta = rsToken(a.get(), "a");
  const std::string tb = rsToken(b.get(), "b");
  h.run(ta, FilterStatus::Pause);
  h.answer(200, jwks({{a.get(), "a"}}));
  h.run(ta, FilterStatus::Continue);
  fake_now_ms += 10000;  // past min_refresh_interval
  // The IdP starts signing with b: the first b token finds no key, starts a fetch at once and
  // waits for it; the new set has b, so the request passes (rotation without a failed request).
  FakeRequestContext& first_b = h.run(tb, FilterStatus::Pause);
  CHECK(h.total("jwks_unknown_kid_refresh") == 1);
  h.answer(200, jwks({{a.get(), "a"}, {b.get(), "b"}}));
  CHECK(first_b.resumes == 1);
  CHECK(first_b.failures.empty());
  h.run(tb, FilterStatus::Continue);
  h.run(ta, FilterStatus::Continue);  // the old key is still served: old tokens pass
  // The IdP drops a; the periodic refresh (refresh_interval 60s) picks that up.
  fake_now_ms += 61000;
  h.run(ta, FilterStatus::Continue);  // starts the refresh, verified with the current keys
  h.answer(200, jwks({{b.get(), "b"}}));
  CHECK(h.failure(ta) == "401 jwt_unknown_kid");
  CHECK(h.pending().empty());  // a fetch started less than min_refresh_interval ago: no refetch
  h.run(tb, FilterStatus::Continue);
  CHECK(h.total("jwks_fetch_ok") == 3);
}

TEST_CASE("remote_jwks: a failed fetch keeps the last good keys", "[policy][filters][jwks]") {
  auto a = policy::test::rsaKey();
  Harness h;
  const std::string ta = rsToken(a.get(), "a");
  FakeRequestContext& waiting = h.run(ta, FilterStatus::Pause);
  h.failFetch();  // the very first fetch fails: still no keys, and the waiting request says so
  REQUIRE(waiting.failures.size() == 1);
  CHECK(waiting.failures[0].code == "jwks_unavailable");
  CHECK(waiting.resumes == 0);
  CHECK(h.total("jwks_fetch_failed") == 1);
  CHECK(h.failure(ta) == "503 jwks_unavailable");
  CHECK(h.pending().empty());  // retried only after min_refresh_interval
  fake_now_ms += 5000;
  h.run(ta, FilterStatus::Pause);
  h.answer(200, jwks({{a.get(), "a"}}));
  h.run(ta, FilterStatus::Continue);
  // Refreshes that fail in every way keep the keys.
  for (int i = 0; i < 4; i++) {
    fake_now_ms += 61000;
    h.run(ta, FilterStatus::Continue);
    switch (i) {
    case 0: h.failFetch(); break;
    case 1: h.answer(500, "oops"); break;
    case 2: h.answer(200, "<html>"); break;
    case 3: h.answer(200, R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})"); break;
    }
    h.run(ta, FilterStatus::Continue);
  }
  CHECK(h.total("jwks_fetch_failed") == 5);
  CHECK(h.total("jwks_fetch_ok") == 1);
}

TEST_CASE("remote_jwks: random kids cannot hammer the IdP", "[policy][filters][jwks]") {
  auto a = policy::test::rsaKey();
  Harness h;
  h.run(rsToken(a.get(), "a"), FilterStatus::Pause);
  h.answer(200, jwks({{a.get(), "a"}}));
  size_t fetches = 0;
  for (int i = 0; i < 50; i++) {
    fake_now_ms += 1000;  // 50 s of random kids, one per second
    FakeRequestContext& r = h.requests.emplace_back();
    r.request().headers.add("authorization",
                            "Bearer " + rsToken(a.get(), absl::StrCat("random-", i)));
    const FilterStatus st = h.config->shared()->onRequestHeaders(r);
    if (!h.pending().empty()) {
      CHECK(st == FilterStatus::Pause);  // it waits for the refetch its kid started
      fetches++;
      h.answer(200, jwks({{a.get(), "a"}}));
    } else {
      CHECK(st == FilterStatus::StopAndRespond);
    }
    REQUIRE(r.failures.size() == 1);
    CHECK(r.failures[0].code == "jwt_unknown_kid");
  }
  CHECK(fetches == 10);  // one per min_refresh_interval (5 s)
  CHECK(h.total("jwks_unknown_kid_refresh") == 10);
}

TEST_CASE("remote_jwks: config errors", "[policy][filters][jwks]") {
  auto errors = [](const std::string& yaml) {
    gateway::v1::AuthProvider p;
    auto cfg = test::parseConfigOk(yaml);
    std::vector<policy::FieldError> e;
    CHECK(policy::JwtProvider::create(cfg.auth_providers(0), &e) == nullptr);
    std::vector<std::string> out;
    for (const auto& x : e) {
      out.push_back(x.field + ": " + x.message);
    }
    return out;
  };
  CHECK(errors(R"(
auth_providers:
  - name: x
    remote_jwks: {path: "keys", refresh_interval: 0.5s}
)") == std::vector<std::string>{
             "remote_jwks.cluster: required: the cluster serving the key set",
             "remote_jwks.path: must start with '/'",
             "remote_jwks.refresh_interval: must be between 1000ms and 86400s"});
  CHECK(errors(R"(
auth_providers:
  - name: x
    secret: s
    remote_jwks: {cluster: idp}
)") == std::vector<std::string>{
             "remote_jwks: only one of secret, secret_env, public_key_pem, jwks or remote_jwks "
             "may be set"});
}

} // namespace
} // namespace gw::filters

namespace gw::filters {
namespace {

TEST_CASE("config: an inline jwks with an oct key is redacted, public-only sets are not",
          "[policy][config]") {
  auto rsa = policy::test::rsaKey();
  const std::string pub = absl::StrCat(R"({"keys":[)", policy::test::publicJwk(rsa.get()), "]}");
  gateway::v1::Config c;
  auto* a = c.add_auth_providers();
  a->set_name("pub");
  a->set_jwks(pub);
  auto* b = c.add_auth_providers();
  b->set_name("hmac");
  // "oct" written with an escape still counts.
  b->set_jwks(R"({"keys":[{"kty":"\u006fct","k":"c2VjcmV0LXZhbHVl"}]})");
  config::redactSecrets(&c);
  CHECK(c.auth_providers(0).jwks() == pub);
  CHECK(c.auth_providers(1).jwks() == "<redacted>");
  // Pasted back, the placeholder is refused.
  std::vector<policy::FieldError> errors;
  CHECK(policy::JwtProvider::create(c.auth_providers(1), &errors) == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].field == "jwks");
}

} // namespace
} // namespace gw::filters
