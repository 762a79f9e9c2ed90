// The filter platform's edges through a real stream: a Worker on its own loop, demo_upstream
// processes, test-only filters registered in this binary (t_*), requests from a blocking client.
#include <atomic>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "source/filters/filter.h"
#include "source/redis/redis_client.h"
#include "test/redis/redis_test_util.h"
#include "test/server/test_gateway.h"

namespace gw::server {
namespace {

using filters::BodyPolicy;
using filters::ErrorInfo;
using filters::ErrorKind;
using filters::Filter;
using filters::FilterConfig;
using filters::FilterConfigConstSharedPtr;
using filters::FilterFactory;
using filters::FilterKind;
using filters::FilterPtr;
using filters::FilterStatus;
using filters::RequestContext;
using filters::ValidationContext;
using test::Gateway;
using test::Response;
using test::Upstream;
using test::request;
using test::waitFor;

// What the test filters saw (written on the worker thread, read by the test thread).
std::atomic<int> g_destroyed{0};
std::atomic<int> g_call_completed{0};
std::atomic<int> g_call_cancelled{0};
filters::RequestHandle g_last_handle;  // worker thread only

std::string str(const google::protobuf::Struct& s, const char* key, std::string def = "") {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? def : it->second.string_value();
}
int64_t num(const google::protobuf::Struct& s, const char* key, int64_t def = 0) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? def : static_cast<int64_t>(it->second.number_value());
}

// A factory whose config is a plain Struct, handed to `make`.
template <class Config, FilterKind K> class StructFactory : public FilterFactory {
public:
  explicit StructFactory(const char* name) : name_(name) {}
  absl::string_view name() const override { return name_; }
  FilterKind kind() const override { return K; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return google::protobuf::Struct::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    return FilterConfigConstSharedPtr(std::make_shared<Config>(config));
  }

private:
  const char* name_;
};
template <class Config, FilterKind K = FilterKind::Stage> struct RegisterStruct {
  explicit RegisterStruct(const char* name) {
    filters::FilterRegistry::add(std::make_unique<StructFactory<Config, K>>(name));
  }
};

// t_pause: pauses the request; resumes after `ms` (never when 0). Keeps its handle for the test.
class PauseFilter : public Filter {
public:
  explicit PauseFilter(int64_t ms) : ms_(ms) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override {
    g_last_handle = ctx.handle();
    if (ms_ > 0) {
      ctx.runAfter(std::chrono::milliseconds(ms_), [h = ctx.handle()] { h.resume(); });
    }
    return FilterStatus::Pause;
  }
  void onDestroy(RequestContext&) override { g_destroyed++; }

private:
  int64_t ms_;
};
struct PauseConfig : FilterConfig {
  explicit PauseConfig(const google::protobuf::Struct& s) : ms(num(s, "ms")) {}
  FilterPtr create() const override { return std::make_unique<PauseFilter>(ms); }
  int64_t ms;
};
const RegisterStruct<PauseConfig> kPause("t_pause");

// t_state_write / t_state_read: a pre filter leaves a value, a post filter reads it.
struct Mark : filters::FilterStateObject {
  std::string value;
  std::string describe() const override { return value; }
};
constexpr filters::FilterStateKey<Mark> kMark{"test_mark"};

class StateWrite : public Filter {
public:
  FilterStatus onRequestHeaders(RequestContext& ctx) override {
    const std::string* v = ctx.request().headers.get("x-mark");
    ctx.filterState().emplace(kMark).value = v == nullptr ? "unset" : *v;
    return FilterStatus::Continue;
  }
};
struct StateWriteConfig : FilterConfig {
  explicit StateWriteConfig(const google::protobuf::Struct&) {}
  FilterPtr create() const override { return std::make_unique<StateWrite>(); }
};
const RegisterStruct<StateWriteConfig> kStateWrite("t_state_write");

class StateRead : public Filter {
public:
  FilterStatus onResponseHeaders(RequestContext& ctx) override {
    const Mark* m = ctx.filterState().get(kMark);
    ctx.response().headers.set("x-mark-seen", m == nullptr ? "none" : m->value);
    return FilterStatus::Continue;
  }
};
struct StateReadConfig : FilterConfig {
  explicit StateReadConfig(const google::protobuf::Struct&) {}
  FilterPtr create() const override { return std::make_unique<StateRead>(); }
};
const RegisterStruct<StateReadConfig> kStateRead("t_state_read");

// t_local: answers requests carrying x-local with a 203 and headers of its own.
class LocalFilter : public Filter {
public:
  FilterStatus onRequestHeaders(RequestContext& ctx) override {
    if (!ctx.request().headers.has("x-local")) {
      return FilterStatus::Continue;
    }
    http::ResponseHead head;
    head.status = 203;
    head.headers.add("content-type", "text/plain");
    head.headers.add("x-local", "yes");
    head.headers.add("cache-control", "max-age=5");
    ctx.respond(std::move(head), "local body");
    return FilterStatus::StopAndRespond;
  }
};
struct LocalConfig : FilterConfig {
  explicit LocalConfig(const google::protobuf::Struct&) {}
  FilterPtr create() const override { return std::make_unique<LocalFilter>(); }
};
const RegisterStruct<LocalConfig> kLocal("t_local");

// t_body: asks for the bodies (mode "buffer" with limits, or "stream") and marks them: the
// request body gets "|req" appended at its end, the response body is upper-cased.
struct BodyConfig : FilterConfig {
  explicit BodyConfig(const google::protobuf::Struct& s)
      : stream(str(s, "mode") == "stream"), request_limit(num(s, "request_limit", 1 << 20)),
        response_limit(num(s, "response_limit", 1 << 20)) {}
  FilterPtr create() const override;
  BodyPolicy requestBody() const override {
    return stream ? BodyPolicy::stream() : BodyPolicy::buffer(request_limit);
  }
  BodyPolicy responseBody() const override {
    return stream ? BodyPolicy::stream() : BodyPolicy::buffer(response_limit);
  }
  bool seesResponse() const override { return true; }
  bool stream;
  uint64_t request_limit, response_limit;
};
class BodyFilter : public Filter {
public:
  FilterStatus onRequestBody(RequestContext&, std::string& body, bool eos) override {
    if (eos) {
      body += "|req";
    }
    return FilterStatus::Continue;
  }
  FilterStatus onResponseBody(RequestContext&, std::string& body, bool) override {
    absl::AsciiStrToUpper(&body);
    return FilterStatus::Continue;
  }
};
FilterPtr BodyConfig::create() const { return std::make_unique<BodyFilter>(); }
const RegisterStruct<BodyConfig> kBody("t_body");

// t_compose (route filter): one sub-request to `cluster` `path`, answered as
// "composed <status> <body bytes>", or the sub-request's error.
class ComposeFilter : public Filter {
public:
  ComposeFilter(std::string cluster, std::string path, int64_t timeout_ms,
                std::string delay_header)
      : cluster_(std::move(cluster)), path_(std::move(path)), timeout_ms_(timeout_ms),
        delay_(std::move(delay_header)) {}
  FilterStatus onRoute(RequestContext& ctx, filters::Upstream& up) override {
    filters::HttpRequest r;
    r.path = path_;
    r.timeout = std::chrono::milliseconds(timeout_ms_);
    if (!delay_.empty()) {
      r.headers.add("x-demo-delay-ms", delay_);
    }
    up.send(cluster_, std::move(r), [h = ctx.handle()](filters::HttpResult&& res) {
      if (!res.ok()) {
        h.fail(std::move(res.error));
        return;
      }
      http::ResponseHead head;
      head.status = 200;
      head.headers.add("content-type", "text/plain");
      h.respond(std::move(head), absl::StrCat("composed ", res.response.head.status, " ",
                                              res.response.body.size()));
    });
    return FilterStatus::Pause;
  }

private:
  std::string cluster_, path_;
  int64_t timeout_ms_;
  std::string delay_;
};
struct ComposeConfig : FilterConfig {
  explicit ComposeConfig(const google::protobuf::Struct& s)
      : cluster(str(s, "cluster")), path(str(s, "path", "/")),
        timeout_ms(num(s, "timeout_ms", 5000)), delay(str(s, "delay_ms")) {}
  FilterPtr create() const override {
    return std::make_unique<ComposeFilter>(cluster, path, timeout_ms, delay);
  }
  std::string cluster, path;
  int64_t timeout_ms;
  std::string delay;
};
const RegisterStruct<ComposeConfig, FilterKind::Route> kCompose("t_compose");

// t_call (pre): a sub-request through the worker's HTTP client before the request goes on;
// cancels it in onDestroy.
class CallFilter : public Filter {
public:
  CallFilter(std::string cluster, std::string delay) : cluster_(std::move(cluster)),
                                                       delay_(std::move(delay)) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override {
    filters::HttpRequest r;
    r.path = "/call";
    r.headers.add("x-demo-delay-ms", delay_);
    client_ = &ctx.worker().httpClient();
    id_ = client_->send(cluster_, std::move(r), [this, h = ctx.handle()](filters::HttpResult&&) {
      g_call_completed++;
      id_ = 0;
      h.resume();
    });
    return FilterStatus::Pause;
  }
  void onDestroy(RequestContext&) override {
    g_destroyed++;
    if (id_ != 0) {
      client_->cancel(id_);
      g_call_cancelled++;
    }
  }

private:
  std::string cluster_, delay_;
  filters::HttpClient* client_ = nullptr;
  uint64_t id_ = 0;
};
struct CallConfig : FilterConfig {
  explicit CallConfig(const google::protobuf::Struct& s)
      : cluster(str(s, "cluster")), delay(str(s, "delay_ms", "0")) {}
  FilterPtr create() const override { return std::make_unique<CallFilter>(cluster, delay); }
  std::string cluster, delay;
};
const RegisterStruct<CallConfig> kCall("t_call");

// A one-route config: `pre` and `post` are YAML flow lists of filters; the route filter proxies
// to cluster `up` unless `route` says otherwise.
std::string config(const Upstream& up, const std::string& pre, const std::string& post = "[]",
                   const std::string& route = "{name: router, config: {cluster: up}}",
                   const std::string& extra_clusters = "") {
  return absl::StrCat(R"(
listeners:
  - name: main
    address: "{listen}"
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: r
            match: {prefix: /}
            timeout: 3s
            pre_filters: )", pre, R"(
            route_filter: )", route, R"(
            post_filters: )", post, R"(
clusters:
  - name: up
    endpoints: [{address: ")", up.address(), R"("}]
)", extra_clusters);
}

int upstreamRequests(const Upstream& up) {
  Response r = request(up.port(), "GET", "/__stats");
  REQUIRE(r.status == 200);
  const size_t at = r.body.find("\"requests\":");
  REQUIRE(at != std::string::npos);
  return std::atoi(r.body.c_str() + at + 11);
}

TEST_CASE("stream: resume after the request died is a no-op; onDestroy ran once", "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_pause, config: {ms: 0}}]"));
  g_destroyed = 0;
  {
    test::Client c(gw.port());
    c.send("GET /x HTTP/1.1\r\nHost: test\r\n\r\n");
    waitFor([&] { return gw.onLoop<bool>([](Worker&) { return g_last_handle.alive(); }); }, 3000,
            "paused request");
  }  // the client disconnects while the filter is paused
  waitFor([] { return g_destroyed.load() == 1; }, 3000, "onDestroy");
  const bool alive = gw.onLoop<bool>([](Worker&) {
    const bool a = g_last_handle.alive();
    g_last_handle.resume();  // the late completion: must do nothing
    g_last_handle.respond(http::ResponseHead(), "late");
    g_last_handle.fail(ErrorInfo::make(ErrorKind::Internal, "late"));
    return a;
  });
  CHECK_FALSE(alive);
  CHECK(g_destroyed.load() == 1);
  CHECK(gw.worker().stats().downstream_rq_active.value() == 0);
  CHECK(upstreamRequests(up) == 0);  // nothing went upstream
}

TEST_CASE("stream: a paused filter resumes through runAfter and the request proceeds",
          "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_pause, config: {ms: 50}}]"));
  g_destroyed = 0;
  Response r = request(gw.port(), "GET", "/paused");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"path\":\"/paused\"") != std::string::npos);
  waitFor([] { return g_destroyed.load() == 1; }, 3000, "onDestroy after the response");
}

TEST_CASE("stream: onDestroy cancels an in-flight HTTP call", "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_call, config: {cluster: up, delay_ms: '1000'}}]"));
  g_destroyed = 0;
  g_call_completed = 0;
  g_call_cancelled = 0;
  {
    test::Client c(gw.port());
    c.send("GET /x HTTP/1.1\r\nHost: test\r\n\r\n");
    waitFor([&] { return gw.onLoop<size_t>([](Worker& w) { return w.httpClient().inFlight(); }) ==
                         1; },
            3000, "the call in flight");
  }
  waitFor([] { return g_destroyed.load() == 1; }, 3000, "onDestroy");
  CHECK(g_call_cancelled.load() == 1);
  CHECK(gw.onLoop<size_t>([](Worker& w) { return w.httpClient().inFlight(); }) == 0);
  // Past the upstream's answer: the cancelled call's callback never ran.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  CHECK(g_call_completed.load() == 0);
}

TEST_CASE("stream: a completed pre-filter call resumes the request", "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_call, config: {cluster: up, delay_ms: '20'}}]"));
  g_call_completed = 0;
  Response r = request(gw.port(), "GET", "/after-call");
  CHECK(r.status == 200);
  CHECK(g_call_completed.load() == 1);
  CHECK(upstreamRequests(up) == 2);  // the call, then the request itself
}

TEST_CASE("stream: a local response with headers goes through the post stage", "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_local}]",
                    "[{name: headers, config: {response_set: [{name: x-post, value: '1'}]}}]"));
  Response r = request(gw.port(), "GET", "/x", {"x-local: 1"});
  CHECK(r.status == 203);
  CHECK(r.headers["x-local"] == "yes");
  CHECK(r.headers["cache-control"] == "max-age=5");
  CHECK(r.headers["x-post"] == "1");
  CHECK(r.headers["content-length"] == "10");
  CHECK(r.body == "local body");
  CHECK(r.headers.count("x-request-id") == 1);
  CHECK(upstreamRequests(up) == 0);
  // Without the header the request is proxied, and the post stage runs the same way.
  Response p = request(gw.port(), "GET", "/x");
  CHECK(p.status == 200);
  CHECK(p.headers["x-post"] == "1");
}

TEST_CASE("stream: filter state written in the pre stage is read in the post stage",
          "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_state_write}]", "[{name: t_state_read}]"));
  CHECK(request(gw.port(), "GET", "/s", {"x-mark: abc"}).headers["x-mark-seen"] == "abc");
  CHECK(request(gw.port(), "GET", "/s").headers["x-mark-seen"] == "unset");
}

TEST_CASE("stream: buffered bodies are edited whole, with Content-Length", "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_body, config: {mode: buffer}}]"));
  Response r = request(gw.port(), "POST", "/b", {}, "hello");
  CHECK(r.status == 200);
  // The upstream got the edited body ("hello|req", 9 bytes); its JSON answer comes back upper-cased.
  CHECK(r.body.find("\"BODY_BYTES\":9") != std::string::npos);
  CHECK(r.headers["content-length"] == std::to_string(r.body.size()));
  CHECK(r.headers.count("transfer-encoding") == 0);
}

TEST_CASE("stream: streamed bodies pass through the hooks piece by piece", "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_body, config: {mode: stream}}]"));
  Response r = request(gw.port(), "POST", "/s", {}, std::string(100000, 'a'));
  CHECK(r.status == 200);
  CHECK(r.body.find("\"BODY_BYTES\":100004") != std::string::npos);
  CHECK(r.headers["transfer-encoding"] == "chunked");
  // A streamed response too: 200 KiB of filler, every byte upper-cased on the way.
  Response big = request(gw.port(), "GET", "/s", {"x-demo-stream-bytes: 204800"});
  CHECK(big.status == 200);
  REQUIRE(big.body.size() == 204800);
  CHECK(std::none_of(big.body.begin(), big.body.end(),
                     [](char c) { return absl::ascii_islower(c); }));
}

TEST_CASE("stream: a request body over the buffer limit gets 413 and nothing goes upstream",
          "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_body, config: {mode: buffer, request_limit: 10}}]"));
  Response r = request(gw.port(), "POST", "/b", {}, std::string(100, 'x'));
  CHECK(r.status == 413);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(r.body.find("\"error\":\"payload_too_large\"") != std::string::npos);
  CHECK(r.body.find("\"request_id\":") != std::string::npos);
  CHECK(upstreamRequests(up) == 0);
  CHECK(request(gw.port(), "POST", "/b", {}, "0123456789").status == 200);  // at the limit
}

TEST_CASE("stream: a response body over the buffer limit gets 502 and nothing half-sent",
          "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: t_body, config: {mode: buffer, response_limit: 1000}}]"));
  Response r = request(gw.port(), "GET", "/b", {"x-demo-content-length-stream: 5000"});
  CHECK(r.status == 502);
  CHECK(r.body.find("\"error\":\"response_too_large\"") != std::string::npos);
  CHECK(r.raw.find("HTTP/1.1 200") == std::string::npos);
  Response small = request(gw.port(), "GET", "/b", {"x-demo-content-length-stream: 1000"});
  CHECK(small.status == 200);
  CHECK(small.body.size() == 1000);
}

TEST_CASE("stream: the buffer filter sends a chunked upload upstream whole, with Content-Length",
          "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[{name: buffer, config: {max_request_bytes: 100000}}]"));
  test::Client c(gw.port());
  c.send("POST /up HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
         "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  Response r = test::parseResponse(c.readAll());
  CHECK(r.status == 200);
  CHECK(r.body.find("\"content-length\":\"11\"") != std::string::npos);
  CHECK(r.body.find("transfer-encoding") == std::string::npos);
  CHECK(r.body.find("\"body_bytes\":11") != std::string::npos);
  Response big = request(gw.port(), "POST", "/up", {}, std::string(100001, 'x'));
  CHECK(big.status == 413);
  CHECK(upstreamRequests(up) == 1);
}

TEST_CASE("stream: a route filter composes a sub-request's answer", "[stream]") {
  Upstream up;
  Gateway gw(config(up, "[]", "[]", "{name: t_compose, config: {cluster: up, path: /leg}}"));
  Response r = request(gw.port(), "GET", "/c");
  CHECK(r.status == 200);
  CHECK(r.body.rfind("composed 200 ", 0) == 0);
}

TEST_CASE("stream: a sub-request that fails or times out becomes a typed error", "[stream]") {
  Upstream up;
  const int dead = test::freePort();
  const std::string clusters = absl::StrCat(R"(  - name: dead
    endpoints: [{address: "127.0.0.1:)", dead, R"("}]
)");
  SECTION("connect refused: 502 upstream_connect_failed") {
    Gateway gw(config(up, "[]", "[]", "{name: t_compose, config: {cluster: dead}}", clusters));
    Response r = request(gw.port(), "GET", "/c");
    CHECK(r.status == 502);
    CHECK(r.body.find("\"error\":\"upstream_connect_failed\"") != std::string::npos);
  }
  SECTION("no answer within the call's timeout: 504 upstream_timeout") {
    Gateway gw(config(up, "[]", "[]",
                      "{name: t_compose, config: {cluster: up, timeout_ms: 100, delay_ms: '2000'}}"));
    const auto t0 = std::chrono::steady_clock::now();
    Response r = request(gw.port(), "GET", "/c");
    CHECK(r.status == 504);
    CHECK(r.body.find("\"error\":\"upstream_timeout\"") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1500));
  }
  SECTION("an unknown cluster: 503 no_cluster") {
    Gateway gw(config(up, "[]", "[]", "{name: t_compose, config: {cluster: nowhere}}"));
    Response r = request(gw.port(), "GET", "/c");
    CHECK(r.status == 503);
    CHECK(r.body.find("\"error\":\"no_cluster\"") != std::string::npos);
  }
}

// The slot of a declared filter stat (FilterStatsRegistry), for reading a worker's value.
size_t statSlot(const char* filter, const char* name) {
  for (const auto& d : filters::FilterStatsRegistry::all()) {
    if (d.filter == filter && d.name == name) {
      return d.first_slot;
    }
  }
  FAIL("no filter stat " << filter << "/" << name);
  return 0;
}

TEST_CASE("stream: onDestroy cancels an in-flight Redis command", "[stream]") {
  redis::testing::RedisServer redis;
  Upstream up;
  Gateway gw(absl::StrCat(R"(
listeners:
  - name: main
    address: "{listen}"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /}
            pre_filters:
              - {name: test_probe, config: {redis: r, cluster: up, key: k}}
            route_filter: {name: router, config: {cluster: up}}
clusters:
  - name: up
    endpoints: [{address: ")", up.address(), R"("}]
redis_servers:
  - name: r
    address: ")", redis.address(), R"("
    command_timeout: 3s
)"));
  waitFor([&] { return request(gw.port(), "GET", "/warm").status == 200; }, 5000,
          "redis connected");
  const size_t ok_slot = statSlot("test_probe", "redis_ok");
  const size_t cancelled_slot = statSlot("test_probe", "cancelled");
  auto stat = [&](size_t slot) {
    return gw.onLoop<uint64_t>([slot](Worker& w) { return w.filterStats().value(slot); });
  };
  const uint64_t ok_before = stat(ok_slot);
  // The warm-up may have counted a cancellation (a request failed by a not-yet-connected Redis
  // while its cluster call was out).
  const uint64_t cancelled_before = stat(cancelled_slot);
  // Redis busy for 600 ms: the request's INCR waits there (the cluster call answers at once).
  test::Client blocker(redis.port());
  blocker.send("DEBUG SLEEP 0.6\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    test::Client c(gw.port());
    c.send("GET /x HTTP/1.1\r\nHost: test\r\n\r\n");
    waitFor([&] { return gw.worker().stats().downstream_rq_active.value() == 1; }, 2000,
            "the request in flight");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // the client disconnects while the INCR is out
  waitFor([&] { return gw.worker().stats().downstream_rq_active.value() == 0; }, 2000,
          "the request torn down");
  INFO("redis_ok " << stat(ok_slot) - ok_before << ", failed "
                   << stat(statSlot("test_probe", "redis_failed")));
  CHECK(stat(cancelled_slot) - cancelled_before == 1);  // onDestroy cancelled the command
  // Redis wakes and answers the INCR: the reply is discarded, the callback never runs.
  waitFor([&] {
    return gw.onLoop<uint64_t>([](Worker& w) {
             return w.redis("r")->stats().discarded_replies;
           }) == 1;
  }, 3000, "the late reply discarded");
  CHECK(stat(ok_slot) == ok_before);
  CHECK(gw.worker().stats().downstream_rq_active.value() == 0);
  // The client still works for the next request.
  CHECK(request(gw.port(), "GET", "/after").status == 200);
}

} // namespace
} // namespace gw::server
