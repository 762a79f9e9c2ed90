#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/v1/config.pb.h"
#include "google/protobuf/text_format.h"
#include "source/filters/filter.h"
#include "source/router/route_table.h"

namespace gw::filters::test {

// 2024-06-01T12:00:00Z, the fake's start time.
constexpr int64_t kStartEpochSeconds = 1717243200;

// An HttpClient that records calls and lets the test complete or fail them.
class FakeHttpClient : public HttpClient {
public:
  struct Call {
    uint64_t id;
    std::string cluster;
    HttpRequest request;
    HttpCallback cb;
    bool cancelled = false;
  };
  uint64_t send(absl::string_view cluster, HttpRequest request, HttpCallback cb) override {
    calls.push_back({next_id_, std::string(cluster), std::move(request), std::move(cb)});
    return next_id_++;
  }
  void cancel(uint64_t id) override {
    for (auto& c : calls) {
      if (c.id == id) {
        c.cancelled = true;
      }
    }
  }
  size_t inFlight() const override {
    size_t n = 0;
    for (const auto& c : calls) {
      n += (c.cb && !c.cancelled) ? 1 : 0;
    }
    return n;
  }
  // Runs call `i`'s callback (once) unless cancelled.
  void complete(size_t i, HttpResult&& r) {
    REQUIRE(i < calls.size());
    if (calls[i].cancelled || !calls[i].cb) {
      return;
    }
    HttpCallback cb = std::move(calls[i].cb);
    calls[i].cb = nullptr;
    cb(std::move(r));
  }

  std::vector<Call> calls;

private:
  uint64_t next_id_ = 1;
};

// A WorkerContext with its own (idle) libuv loop for timers, a FakeHttpClient, the Redis clients
// a test puts in `redis_clients` (none by default), and a stats block. Tests that want timers to
// fire run loop() themselves.
class FakeWorkerContext : public WorkerContext {
public:
  FakeWorkerContext() { uv_loop_init(&loop_); }
  ~FakeWorkerContext() override {
    redis_clients.clear();  // a test's clients live on the test's own loop
    // Close what timers left (their handles close asynchronously) before closing the loop.
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
  }
  int index() const override { return 0; }
  uv_loop_t* loop() override { return &loop_; }
  void post(std::function<void()> fn) override { posted.push_back(std::move(fn)); }
  event::TimerPtr createTimer(std::function<void()> cb) override {
    return std::make_unique<event::Timer>(&loop_, std::move(cb));
  }
  HttpClient& httpClient() override { return http; }
  std::shared_ptr<redis::RedisClient> redis(absl::string_view name) override {
    auto it = redis_clients.find(name);
    return it == redis_clients.end() ? nullptr : it->second;
  }
  FilterStatsBlock& filterStats() override { return stats; }
  uint64_t random() override { return ++rng; }

  FakeHttpClient http;
  absl::flat_hash_map<std::string, std::shared_ptr<redis::RedisClient>> redis_clients;
  FilterStatsBlock stats;
  std::vector<std::function<void()>> posted;
  uint64_t rng = 0;

private:
  uv_loop_t loop_;
};

// An Upstream that records what a route filter asks of it.
class FakeUpstream : public Upstream {
public:
  explicit FakeUpstream(HttpClient& client) : client_(client) {}
  using Upstream::proxyTo;
  void proxyTo(absl::string_view cluster, const ProxyPolicy* policy) override {
    proxied.emplace_back(cluster);
    policies.push_back(policy);
  }
  uint64_t send(absl::string_view cluster, HttpRequest request, HttpCallback cb) override {
    return client_.send(cluster, std::move(request), std::move(cb));
  }
  void cancel(uint64_t id) override { client_.cancel(id); }
  std::vector<const ProxyPolicy*> policies;  // the policy of each proxyTo

  std::vector<std::string> proxied;

private:
  HttpClient& client_;
};

// A RequestContext that records what filters ask of it (respond / fail / resume / runAfter) and
// answers with fixed values: request id "req-0123456789abcdef", client "192.0.2.7", no upstream
// host, 37 ms elapsed, a GET api.example.com/api/users/42?x=1 request routed by a small route
// table to the route named "users" (prefix /api/users/; everything else: an unnamed route).
class FakeRequestContext : public RequestContext {
public:
  struct Response {
    int status;
    std::string body;
    std::string content_type;
    http::ResponseHead head;
  };
  struct Timer {
    std::chrono::milliseconds delay;
    std::function<void()> fn;
  };

  FakeRequestContext() {
    gateway::v1::Listener l;
    REQUIRE(google::protobuf::TextFormat::ParseFromString(R"(
      name: 'test' address: '127.0.0.1:0'
      virtual_hosts { name: 'api' domains: '*'
        routes { name: 'users' match { prefix: '/api/users/' } }
        routes { match { prefix: '/' } }
      }
    )",
                                                          &l));
    auto t = router::RouteTable::create(l);
    INFO(t.status().ToString());
    REQUIRE(t.ok());
    table_ = std::move(*t);
    request_.method = "GET";
    request_.target = "/api/users/42?x=1";
    request_.path = "/api/users/42";
    request_.query = "x=1";
    request_.host = "api.example.com";
    rematch();
    REQUIRE(route_ != nullptr);
    REQUIRE(route_->name() == "users");
    anchor_ = std::make_shared<detail::HandleAnchor>();
    anchor_->ctx = this;
  }
  ~FakeRequestContext() override { anchor_->ctx = nullptr; }

  // Re-matches the route against the fake's own table (e.g. after changing the path).
  void rematch() { route_ = table_->match(request_).route; }
  // Uses a route from elsewhere (or none).
  void setRoute(const router::RouteEntry* r) { route_ = r; }

  using RequestContext::respond;
  http::RequestHead& request() override { return request_; }
  http::ResponseHead& response() override { return response_; }
  const router::RouteEntry* route() const override { return route_; }
  absl::string_view requestId() const override { return request_id_; }
  const std::string& clientAddress() const override { return client_address_; }
  const std::string& upstreamHost() const override { return upstream_host_; }
  std::chrono::system_clock::time_point startTime() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(kStartEpochSeconds));
  }
  int64_t elapsedMs() const override { return elapsed_ms_; }
  FilterState& filterState() override { return state_; }
  WorkerContext& worker() override { return worker_; }
  RequestHandle handle() override { return RequestHandle(anchor_); }
  std::string& requestBody() override { return request_body_; }
  void respond(http::ResponseHead head, std::string body) override {
    const std::string* ct = head.headers.get("content-type");
    responses.push_back({head.status, std::move(body), ct == nullptr ? "" : *ct, std::move(head)});
  }
  // A streamed response: its head lands in `responses` (body empty), the pieces in `streamed`.
  void respondStreaming(http::ResponseHead head, ResponseBodySource* source) override {
    const std::string* ct = head.headers.get("content-type");
    responses.push_back({head.status, "", ct == nullptr ? "" : *ct, std::move(head)});
    body_source = source;
  }
  void respondBody(absl::string_view piece, bool end_of_stream) override {
    streamed.append(piece.data(), piece.size());
    stream_ended = stream_ended || end_of_stream;
  }
  void abortResponse() override { aborted = true; }
  void fail(ErrorInfo error) override { failures.push_back(std::move(error)); }
  void resume() override { resumes++; }
  void runAfter(std::chrono::milliseconds delay, std::function<void()> fn) override {
    timers.push_back({delay, std::move(fn)});
  }
  const ErrorInfo* error() const override { return error_ ? &*error_ : nullptr; }

  void setError(ErrorInfo e) { error_ = std::move(e); }
  void setUpstreamHost(std::string h) { upstream_host_ = std::move(h); }
  void setElapsedMs(int64_t ms) { elapsed_ms_ = ms; }
  // The request ends: handles go dead.
  void end() { anchor_->ctx = nullptr; }
  FakeWorkerContext& fakeWorker() { return worker_; }

  // Nothing was asked of the context (no respond / fail / resume / timer).
  bool untouched() const {
    return responses.empty() && failures.empty() && resumes == 0 && timers.empty();
  }

  std::vector<Response> responses;
  std::vector<ErrorInfo> failures;
  int resumes = 0;
  std::vector<Timer> timers;
  ResponseBodySource* body_source = nullptr;
  std::string streamed;
  bool stream_ended = false;
  bool aborted = false;

private:
  std::unique_ptr<router::RouteTable> table_;
  const router::RouteEntry* route_ = nullptr;
  http::RequestHead request_;
  http::ResponseHead response_;
  std::string request_id_ = "req-0123456789abcdef";
  std::string client_address_ = "192.0.2.7";
  std::string upstream_host_;
  std::string request_body_;
  int64_t elapsed_ms_ = 37;
  std::optional<ErrorInfo> error_;
  FilterState state_;
  FakeWorkerContext worker_;
  std::shared_ptr<detail::HandleAnchor> anchor_;
};

// The instance the data path would run for `config`: its shared one, or a new one (kept in
// `owned`).
inline Filter& instanceOf(const FilterConfig& config, FilterPtr& owned) {
  if (Filter* f = config.shared()) {
    return *f;
  }
  owned = config.create();
  REQUIRE(owned != nullptr);
  return *owned;
}

} // namespace gw::filters::test
