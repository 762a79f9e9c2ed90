#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "source/filters/error.h"
#include "source/http/message.h"

namespace gw::filters {

// A request a filter sends to a cluster of its own (a sub-request): an introspection call, a
// JWKS fetch, one leg of an aggregation, a function invocation.
struct HttpRequest {
  std::string method = "GET";
  std::string path = "/";      // with the query, as sent: "/v1/keys?x=1"
  std::string authority;       // the Host header; empty: the picked endpoint's address
  HeaderMap headers;           // lower-case names; framing and hop-by-hop fields are the client's
  std::string body;            // sent with Content-Length when not empty (or when POST/PUT/PATCH)
  std::chrono::milliseconds timeout{5000};  // connect + response, whole call
  uint64_t max_response_bytes = 1 << 20;    // a larger body fails the call (response_too_large)
};

struct HttpResponse {
  http::ResponseHead head;
  std::string body;
  std::string upstream_host;  // the endpoint that answered
};

// A call's outcome: a response (any status), or a typed error: UpstreamConnectFailed,
// UpstreamReset, UpstreamProtocolError, NoCluster, NoHealthyUpstream, UpstreamOverflow,
// UpstreamTimeout (the call's timeout), ResponseTooLarge. A filter can hand the error on as it is
// (ctx.fail(std::move(result.error))).
struct HttpResult {
  bool ok() const { return !failed; }
  bool failed = false;
  ErrorInfo error;        // when failed
  HttpResponse response;  // when ok
};
using HttpCallback = std::function<void(HttpResult&&)>;

// The worker's HTTP client: calls go to a named cluster of the running config through the
// worker's own balancer and connection pools (the same ones proxied requests use). One per
// worker; loop thread only.
class HttpClient {
public:
  virtual ~HttpClient() = default;
  // Starts a call. The callback runs exactly once, later, on the loop thread (never inside
  // send(), even for an immediate error), unless the call is cancelled first. Returns the call's
  // id (never 0).
  virtual uint64_t send(absl::string_view cluster, HttpRequest request, HttpCallback cb) = 0;
  // The callback will never run and the call's connection is closed. Unknown or finished ids
  // are ignored.
  virtual void cancel(uint64_t id) = 0;
  // Calls started and neither finished nor cancelled.
  virtual size_t inFlight() const = 0;
};

} // namespace gw::filters
