#pragma once

// The filter API: what a filter implements (Filter, FilterConfig, FilterFactory) and what it sees
// of a request (RequestContext, RequestHandle, Upstream, WorkerContext). docs/writing-a-filter.md
// walks through a complete filter.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "source/filters/error.h"
#include "source/filters/filter_state.h"
#include "source/filters/http_client.h"
#include "source/filters/proxy_policy.h"
#include "source/filters/worker_context.h"
#include "source/http/message.h"

namespace gw::router {
class RouteEntry;
}

namespace gw::policy {
class ApiKeyStore;
class JwtProvider;
class RateLimiter;
} // namespace gw::policy

namespace gw::filters {

// How a filter steers its stage, returned by every hook.
enum class FilterStatus {
  // Go on with the next filter.
  Continue,
  // Stop: the filter has called respond() or fail() (on the context or its handle).
  StopAndRespond,
  // Async work is in flight. The filter later calls resume(), respond() or fail() through its
  // RequestHandle, on the same loop; until then nothing moves on for this direction.
  Pause,
};

// What a filter does with the bodies of one direction, declared by its config.
struct BodyPolicy {
  enum class Mode : uint8_t {
    // The default. The body streams from one socket to the other without being copied; no body
    // hook runs. A route whose filters all leave both bodies untouched keeps the zero-copy path.
    Untouched,
    // Each piece of the body passes through the body hook as it arrives (end_of_stream on the
    // last). Length-changing edits are fine: the body is re-framed chunked.
    Stream,
    // The whole body is collected, up to max_bytes, and the hook sees it once (end_of_stream
    // true). Over the limit: a request gets 413 payload_too_large, a response 502
    // response_too_large; nothing half-sent reaches the other side.
    Buffer,
  };
  Mode mode = Mode::Untouched;
  uint64_t max_bytes = 0;  // Buffer only

  static BodyPolicy untouched() { return {}; }
  static BodyPolicy stream() { return {Mode::Stream, 0}; }
  static BodyPolicy buffer(uint64_t max_bytes) { return {Mode::Buffer, max_bytes}; }
};

class RequestContext;

// What feeds a response a filter streams itself (RequestContext::respondStreaming): the stream
// tells it to pause while the client's write queue is over its high watermark and to resume under
// the low one, as it does with an upstream. Called on the request's loop; resumeBody() may come
// from inside the stream's own write path, so a source that writes on resume posts that first.
class ResponseBodySource {
public:
  virtual ~ResponseBodySource() = default;
  virtual void pauseBody() = 0;
  virtual void resumeBody() = 0;
};

namespace detail {
// What a RequestHandle points at: the stream while it lives, nullptr once the request ended.
struct HandleAnchor {
  RequestContext* ctx = nullptr;
};
} // namespace detail

// A weak, copyable reference to a request, for async completions. Every operation is a safe
// no-op once the request has ended (finished, client gone, timed out, drained). Loop thread only:
// work done on another thread comes back through WorkerContext::post first.
class RequestHandle {
public:
  RequestHandle() = default;
  explicit RequestHandle(std::shared_ptr<detail::HandleAnchor> a) : anchor_(std::move(a)) {}
  bool alive() const { return anchor_ != nullptr && anchor_->ctx != nullptr; }
  // The request, or nullptr once it has ended.
  RequestContext* context() const { return anchor_ == nullptr ? nullptr : anchor_->ctx; }
  inline void resume() const;
  inline void respond(http::ResponseHead head, std::string body) const;
  inline void fail(ErrorInfo error) const;

private:
  std::shared_ptr<detail::HandleAnchor> anchor_;
};

// The route step's ways to answer (given to FilterConfig's route filter in onRoute):
// - proxyTo(cluster): today's proxy path. The request (its body streamed, or the buffered body)
//   goes to the cluster; the response comes back through the response hooks.
// - send(cluster, request, cb): a sub-request whose response the route filter composes into the
//   answer itself (aggregation, function invocation, fallback), then respond()s. Sub-requests
//   still in flight when the request ends are cancelled by the stream.
class Upstream {
public:
  virtual ~Upstream() = default;
  virtual void proxyTo(absl::string_view cluster) { proxyTo(cluster, nullptr); }
  // With the route's retries, breaker and fallback (the router filter's ProxyPolicy, which the
  // route's config keeps alive for the request).
  virtual void proxyTo(absl::string_view cluster, const ProxyPolicy* policy) = 0;
  virtual uint64_t send(absl::string_view cluster, HttpRequest request, HttpCallback cb) = 0;
  virtual void cancel(uint64_t id) = 0;
};

// What a filter sees of one request. Implemented by the connection manager's stream.
class RequestContext {
public:
  virtual ~RequestContext() = default;
  virtual http::RequestHead& request() = 0;
  // The response head: valid in the response and error stages.
  virtual http::ResponseHead& response() = 0;
  virtual const router::RouteEntry* route() const = 0;
  virtual absl::string_view requestId() const = 0;
  virtual const std::string& clientAddress() const = 0;   // IP only
  virtual const std::string& upstreamHost() const = 0;    // "" until picked
  virtual std::chrono::system_clock::time_point startTime() const = 0;
  // Milliseconds since the request started.
  virtual int64_t elapsedMs() const = 0;
  // Typed per-request state shared by every filter of the request (filter_state.h).
  virtual FilterState& filterState() = 0;
  virtual WorkerContext& worker() = 0;
  // A weak handle for async completions.
  virtual RequestHandle handle() = 0;
  // The whole request body when the request direction is buffered (some filter's policy is
  // Buffer), after the body hooks ran; empty otherwise.
  virtual std::string& requestBody() = 0;

  // Ends the chain with a gateway-made response: a full head and a body. The response stage runs
  // on it as on a proxied response (the post filters and the pre filters that see responses);
  // Content-Length is set from the body. A no-op once a response has started or the request ended.
  virtual void respond(http::ResponseHead head, std::string body) = 0;
  // Shorthand: `status` with Content-Type `content_type` and `body`.
  void respond(int status, absl::string_view body, absl::string_view content_type) {
    http::ResponseHead head;
    head.status = status;
    head.headers.add("content-type", content_type);
    respond(std::move(head), std::string(body));
  }
  // Ends the chain with a gateway-made response whose body follows in pieces through
  // respondBody() (the cache streams a coalesced leader's response to its waiters). The response
  // stage runs on it as on a proxied response: the head hooks, then the body hooks per piece;
  // it is framed like a proxied body (chunked unless the head has Content-Length). `source`
  // (nullable) gets the client's backpressure until the request ends. A no-op once a response
  // has started or the request ended.
  virtual void respondStreaming(http::ResponseHead head, ResponseBodySource* source) = 0;
  // The next piece of a respondStreaming() body; end_of_stream completes the response.
  virtual void respondBody(absl::string_view piece, bool end_of_stream) = 0;
  // A respondStreaming() body that cannot complete: the client's connection is closed once the
  // head went out (a truncated body is never presented as complete), else the request fails
  // with 502 upstream_reset.
  virtual void abortResponse() = 0;
  // Ends the chain with an error: runs the error stage, then sends the JSON error body.
  virtual void fail(ErrorInfo error) = 0;
  // Resumes a stage paused by FilterStatus::Pause.
  virtual void resume() = 0;
  // The current error (error stage only).
  virtual const ErrorInfo* error() const = 0;

  // Runs `fn` on this request's loop after `delay`, unless the request has ended by then. The
  // timer belongs to the request: it is cancelled when the request ends.
  virtual void runAfter(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
};

inline void RequestHandle::resume() const {
  if (RequestContext* c = context()) {
    c->resume();
  }
}
inline void RequestHandle::respond(http::ResponseHead head, std::string body) const {
  if (RequestContext* c = context()) {
    c->respond(std::move(head), std::move(body));
  }
}
inline void RequestHandle::fail(ErrorInfo error) const {
  if (RequestContext* c = context()) {
    c->fail(std::move(error));
  }
}

// One filter's work on one request. Every hook has a no-op default; a filter overrides the hooks
// of the stages it is used in.
//
// Which hooks run:
// - a filter in `pre_filters`: the request hooks, in declaration order. When its config's
//   seesResponse() is true, the same instance then also gets the response hooks (before the post
//   filters, in reverse declaration order) and onError: a cache keeps its key from lookup to
//   store, a CORS filter answers preflights and decorates responses.
// - the route filter: onRoute, and the response hooks when seesResponse().
// - a filter in `post_filters`: the response hooks, in declaration order, on proxied and local
//   responses alike.
// - a filter in `error_filters`: onError, after the pre filters that see responses.
// - every per-request instance (those not shared()): onDestroy, exactly once, when the request
//   ends for any reason, so that it can cancel what it has in flight.
// Body hooks run only for the directions the filter's config asks for (BodyPolicy).
class Filter {
public:
  virtual ~Filter() = default;
  virtual FilterStatus onRequestHeaders(RequestContext&) { return FilterStatus::Continue; }
  // `body`: the piece (Stream) or the whole body (Buffer), editable in place.
  virtual FilterStatus onRequestBody(RequestContext&, std::string& /*body*/,
                                     bool /*end_of_stream*/) {
    return FilterStatus::Continue;
  }
  virtual FilterStatus onRequestTrailers(RequestContext&, HeaderMap&) {
    return FilterStatus::Continue;
  }
  // Route filters only: answer the request through `upstream` (proxyTo or sub-requests) or with
  // respond()/fail(). `upstream` stays valid for the life of the request.
  virtual FilterStatus onRoute(RequestContext&, Upstream&) { return FilterStatus::Continue; }
  virtual FilterStatus onResponseHeaders(RequestContext&) { return FilterStatus::Continue; }
  virtual FilterStatus onResponseBody(RequestContext&, std::string& /*body*/,
                                      bool /*end_of_stream*/) {
    return FilterStatus::Continue;
  }
  virtual FilterStatus onResponseTrailers(RequestContext&, HeaderMap&) {
    return FilterStatus::Continue;
  }
  // ctx.error() is set; the filter may edit response() headers or respond() instead (a response
  // made here is sent as it is: the post filters do not run on it).
  virtual FilterStatus onError(RequestContext&) { return FilterStatus::Continue; }
  virtual void onDestroy(RequestContext&) {}
};
using FilterPtr = std::unique_ptr<Filter>;

// What `explain` knows of a request when it asks a filter what it would do: the head as the
// gateway would see it, and the filter state earlier filters' explain() left (jwt_auth records
// the identity it would establish, so that later filters can use it).
struct ExplainContext {
  http::RequestHead& head;
  FilterState& state;
};

// For `explain`: where a route filter sends a request when its config alone decides it.
struct StaticRoute {
  enum class Kind { Proxy, DirectResponse };
  Kind kind = Kind::Proxy;
  std::string cluster;  // Proxy
  const ProxyPolicy* policy = nullptr;  // Proxy: retries, breaker, fallback
  int status = 200;     // DirectResponse
};

// A filter's parsed, validated, immutable config. Shared by all workers.
class FilterConfig {
public:
  virtual ~FilterConfig() = default;
  // Filters that keep no per-request state return one instance shared by every request on every
  // worker (its methods must then be thread-safe: read-only on the config); the data path makes
  // nothing per request for them and never calls their onDestroy. Others return nullptr and
  // create().
  virtual Filter* shared() const { return nullptr; }
  // A new per-request instance.
  virtual FilterPtr create() const { return nullptr; }
  // The filter's body needs, per direction (default: untouched, the zero-copy path).
  virtual BodyPolicy requestBody() const { return {}; }
  virtual BodyPolicy responseBody() const { return {}; }
  // A pre (or route) filter whose instance also gets the response hooks and onError.
  virtual bool seesResponse() const { return false; }
  // Route filters: the static decision, for explain (nullptr when it depends on the request).
  virtual const StaticRoute* staticRoute() const { return nullptr; }
  // For `explain`: what this filter would do to the request, decided from its config alone
  // (nothing runs, nothing is sent), e.g. "proxy to cluster 'users'" or "set x-a: %REQUEST_ID%".
  virtual std::string explain(ExplainContext& ctx) const;
};
using FilterConfigConstSharedPtr = std::shared_ptr<const FilterConfig>;

// What filter configs may reference: built once per config (config::buildValidationContext).
// Policy objects are compiled, immutable (their rate-limit buckets are atomics) and shared by
// every filter that names them. A name whose resource is invalid maps to nullptr (its errors are
// reported at the resource).
struct ValidationContext {
  absl::flat_hash_set<std::string> cluster_names;
  absl::flat_hash_set<std::string> redis_server_names;
  absl::flat_hash_map<std::string, std::shared_ptr<const policy::JwtProvider>> auth_providers;
  absl::flat_hash_map<std::string, std::shared_ptr<const policy::RateLimiter>> rate_limit_policies;
  // The config's api_keys and usage_plans (nullptr when they are invalid).
  std::shared_ptr<const policy::ApiKeyStore> api_keys;
  // While a route's filters compile: the route's name, or its path in the config when it has
  // none ("listeners[0].routes[2]"). Names per-route state such as the router's own breaker.
  std::string route_name;
};

// A named resource a filter config refers to (`field` of its config), from one of the maps of
// ValidationContext. `kind` names it in errors ("auth provider"), `article` goes before it ("an").
// Errors: "<field>: required (...)", "<field>: unknown <kind> 'x'", "<field>: <kind> 'x' is
// invalid" (the resource itself failed validation; its own error has the details).
template <class T>
absl::StatusOr<std::shared_ptr<const T>>
findNamedResource(const absl::flat_hash_map<std::string, std::shared_ptr<const T>>& resources,
                  const std::string& name, absl::string_view field, absl::string_view kind,
                  absl::string_view article) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": required (the name of ", article, " ", kind, ")"));
  }
  auto it = resources.find(name);
  if (it == resources.end()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": unknown ", kind, " '", name, "'"));
  }
  if (it->second == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", kind, " '", name, "' is invalid"));
  }
  return it->second;
}

enum class FilterKind { Stage, Route };

// Registered by name; parses a filter's Struct config into its typed proto once.
class FilterFactory {
public:
  virtual ~FilterFactory() = default;
  virtual absl::string_view name() const = 0;
  virtual FilterKind kind() const = 0;
  // The filter's config message (what its `config` Struct is parsed into): for the config
  // reference, which documents every registered filter's message (test/config/reference_test).
  virtual const google::protobuf::Descriptor* configDescriptor() const = 0;
  // Errors are InvalidArgument with a message starting with the config field path relative to
  // the filter config, e.g. "cluster: unknown cluster 'x'" or "status: must be 100..599".
  virtual absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const = 0;
};

class FilterRegistry {
public:
  static void add(std::unique_ptr<FilterFactory> factory);
  static const FilterFactory* get(absl::string_view name);
  static std::vector<std::string> names();
};

// Static registration, one line in the filter's .cc: `const Register<MyFactory> kRegister;`
// (its cc_library is made by gw_filter() in source/filters/filter.bzl, which sets alwayslink).
template <class T> struct Register {
  Register() { FilterRegistry::add(std::make_unique<T>()); }
};

// Helper for factories: Struct -> typed message (unknown fields rejected), errors worded as the
// protobuf JSON mapping words them.
absl::Status structToMessage(const google::protobuf::Struct& s, google::protobuf::Message* out);

} // namespace gw::filters
