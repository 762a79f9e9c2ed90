// The cache filter on a fake request context with a fake clock: every X-Cache state, Age, 304s,
// revalidation, stale-if-error, coalescing across workers, Vary, limits and config errors.
#include <catch2/catch.hpp>

#include "source/filters/cache/store.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters::cache {
namespace {

using test::FakeRequestContext;

int64_t g_now = 1717243200000;

struct Fixture {
  Fixture() {
    setClockForTest([] { return g_now; });
    MemoryStore::global().purge(PurgeKind::All, "");
  }
  ~Fixture() { setClockForTest(nullptr); }
};

FilterConfigConstSharedPtr config(const std::string& json = R"({"default_ttl_seconds": 30})") {
  ValidationContext v;
  v.route_name = "users";
  v.redis_server_names.insert("shared");
  return test::createOk("cache", json, v);
}

std::string xcache(const http::ResponseHead& h) {
  const std::string* v = h.headers.get("x-cache");
  return v ? *v : "";
}

// Runs one request through the filter; `upstream` plays the origin when the request goes there.
struct Run {
  FakeRequestContext ctx;
  FilterPtr f;
  FilterStatus status;
  Run(const FilterConfig& c, std::function<void(http::RequestHead&)> edit = nullptr) {
    if (edit) edit(ctx.request());
    f = c.create();
    status = f->onRequestHeaders(ctx);
  }
  // The origin answers.
  void upstream(int code, std::vector<std::pair<std::string, std::string>> headers,
                std::string body = "origin body") {
    ctx.response().status = code;
    for (auto& [k, v] : headers) ctx.response().headers.add(k, v);
    f->onResponseHeaders(ctx);
    if (ctx.responses.empty()) {
      f->onResponseBody(ctx, body, true);
    }
  }
  // The origin's head only (the body follows through piece()).
  void head(int code, std::vector<std::pair<std::string, std::string>> headers) {
    ctx.response().status = code;
    for (auto& [k, v] : headers) ctx.response().headers.add(k, v);
    f->onResponseHeaders(ctx);
  }
  void piece(std::string body, bool eos) { f->onResponseBody(ctx, body, eos); }
  // Runs what was posted to this request's worker since the last call.
  void runPosted() {
    auto& p = ctx.fakeWorker().posted;
    while (ran_ < p.size()) {
      auto fn = p[ran_++];
      fn();
    }
  }
  size_t ran_ = 0;
  // What the client got: a response from the cache, or the upstream's head.
  std::string result() const {
    return ctx.responses.empty() ? xcache(const_cast<FakeRequestContext&>(ctx).response())
                                 : xcache(ctx.responses.back().head);
  }
  ~Run() { f->onDestroy(ctx); }
};

TEST_CASE("MISS stores, then HIT with Age from the fake clock; the route's stats count them") {
  Fixture fx;
  auto c = config();
  auto stats = MemoryStore::global().routeStats("users");
  const uint64_t hits0 = stats->hits, misses0 = stats->misses;
  {
    Run r(*c);
    CHECK(r.status == FilterStatus::Continue);
    r.upstream(200, {{"cache-control", "max-age=60"}, {"content-type", "text/plain"}});
    CHECK(r.result() == "MISS");
  }
  g_now += 5000;
  Run r2(*c);
  CHECK(r2.status == FilterStatus::StopAndRespond);
  REQUIRE(r2.ctx.responses.size() == 1);
  CHECK(r2.ctx.responses[0].status == 200);
  CHECK(r2.ctx.responses[0].body == "origin body");
  CHECK(*r2.ctx.responses[0].head.headers.get("age") == "5");
  CHECK(xcache(r2.ctx.responses[0].head) == "HIT");
  CHECK(r2.ctx.responses[0].content_type == "text/plain");
  CHECK(stats->hits - hits0 == 1);
  CHECK(stats->misses - misses0 == 1);
}

TEST_CASE("the route's default TTL applies when the response names none; then it expires") {
  Fixture fx;
  auto c = config();
  { Run r(*c); r.upstream(200, {}); }
  g_now += 29000;
  { Run r(*c); CHECK(r.result() == "HIT"); }
  g_now += 2000;
  Run r(*c);  // stale, no validators, no stale windows: a plain miss
  CHECK(r.status == FilterStatus::Continue);
  r.upstream(200, {});
  CHECK(r.result() == "MISS");
}

TEST_CASE("conditional requests against a fresh entry get 304 from the gateway") {
  Fixture fx;
  auto c = config();
  { Run r(*c); r.upstream(200, {{"etag", "\"v1\""}, {"cache-control", "max-age=60"}}); }
  Run hit(*c, [](http::RequestHead& h) { h.headers.add("if-none-match", "\"v1\""); });
  REQUIRE(hit.ctx.responses.size() == 1);
  CHECK(hit.ctx.responses[0].status == 304);
  CHECK(hit.ctx.responses[0].body.empty());
  CHECK(*hit.ctx.responses[0].head.headers.get("etag") == "\"v1\"");
  Run other(*c, [](http::RequestHead& h) { h.headers.add("if-none-match", "\"v0\""); });
  CHECK(other.ctx.responses[0].status == 200);
}

TEST_CASE("no-store, private and Set-Cookie responses are not stored") {
  Fixture fx;
  auto c = config();
  for (auto h : std::vector<std::pair<std::string, std::string>>{
           {"cache-control", "no-store"}, {"cache-control", "private"}, {"set-cookie", "s=1"}}) {
    INFO(h.first << ": " << h.second);
    MemoryStore::global().purge(PurgeKind::All, "");
    { Run r(*c); r.upstream(200, {h}); CHECK(r.result() == "MISS"); }
    Run again(*c);
    CHECK(again.status == FilterStatus::Continue);
    CHECK(again.ctx.responses.empty());
    again.upstream(200, {});
  }
}

TEST_CASE("Authorization bypasses the shared cache; non-GET methods bypass and invalidate") {
  Fixture fx;
  auto c = config();
  { Run r(*c); r.upstream(200, {}); }
  {
    Run a(*c, [](http::RequestHead& h) { h.headers.add("authorization", "Bearer t"); });
    CHECK(a.status == FilterStatus::Continue);
    a.upstream(200, {});
    CHECK(a.result() == "BYPASS");
  }
  { Run hit(*c); CHECK(hit.result() == "HIT"); }
  {
    Run post(*c, [](http::RequestHead& h) { h.method = "POST"; });
    CHECK(post.status == FilterStatus::Continue);
    post.upstream(201, {});
    CHECK(post.result() == "BYPASS");
  }
  Run after(*c);  // the POST invalidated the resource
  CHECK(after.status == FilterStatus::Continue);
}

TEST_CASE("stale entries are revalidated with the stored validators; an upstream 304 is REFRESH") {
  Fixture fx;
  auto c = config();
  { Run r(*c); r.upstream(200, {{"etag", "\"v1\""}, {"cache-control", "max-age=10"}}, "v1 body"); }
  g_now += 20000;
  Run r(*c, [](http::RequestHead& h) { h.headers.add("if-none-match", "\"client\""); });
  CHECK(r.status == FilterStatus::Continue);
  CHECK(*r.ctx.request().headers.get("if-none-match") == "\"v1\"");  // ours replaced the client's
  r.upstream(304, {{"cache-control", "max-age=60"}});
  REQUIRE(r.ctx.responses.size() == 1);
  CHECK(r.ctx.responses[0].status == 200);
  CHECK(r.ctx.responses[0].body == "v1 body");
  CHECK(xcache(r.ctx.responses[0].head) == "REFRESH");
  CHECK(*r.ctx.responses[0].head.headers.get("age") == "0");
  g_now += 30000;
  Run hit(*c);  // fresh again for 60 s
  CHECK(hit.result() == "HIT");
}

TEST_CASE("a stale entry replaced by a full response is EXPIRED") {
  Fixture fx;
  auto c = config();
  { Run r(*c); r.upstream(200, {{"etag", "\"v1\""}, {"cache-control", "max-age=1"}}); }
  g_now += 5000;
  Run r(*c);
  r.upstream(200, {{"etag", "\"v2\""}, {"cache-control", "max-age=60"}}, "v2");
  CHECK(r.result() == "EXPIRED");
  Run hit(*c);
  CHECK(hit.ctx.responses.at(0).body == "v2");
}

TEST_CASE("stale-if-error: a 5xx, a fallback or an error (breaker open) serves STALE") {
  Fixture fx;
  auto c = config(R"({"default_ttl_seconds": 30, "stale_if_error_seconds": 60})");
  { Run r(*c); r.upstream(200, {{"cache-control", "max-age=1"}}, "kept"); }
  g_now += 10000;
  {
    Run r(*c);
    r.upstream(503, {});
    REQUIRE(r.ctx.responses.size() == 1);
    CHECK(r.ctx.responses[0].body == "kept");
    CHECK(xcache(r.ctx.responses[0].head) == "STALE");
  }
  {
    Run r(*c);
    r.ctx.setError(ErrorInfo::make(ErrorKind::CircuitOpen, "open"));
    CHECK(r.f->onError(r.ctx) == FilterStatus::StopAndRespond);
    REQUIRE(r.ctx.responses.size() == 1);
    CHECK(xcache(r.ctx.responses[0].head) == "STALE");
  }
  g_now += 120000;  // past the stale-if-error window: the error goes through
  Run r(*c);
  r.ctx.setError(ErrorInfo::make(ErrorKind::UpstreamConnectFailed, "down"));
  CHECK(r.f->onError(r.ctx) == FilterStatus::Continue);
  CHECK(r.ctx.responses.empty());
  CHECK(xcache(r.ctx.response()) == "MISS");  // nothing left to use: dropped
}

TEST_CASE("without stale windows a just-expired entry is not served stale") {
  Fixture fx;
  auto c = config();
  { Run r(*c); r.upstream(200, {{"cache-control", "max-age=1"}, {"etag", "\"e\""}}); }
  g_now += 1000;  // age == lifetime: stale, staleness 0
  Run r(*c);
  CHECK(r.status == FilterStatus::Continue);
  r.upstream(503, {});
  CHECK(r.ctx.responses.empty());
  CHECK(xcache(r.ctx.response()) == "EXPIRED");
}

TEST_CASE("must-revalidate entries are never served stale") {
  Fixture fx;
  auto c = config(R"({"stale_if_error_seconds": 60})");
  { Run r(*c); r.upstream(200, {{"cache-control", "max-age=1, must-revalidate"}, {"etag", "\"e\""}}); }
  g_now += 5000;
  Run r(*c);
  r.upstream(503, {});
  CHECK(r.ctx.responses.empty());
}

TEST_CASE("coalescing: concurrent misses wait for the leader and get its entry") {
  Fixture fx;
  auto c = config();
  Run leader(*c);
  CHECK(leader.status == FilterStatus::Continue);
  Run waiter(*c);
  CHECK(waiter.status == FilterStatus::Pause);
  REQUIRE(waiter.ctx.timers.size() == 1);  // the coalescing timeout
  leader.upstream(200, {{"cache-control", "max-age=60"}}, "shared");
  REQUIRE(waiter.ctx.fakeWorker().posted.size() == 1);  // resumed on its own loop
  waiter.ctx.fakeWorker().posted[0]();
  REQUIRE(waiter.ctx.responses.size() == 1);
  CHECK(waiter.ctx.responses[0].body == "shared");
  CHECK(xcache(waiter.ctx.responses[0].head) == "HIT");
  // The timeout firing afterwards changes nothing.
  waiter.ctx.timers[0].fn();
  CHECK(waiter.ctx.resumes == 0);
}

TEST_CASE("coalescing: an uncacheable leader response sends the waiters upstream; timeouts too") {
  Fixture fx;
  auto c = config();
  {
    Run leader(*c);
    Run waiter(*c);
    CHECK(waiter.status == FilterStatus::Pause);
    leader.upstream(200, {{"cache-control", "no-store"}});
    REQUIRE(waiter.ctx.fakeWorker().posted.size() == 1);
    waiter.ctx.fakeWorker().posted[0]();
    CHECK(waiter.ctx.resumes == 1);
  }
  auto leader = std::make_unique<Run>(*c);
  Run waiter(*c);
  CHECK(waiter.status == FilterStatus::Pause);
  CHECK(waiter.ctx.timers[0].delay == std::chrono::milliseconds(5000));
  waiter.ctx.timers[0].fn();  // the leader is too slow
  CHECK(waiter.ctx.resumes == 1);
  leader.reset();  // the waiter left: nothing is posted to it
  CHECK(waiter.ctx.fakeWorker().posted.empty());
}

TEST_CASE("coalescing: a leader that dies releases its waiters") {
  Fixture fx;
  auto c = config();
  auto leader = std::make_unique<Run>(*c);
  Run waiter(*c);
  leader.reset();  // onDestroy without a response
  REQUIRE(waiter.ctx.fakeWorker().posted.size() == 1);
  waiter.ctx.fakeWorker().posted[0]();
  CHECK(waiter.ctx.resumes == 1);
}

TEST_CASE("coalescing streams the leader's response to its waiters from the head on") {
  Fixture fx;
  auto c = config();
  Run leader(*c);
  Run early(*c);
  CHECK(early.status == FilterStatus::Pause);
  g_now += 2000;
  leader.head(200, {{"cache-control", "max-age=60"}, {"content-type", "text/plain"}});
  early.runPosted();  // woken by the head alone
  REQUIRE(early.ctx.responses.size() == 1);
  CHECK(early.ctx.responses[0].status == 200);
  CHECK(xcache(early.ctx.responses[0].head) == "HIT");
  // RFC 9111 4.2.3: the 2 s the leader's request took count as age (response_delay).
  CHECK(*early.ctx.responses[0].head.headers.get("age") == "2");
  CHECK(early.ctx.responses[0].content_type == "text/plain");
  CHECK(early.ctx.body_source == dynamic_cast<ResponseBodySource*>(early.f.get()));
  CHECK(early.ctx.streamed.empty());
  leader.piece("first ", false);
  early.runPosted();
  CHECK(early.ctx.streamed == "first ");
  CHECK_FALSE(early.ctx.stream_ended);
  Run late(*c);  // joins mid-body: starts from byte 0
  CHECK(late.status == FilterStatus::Pause);
  late.runPosted();
  REQUIRE(late.ctx.responses.size() == 1);
  CHECK(late.ctx.streamed == "first ");
  leader.piece("second", true);
  early.runPosted();
  late.runPosted();
  CHECK(early.ctx.streamed == "first second");
  CHECK(early.ctx.stream_ended);
  CHECK(late.ctx.streamed == "first second");
  CHECK(late.ctx.stream_ended);
  CHECK(early.ctx.resumes == 0);
  // The coalescing timeout no longer applies once streaming started.
  REQUIRE(early.ctx.timers.size() == 1);
  early.ctx.timers[0].fn();
  CHECK(early.ctx.resumes == 0);
  Run after(*c);  // stored: a plain hit
  CHECK(after.status == FilterStatus::StopAndRespond);
  CHECK(after.ctx.responses[0].body == "first second");
}

TEST_CASE("coalescing: a leader failing mid-body aborts streaming waiters; the others go upstream") {
  Fixture fx;
  auto c = config();
  auto leader = std::make_unique<Run>(*c);
  Run started(*c);
  Run slow(*c);  // joined, but its wake has not run yet
  leader->head(200, {{"cache-control", "max-age=60"}});
  leader->piece("half", false);
  started.runPosted();
  CHECK(started.ctx.streamed == "half");
  leader.reset();  // the upstream reset mid-body: the leader's request ends (onDestroy)
  started.runPosted();
  CHECK(started.ctx.aborted);  // not completed as a truncated body
  CHECK_FALSE(started.ctx.stream_ended);
  slow.runPosted();
  CHECK(slow.ctx.responses.empty());
  CHECK(slow.ctx.resumes == 1);  // goes upstream itself
  Run next(*c);  // nothing stored, no flight left: leads
  CHECK(next.status == FilterStatus::Continue);
}

TEST_CASE("coalescing: a body over max_entry_bytes keeps streaming waiters and sends the rest upstream") {
  Fixture fx;
  auto c = config(R"({"default_ttl_seconds": 30, "max_entry_bytes": 10})");
  Run leader(*c);
  Run started(*c);
  Run later(*c);
  leader.head(200, {});  // no Content-Length: the size shows while streaming
  leader.piece("12345678", false);
  started.runPosted();
  CHECK(started.ctx.streamed == "12345678");
  leader.piece("abcdefgh", false);  // 16 > 10: not stored
  later.runPosted();
  CHECK(later.ctx.resumes == 1);
  CHECK(later.ctx.responses.empty());
  Run newcomer(*c);  // the flight takes no one new: it leads its own request
  CHECK(newcomer.status == FilterStatus::Continue);
  started.runPosted();
  leader.piece("!", true);
  started.runPosted();
  CHECK(started.ctx.streamed == "12345678abcdefgh!");
  CHECK(started.ctx.stream_ended);
  CHECK_FALSE(started.ctx.aborted);
}

TEST_CASE("coalescing: a paused waiter takes nothing until its client drains") {
  Fixture fx;
  auto c = config();
  Run leader(*c);
  Run w(*c);
  leader.head(200, {{"cache-control", "max-age=60"}});
  leader.piece("a", false);
  w.runPosted();
  REQUIRE(w.ctx.body_source != nullptr);
  w.ctx.body_source->pauseBody();  // the client's write queue is over its high watermark
  leader.piece("b", false);
  w.runPosted();
  CHECK(w.ctx.streamed == "a");
  leader.piece("c", true);
  w.runPosted();
  CHECK(w.ctx.streamed == "a");
  w.ctx.body_source->resumeBody();  // posts the next take
  CHECK(w.ctx.streamed == "a");
  w.runPosted();
  CHECK(w.ctx.streamed == "abc");
  CHECK(w.ctx.stream_ended);
}

TEST_CASE("coalescing: a leader response stored for revalidation only sends waiters upstream") {
  Fixture fx;
  auto c = config();
  Run leader(*c);
  Run w(*c);
  leader.head(200, {{"cache-control", "no-cache"}, {"etag", "\"v1\""}});
  w.runPosted();
  CHECK(w.ctx.responses.empty());
  CHECK(w.ctx.resumes == 1);
}

TEST_CASE("Vary on the response keeps variants apart; Vary: * is never stored") {
  Fixture fx;
  auto c = config();
  auto lang = [](const char* l) {
    return [l](http::RequestHead& h) { h.headers.add("accept-language", l); };
  };
  { Run r(*c, lang("en")); r.upstream(200, {{"vary", "Accept-Language"}}, "hello"); }
  { Run r(*c, lang("en")); CHECK(r.ctx.responses.at(0).body == "hello"); }
  {
    Run r(*c, lang("de"));
    CHECK(r.status == FilterStatus::Continue);
    r.upstream(200, {{"vary", "Accept-Language"}}, "hallo");
  }
  { Run r(*c, lang("de")); CHECK(r.ctx.responses.at(0).body == "hallo"); }
  { Run r(*c, lang("en")); CHECK(r.ctx.responses.at(0).body == "hello"); }
  MemoryStore::global().purge(PurgeKind::All, "");
  { Run r(*c); r.upstream(200, {{"vary", "*"}}); }
  Run r(*c);
  CHECK(r.status == FilterStatus::Continue);
}

TEST_CASE("key_headers keep requests apart without the upstream's Vary") {
  Fixture fx;
  auto c = config(R"({"default_ttl_seconds": 30, "key_headers": ["Accept-Language", "api-version"]})");
  auto hdr = [](const char* n, const char* v) {
    return [n, v](http::RequestHead& h) { h.headers.add(n, v); };
  };
  { Run r(*c, hdr("accept-language", "en")); r.upstream(200, {}, "en"); }
  { Run r(*c, hdr("accept-language", "de")); CHECK(r.status == FilterStatus::Continue); }
  { Run r(*c, hdr("api-version", "2")); CHECK(r.status == FilterStatus::Continue); }
  { Run r(*c, hdr("accept-language", "en")); CHECK(r.result() == "HIT"); }
}

TEST_CASE("bodies over max_entry_bytes stream through as BYPASS and are not stored") {
  Fixture fx;
  auto c = config(R"({"default_ttl_seconds": 30, "max_entry_bytes": 4})");
  {
    Run r(*c);
    r.upstream(200, {{"content-length", "10"}}, "0123456789");
    CHECK(r.result() == "BYPASS");
  }
  {
    Run r(*c);  // no Content-Length: found too large while streaming
    CHECK(r.status == FilterStatus::Continue);
    r.upstream(200, {}, "0123456789");
  }
  Run r(*c);
  CHECK(r.status == FilterStatus::Continue);
}

TEST_CASE("HEAD is served from a GET's entry and never stored itself") {
  Fixture fx;
  auto c = config();
  auto head = [](http::RequestHead& h) { h.method = "HEAD"; };
  { Run r(*c, head); r.upstream(200, {}); }
  { Run r(*c); CHECK(r.status == FilterStatus::Continue); r.upstream(200, {}); }
  Run r(*c, head);
  CHECK(r.result() == "HIT");
}

TEST_CASE("surrogate keys from the configured header allow purge by tag") {
  Fixture fx;
  auto c = config(R"({"default_ttl_seconds": 30, "surrogate_key_header": "Surrogate-Key"})");
  { Run r(*c); r.upstream(200, {{"surrogate-key", "user-42 users"}}); }
  CHECK(MemoryStore::global().purge(PurgeKind::Tag, "nope") == 0);
  CHECK(MemoryStore::global().purge(PurgeKind::Tag, "users") == 1);
}

TEST_CASE("config errors name the field") {
  auto err = [](const std::string& json) {
    ValidationContext v;
    auto r = test::create("cache", json, v);
    REQUIRE_FALSE(r.ok());
    return std::string(r.status().message());
  };
  CHECK(err(R"({"redis": "nope"})") == "redis: unknown redis server 'nope'");
  CHECK(err(R"({"key_headers": ["ok", "bad header"]})") ==
        "key_headers[1]: 'bad header' is not a valid header name");
  CHECK(err(R"({"key_identity": ["email"]})").rfind("key_identity[0]:", 0) == 0);
  CHECK(err(R"({"cacheable_statuses": [200, 99]})").rfind("cacheable_statuses[1]:", 0) == 0);
  CHECK(err(R"({"max_entry_bytes": 100000000})").rfind("max_entry_bytes:", 0) == 0);
  CHECK(err(R"({"coalesce_timeout_ms": 70000})").rfind("coalesce_timeout_ms:", 0) == 0);
  CHECK(err(R"({"max_entry_bytes": 100, "memory_max_bytes": 10})").rfind("memory_max_bytes:", 0) == 0);
  CHECK(err(R"({"ttl": 1})").find("ttl") != std::string::npos);
}

} // namespace
} // namespace gw::filters::cache
