#pragma once

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
  }

  // Re-matches the route against the fake's own table (e.g. after changing the path).
  void rematch() { route_ = table_->match(request_).route; }
  // Uses a route from elsewhere (or none).
  void setRoute(const router::RouteEntry* r) { route_ = r; }

  http::RequestHead& request() override { return request_; }
  http::ResponseHead& response() override { return response_; }
  const router::RouteEntry* route() const override { return route_; }
  const std::string& requestId() const override { return request_id_; }
  const std::string& clientAddress() const override { return client_address_; }
  const std::string& upstreamHost() const override { return upstream_host_; }
  std::chrono::system_clock::time_point startTime() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(kStartEpochSeconds));
  }
  int64_t elapsedMs() const override { return elapsed_ms_; }
  void respond(int status, absl::string_view body, absl::string_view content_type) override {
    responses.push_back({status, std::string(body), std::string(content_type)});
  }
  void fail(ErrorInfo error) override { failures.push_back(std::move(error)); }
  void resume() override { resumes++; }
  void runAfter(std::chrono::milliseconds delay, std::function<void()> fn) override {
    timers.push_back({delay, std::move(fn)});
  }
  const ErrorInfo* error() const override { return error_ ? &*error_ : nullptr; }

  void setError(ErrorInfo e) { error_ = std::move(e); }
  void setUpstreamHost(std::string h) { upstream_host_ = std::move(h); }
  void setElapsedMs(int64_t ms) { elapsed_ms_ = ms; }

  // Nothing was asked of the context (no respond / fail / resume / timer).
  bool untouched() const {
    return responses.empty() && failures.empty() && resumes == 0 && timers.empty();
  }

  std::vector<Response> responses;
  std::vector<ErrorInfo> failures;
  int resumes = 0;
  std::vector<Timer> timers;

private:
  std::unique_ptr<router::RouteTable> table_;
  const router::RouteEntry* route_ = nullptr;
  http::RequestHead request_;
  http::ResponseHead response_;
  std::string request_id_ = "req-0123456789abcdef";
  std::string client_address_ = "192.0.2.7";
  std::string upstream_host_;
  int64_t elapsed_ms_ = 37;
  std::optional<ErrorInfo> error_;
};

} // namespace gw::filters::test
