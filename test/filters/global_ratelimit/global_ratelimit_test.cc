// `global_ratelimit` on a fake request context against a real redis-server (Debian's package,
// started on a free loopback port by test/redis/redis_test_util.h): per-user limits from the
// identity, the strictest of several limits, the 429's headers, RateLimit-* on allowed responses,
// the local pre-check (no Redis call), NOSCRIPT, failure_mode with Redis down, slow or not
// configured, report mode, explain, and config errors with their field paths.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "source/redis/redis_client.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"
#include "test/redis/redis_test_util.h"

namespace gw::filters {
namespace {

using redis::testing::Loop;
using redis::testing::RedisServer;
using test::counter;
using test::FakeRequestContext;
using test::header;

ValidationContext withRedis() {
  ValidationContext v;
  v.redis_server_names.insert("r");
  return v;
}

FilterConfigConstSharedPtr config(const std::string& json) {
  return test::createOk("global_ratelimit", json, withRedis());
}

std::string configError(const std::string& json) {
  return test::createError("global_ratelimit", json, withRedis());
}

// A real Redis and one client to it on the test's loop.
struct Env {
  Loop loop;
  RedisServer server;
  std::shared_ptr<redis::RedisClient> client;

  explicit Env(int command_timeout_ms = 200) {
    redis::RedisSettings s;
    s.address = server.address();
    s.command_timeout = std::chrono::milliseconds(command_timeout_ms);
    s.stall_timeout = std::chrono::milliseconds(std::max(2000, command_timeout_ms));
    s.reconnect_base = std::chrono::milliseconds(20);
    s.reconnect_max = std::chrono::milliseconds(50);
    client = std::make_shared<redis::RedisClient>(&loop.loop, s);
    REQUIRE(loop.runUntil([&] { return client->connected(); }, 3000));
  }
  ~Env() { client.reset(); }
  // A command on the client, waited for.
  redis::RedisReply run(std::vector<std::string> args) {
    redis::testing::Calls calls;
    auto& o = calls.issue(*client, std::move(args));
    REQUIRE(loop.runUntil([&] { return o.done(); }, 3000));
    REQUIRE(o.result.ok());
    return *o.result;
  }
};

// One request through the filter: what it decided, with the context kept for inspection.
struct Outcome {
  std::unique_ptr<FakeRequestContext> ctx = std::make_unique<FakeRequestContext>();
  FilterPtr filter;
  FilterStatus status = FilterStatus::Continue;

  bool passed() const {
    return ctx->failures.empty() && (status == FilterStatus::Continue || ctx->resumes == 1);
  }
  const ErrorInfo& error() const {
    REQUIRE(ctx->failures.size() == 1);
    return ctx->failures[0];
  }
  uint64_t stat(const char* name) { return counter(*ctx, "global_ratelimit", name); }
};

// `user` empty: no identity. `method`: the identity's method.
std::unique_ptr<Outcome> request(const FilterConfig& c, Env* env, const std::string& user,
                                 absl::string_view method = "jwt",
                                 const char* path = "/api/users/42") {
  auto o = std::make_unique<Outcome>();
  if (env != nullptr) {
    o->ctx->fakeWorker().redis_clients["r"] = env->client;
  }
  o->ctx->request().path = path;
  o->ctx->rematch();
  if (!user.empty()) {
    Identity& id = o->ctx->filterState().emplace(kIdentity);
    id.subject = user;
    id.method = method;
  }
  o->filter = c.create();
  REQUIRE(o->filter != nullptr);
  o->status = o->filter->onRequestHeaders(*o->ctx);
  if (o->status == FilterStatus::Pause) {
    REQUIRE(env != nullptr);
    FakeRequestContext& ctx = *o->ctx;
    REQUIRE(env->loop.runUntil([&] { return ctx.resumes > 0 || !ctx.failures.empty(); }, 3000));
  }
  return o;
}

const char* kPerUser = R"({"redis": "r", "limits": [
    {"name": "per-user", "requests": 3, "period": "10s", "by": ["user"]}]})";

TEST_CASE("global_ratelimit: a per-user limit counts each user in Redis", "[global_ratelimit]") {
  Env env;
  auto c = config(kPerUser);
  for (int i = 0; i < 3; i++) {
    auto o = request(*c, &env, "alice");
    CHECK(o->status == FilterStatus::Pause);
    CHECK(o->passed());
    CHECK(o->stat("allowed") == 1);
    // A fresh Redis answers the first EVALSHA with NOSCRIPT: EVAL loads the script.
    CHECK(o->stat("redis_calls") == (i == 0 ? 2 : 1));
  }
  auto o = request(*c, &env, "alice");
  REQUIRE_FALSE(o->passed());
  const ErrorInfo& e = o->error();
  CHECK(e.status == 429);
  CHECK(e.code == "rate_limited");
  CHECK(e.message == "rate limit 'per-user' exceeded (3 per 10s, burst 3)");
  // One request per 3.33 s: the next one fits in 4 s; the bucket is full again in 10 s.
  REQUIRE(header(e.headers, "retry-after") != nullptr);
  CHECK(*header(e.headers, "retry-after") == "4");
  CHECK(*header(e.headers, "ratelimit-limit") == "3");
  CHECK(*header(e.headers, "ratelimit-remaining") == "0");
  CHECK(*header(e.headers, "ratelimit-reset") == "10");
  CHECK(o->stat("limited") == 1);
  // Bob has his own counter.
  CHECK(request(*c, &env, "bob")->passed());
  // The key: prefix, limit name, 32 hex digits; a TTL, never a key that lives forever.
  redis::RedisReply keys = env.run({"KEYS", "gw:grl:per-user:*"});
  REQUIRE(keys.elements.size() == 2);
  CHECK(keys.elements[0].str.size() == std::string("gw:grl:per-user:").size() + 32);
  redis::RedisReply ttl = env.run({"PTTL", keys.elements[0].str});
  CHECK(ttl.integer > 0);
  CHECK(ttl.integer <= 10001);
}

TEST_CASE("global_ratelimit: no identity skips a per-user limit without calling Redis",
          "[global_ratelimit]") {
  Env env;
  auto c = config(kPerUser);
  for (int i = 0; i < 5; i++) {
    auto o = request(*c, &env, "");
    CHECK(o->status == FilterStatus::Continue);
    CHECK(o->ctx->untouched());
    CHECK(o->stat("skipped") == 1);
    CHECK(o->stat("redis_calls") == 0);
  }
  // when_missing: shared -> every anonymous request shares one counter.
  auto shared = config(R"({"redis": "r", "limits": [{"name": "anon", "requests": 2,
      "period": "10s", "by": ["user"], "when_missing": "shared"}]})");
  CHECK(request(*shared, &env, "")->passed());
  CHECK(request(*shared, &env, "")->passed());
  CHECK_FALSE(request(*shared, &env, "")->passed());
  CHECK(request(*shared, &env, "carol")->passed());
}

TEST_CASE("global_ratelimit: api_key_consumer counts API-key identities only",
          "[global_ratelimit]") {
  Env env;
  auto c = config(R"({"redis": "r", "limits": [{"name": "per-consumer", "requests": 1,
      "period": "10s", "by": ["api_key_consumer"]}]})");
  CHECK(request(*c, &env, "acme", "api_key")->passed());
  CHECK_FALSE(request(*c, &env, "acme", "api_key")->passed());
  auto jwt = request(*c, &env, "acme", "jwt");  // a JWT user named like the consumer: skipped
  CHECK(jwt->status == FilterStatus::Continue);
  CHECK(jwt->stat("skipped") == 1);
}

TEST_CASE("global_ratelimit: several limits, the strictest decides", "[global_ratelimit]") {
  Env env;
  auto c = config(R"({"redis": "r", "response_headers": true, "limits": [
      {"name": "per-user", "requests": 5, "period": "10s", "by": ["user"]},
      {"name": "per-route", "requests": 2, "period": "1s", "by": ["route", "method"],
       "status": 503}]})");
  auto a = request(*c, &env, "alice");
  REQUIRE(a->passed());
  // Allowed: the headers of the limit with the least left (per-route: 1 of 2).
  a->filter->onResponseHeaders(*a->ctx);
  const HeaderMap& h = a->ctx->response().headers;
  REQUIRE(h.get("ratelimit-limit") != nullptr);
  CHECK(*h.get("ratelimit-limit") == "2");
  CHECK(*h.get("ratelimit-remaining") == "1");
  CHECK(*h.get("ratelimit-reset") == "1");
  CHECK(request(*c, &env, "bob")->passed());
  // The route's limit is over for everyone: its status and its headers decide.
  auto o = request(*c, &env, "carol");
  REQUIRE_FALSE(o->passed());
  CHECK(o->error().status == 503);
  CHECK(o->error().code == "rate_limited");
  CHECK(*header(o->error().headers, "ratelimit-limit") == "2");
  CHECK(*header(o->error().headers, "retry-after") == "1");
  // The refused request took nothing from carol's own limit: 5 left for her after the route
  // limit refills.
  env.loop.runFor(1100);  // the loop's clock moves on too (command timeouts use it)
  auto later = request(*c, &env, "carol");
  REQUIRE(later->passed());
  later->filter->onResponseHeaders(*later->ctx);
  // per-user 4 left, per-route 1 left: the route's.
  CHECK(*later->ctx->response().headers.get("ratelimit-remaining") == "1");
}

TEST_CASE("global_ratelimit: the longest Retry-After wins among limits over",
          "[global_ratelimit]") {
  Env env;
  auto c = config(R"({"redis": "r", "limits": [
      {"name": "short", "requests": 1, "period": "1s", "by": ["user"]},
      {"name": "long", "requests": 1, "period": "60s", "by": ["user"]}]})");
  CHECK(request(*c, &env, "alice")->passed());
  auto o = request(*c, &env, "alice");
  REQUIRE_FALSE(o->passed());
  CHECK(*header(o->error().headers, "retry-after") == "60");
  CHECK(o->error().message == "rate limit 'long' exceeded (1 per 60s, burst 1)");
}

TEST_CASE("global_ratelimit: allowed responses carry RateLimit-* only when configured",
          "[global_ratelimit]") {
  Env env;
  auto quiet = config(kPerUser);
  auto o = request(*quiet, &env, "dave");
  REQUIRE(o->passed());
  o->filter->onResponseHeaders(*o->ctx);
  CHECK_FALSE(o->ctx->response().headers.has("ratelimit-limit"));
  auto loud = config(R"({"redis": "r", "response_headers": true, "limits": [
      {"name": "per-user", "requests": 3, "period": "10s", "by": ["user"]}]})");
  auto l = request(*loud, &env, "erin");
  REQUIRE(l->passed());
  l->filter->onResponseHeaders(*l->ctx);
  CHECK(*l->ctx->response().headers.get("ratelimit-limit") == "3");
  CHECK(*l->ctx->response().headers.get("ratelimit-remaining") == "2");
  CHECK(*l->ctx->response().headers.get("ratelimit-reset") == "4");
}

TEST_CASE("global_ratelimit: the local pre-check rejects a known-over descriptor without Redis",
          "[global_ratelimit]") {
  Env env;
  auto c = config(R"({"redis": "r", "limits": [
      {"name": "per-user", "requests": 1, "period": "0.3s", "by": ["user"]}]})");
  CHECK(request(*c, &env, "alice")->passed());
  auto first = request(*c, &env, "alice");  // Redis says over
  REQUIRE_FALSE(first->passed());
  CHECK(first->stat("redis_calls") == 1);
  CHECK(first->stat("local_precheck_rejected") == 0);
  auto local = request(*c, &env, "alice");  // the worker knows: no call
  CHECK(local->status == FilterStatus::StopAndRespond);
  REQUIRE_FALSE(local->passed());
  CHECK(local->stat("redis_calls") == 0);
  CHECK(local->stat("local_precheck_rejected") == 1);
  CHECK(local->stat("limited") == 1);
  CHECK(local->error().code == "rate_limited");
  CHECK(*header(local->error().headers, "retry-after") == "1");
  CHECK(*header(local->error().headers, "ratelimit-remaining") == "0");
  // Other users are not affected.
  CHECK(request(*c, &env, "bob")->passed());
  // Once the Retry-After has passed, Redis decides again.
  env.loop.runFor(350);
  auto again = request(*c, &env, "alice");
  CHECK(again->stat("redis_calls") == 1);
  CHECK(again->passed());
  // local_precheck_max_entries: 0 turns it off: every request asks Redis.
  auto off = config(R"({"redis": "r", "local_precheck_max_entries": 0, "limits": [
      {"name": "per-user-off", "requests": 1, "period": "10s", "by": ["user"]}]})");
  CHECK(request(*off, &env, "alice")->passed());
  for (int i = 0; i < 3; i++) {
    auto o = request(*off, &env, "alice");
    CHECK_FALSE(o->passed());
    CHECK(o->stat("redis_calls") == 1);
  }
}

TEST_CASE("global_ratelimit: NOSCRIPT after a flush loads the script again",
          "[global_ratelimit]") {
  Env env;
  auto c = config(kPerUser);
  CHECK(request(*c, &env, "alice")->passed());
  env.run({"SCRIPT", "FLUSH"});
  auto o = request(*c, &env, "alice");
  CHECK(o->passed());
  CHECK(o->stat("script_loads") == 1);
  CHECK(o->stat("redis_calls") == 2);
  auto next = request(*c, &env, "alice");  // cached again: one EVALSHA
  CHECK(next->passed());
  CHECK(next->stat("redis_calls") == 1);
  CHECK_FALSE(request(*c, &env, "alice")->passed());
}

TEST_CASE("global_ratelimit: failure_mode with Redis down, slow, or not configured",
          "[global_ratelimit]") {
  auto allow = config(kPerUser);
  auto deny = config(R"({"redis": "r", "failure_mode": "deny", "limits": [
      {"name": "per-user", "requests": 3, "period": "10s", "by": ["user"]}]})");
  SECTION("not configured on the worker") {
    auto a = request(*allow, nullptr, "alice");
    CHECK(a->status == FilterStatus::Continue);
    CHECK(a->stat("redis_errors") == 1);
    CHECK(a->stat("failure_mode_allowed") == 1);
    auto d = request(*deny, nullptr, "alice");
    REQUIRE_FALSE(d->passed());
    CHECK(d->error().status == 503);
    CHECK(d->error().code == "ratelimit_unavailable");
    CHECK(d->stat("failure_mode_denied") == 1);
  }
  SECTION("down: decided at once, in well under the command timeout") {
    Env env(500);
    env.server.kill();
    REQUIRE(env.loop.runUntil([&] { return !env.client->connected(); }, 3000));
    const uint64_t t0 = env.loop.now();
    auto a = request(*allow, &env, "alice");
    CHECK(a->passed());
    CHECK(a->stat("failure_mode_allowed") == 1);
    auto d = request(*deny, &env, "alice");
    REQUIRE_FALSE(d->passed());
    CHECK(d->error().status == 503);
    CHECK(absl::StrContains(d->error().message, "redis 'r'"));
    CHECK(env.loop.now() - t0 < 200);
    // Back: decided by Redis again, by itself.
    env.server.start();
    REQUIRE(env.loop.runUntil([&] { return env.client->connected(); }, 3000));
    CHECK(request(*deny, &env, "alice")->passed());
  }
  SECTION("slower than command_timeout: the failure mode after the timeout, not later") {
    Env env(150);
    redis::RedisSettings s;
    s.address = env.server.address();
    redis::RedisClient blocker(&env.loop.loop, s);
    REQUIRE(env.loop.runUntil([&] { return blocker.connected(); }, 3000));
    redis::testing::Calls calls;
    calls.issue(blocker, {"DEBUG", "SLEEP", "0.6"});
    env.loop.runFor(20);
    const uint64_t t0 = env.loop.now();
    auto d = request(*deny, &env, "alice");
    const uint64_t took = env.loop.now() - t0;
    REQUIRE_FALSE(d->passed());
    CHECK(d->error().code == "ratelimit_unavailable");
    CHECK(took >= 140);
    CHECK(took < 450);
    env.loop.runFor(700);
  }
}

TEST_CASE("global_ratelimit: report mode rejects nothing and records what it would have",
          "[global_ratelimit]") {
  Env env;
  auto c = config(R"({"redis": "r", "mode": "report", "limits": [
      {"name": "per-user", "requests": 1, "period": "10s", "by": ["user"]}]})");
  CHECK(request(*c, &env, "alice")->passed());
  auto o = request(*c, &env, "alice");
  CHECK(o->passed());
  CHECK(o->ctx->resumes == 1);
  CHECK(o->stat("limited") == 1);
  const ReportOnlyDecisions* d = o->ctx->filterState().get(kReportOnly);
  REQUIRE(d != nullptr);
  CHECK(d->entries == std::vector<std::string>{"global_ratelimit:rate_limited"});
  // The local pre-check reports too, without a Redis call.
  auto local = request(*c, &env, "alice");
  CHECK(local->passed());
  CHECK(local->stat("redis_calls") == 0);
  CHECK(local->stat("local_precheck_rejected") == 1);
}

TEST_CASE("global_ratelimit: explain", "[global_ratelimit]") {
  auto c = config(R"({"redis": "r", "limits": [
      {"name": "per-user", "requests": 10, "burst": 50, "by": ["user", "route"]},
      {"name": "per-ip", "requests": 100, "period": "60s", "by": ["client_ip"]}]})");
  http::RequestHead head;
  head.method = "GET";
  CHECK(test::explain(*c, head) ==
        "redis 'r', failure_mode allow; limits 'per-user' (10 per 1s, burst 50) by "
        "user=(absent), route=(per request): skipped (descriptor incomplete); 'per-ip' (100 per "
        "60s, burst 100) by client_ip=(per request) (nothing sent)");
  FilterState state;
  state.emplace(kIdentity).subject = "alice";
  ExplainContext ctx{head, state};
  CHECK(absl::StrContains(c->explain(ctx), "by user='alice', route=(per request);"));
}

TEST_CASE("global_ratelimit: config errors name the field", "[global_ratelimit]") {
  CHECK(test::createError("global_ratelimit", R"({"limits": []})", withRedis()) ==
        "redis: required (the name of a redis_servers entry)");
  CHECK(configError(R"({"redis": "x", "limits": []})") == "redis: unknown redis server 'x'");
  CHECK(configError(R"({"redis": "r"})") == "limits: at least one limit is required");
  CHECK(configError(R"({"redis": "r", "limits": [{"requests": 1}]})") ==
        "limits[0].name: required");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a b", "requests": 1}]})") ==
        "limits[0].name: 'a b': 1 to 64 of [A-Za-z0-9_.-]");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 1},
      {"name": "a", "requests": 1}]})") == "limits[1].name: 'a' is used by another limit");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a"}]})") ==
        "limits[0].requests: must be at least 1");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 1,
      "period": "0s"}]})") == "limits[0].period: must be between 1ms and 86400s");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 1,
      "period": "90000s"}]})") == "limits[0].period: must be between 1ms and 86400s");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 5000,
      "period": "0.001s"}]})") ==
        "limits[0].requests: more than one request per microsecond of the period");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 1,
      "by": ["user", "nope"]}]})") ==
        "limits[0].by[1]: unknown part 'nope' (client_ip, user, api_key_consumer, route, method "
        "or header:<name>)");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 1,
      "by": ["user", "user"]}]})") == "limits[0].by[1]: 'user' appears twice");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 1,
      "when_missing": "deny"}]})") ==
        "limits[0].when_missing: must be 'skip' or 'shared', not 'deny'");
  CHECK(configError(R"({"redis": "r", "limits": [{"name": "a", "requests": 1,
      "status": 200}]})") == "limits[0].status: must be 400..599");
  CHECK(configError(R"({"redis": "r", "failure_mode": "open", "limits": [{"name": "a",
      "requests": 1}]})") == "failure_mode: must be 'allow' or 'deny', not 'open'");
  CHECK(configError(R"({"redis": "r", "mode": "dry", "limits": [{"name": "a",
      "requests": 1}]})") == "mode: must be 'enforce' or 'report', not 'dry'");
  CHECK(configError(R"({"redis": "r", "key_prefix": "a b", "limits": [{"name": "a",
      "requests": 1}]})") == "key_prefix: printable ASCII without spaces only");
  CHECK(absl::StrContains(configError(R"({"redis": "r", "limits": [{"name": "a",
      "requests": 1, "rate": 3}]})"), "rate"));
}

} // namespace
} // namespace gw::filters
