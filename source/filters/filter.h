#pragma once

#include <chrono>
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
#include "source/http/message.h"

namespace gw::router {
class RouteEntry;
}

namespace gw::policy {
class JwtProvider;
class RateLimiter;
} // namespace gw::policy

namespace gw::filters {

// Where an error came from (Pingora's habit): decides the log field and whether a retry may help.
enum class ErrorSource { Downstream, Upstream, Internal, Filter };

// A typed error on the data path. Mapped to the one JSON error body in exactly one place
// (ErrorResponder in source/server/).
struct ErrorInfo {
  int status = 500;
  std::string code;     // machine-readable, e.g. "no_route", "upstream_connect_failed"
  std::string message;  // human-readable
  ErrorSource source = ErrorSource::Internal;
  bool retryable = false;
  // Extra response headers for the error response (lower-case names), e.g. www-authenticate or
  // retry-after. Set before calling fail(); the error stage sees them in response().
  std::vector<std::pair<std::string, std::string>> headers;
};

// How a filter steers its stage.
enum class FilterStatus {
  // Go on with the next filter of the stage.
  Continue,
  // Stop the chain: the filter has called RequestContext::respond() or ::fail().
  StopAndRespond,
  // Async work is in flight; the filter calls RequestContext::resume() later, on the same loop.
  Pause,
};

// What a filter sees of one request. Implemented by the connection manager's stream.
class RequestContext {
public:
  virtual ~RequestContext() = default;
  virtual http::RequestHead& request() = 0;
  // The response head; valid in the post and error stages.
  virtual http::ResponseHead& response() = 0;
  virtual const router::RouteEntry* route() const = 0;
  virtual const std::string& requestId() const = 0;
  virtual const std::string& clientAddress() const = 0;   // IP only
  virtual const std::string& upstreamHost() const = 0;    // "" until picked
  virtual std::chrono::system_clock::time_point startTime() const = 0;
  // Milliseconds since the request started.
  virtual int64_t elapsedMs() const = 0;
  // Stop the chain with a gateway-made response (body copied).
  virtual void respond(int status, absl::string_view body, absl::string_view content_type) = 0;
  // Stop the chain with an error: runs the error stage, then sends the JSON error body.
  virtual void fail(ErrorInfo error) = 0;
  // Resume a chain paused by FilterStatus::Pause.
  virtual void resume() = 0;
  // Runs `fn` on this request's worker loop after `delay`, unless the request has ended by then
  // (so a paused filter never touches a dead request).
  virtual void runAfter(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  // The current error (error stage only).
  virtual const ErrorInfo* error() const = 0;
};

// What runs in a stage: FilterConfig::shared() for stateless filters, else a per-request instance
// from FilterConfig::create().
class Filter {
public:
  virtual ~Filter() = default;
  // Pre stage: request headers are available.
  virtual FilterStatus onRequest(RequestContext&) { return FilterStatus::Continue; }
  // Post stage: response headers are available (body streams past unless a filter asks for it).
  virtual FilterStatus onResponse(RequestContext&) { return FilterStatus::Continue; }
  // Error stage: ctx.error() is set; the filter may edit response() headers or respond() instead.
  virtual FilterStatus onError(RequestContext&) { return FilterStatus::Continue; }
};
using FilterPtr = std::unique_ptr<Filter>;

// What a route filter asks the stream to do. The stream owns the I/O; a route filter only decides.
struct RouteAction {
  enum class Kind { Proxy, DirectResponse };
  Kind kind = Kind::Proxy;
  std::string cluster;             // Proxy
  int status = 200;                // DirectResponse
  std::string body;                // DirectResponse
  std::string content_type;        // DirectResponse
};

// A filter's parsed, validated, immutable config. Shared by all workers.
class FilterConfig {
public:
  virtual ~FilterConfig() = default;
  // Pre/post/error filters that keep no per-request state return one instance shared by every
  // request on every worker (its methods must then be thread-safe: read-only on the config);
  // the data path makes nothing per request for them. Others return nullptr and create().
  virtual Filter* shared() const { return nullptr; }
  // Pre/post/error filters: a new per-request instance (also valid for shared ones).
  virtual FilterPtr create() const { return nullptr; }
  // Route filters: the action for this request.
  virtual const RouteAction* routeAction() const { return nullptr; }
  // For `explain`: what this filter would do to `head`, decided from its config alone (nothing
  // runs, nothing is sent), e.g. "proxy to cluster 'users'" or "set x-a: %REQUEST_ID%".
  virtual std::string explain(const http::RequestHead& head) const;
};
using FilterConfigConstSharedPtr = std::shared_ptr<const FilterConfig>;

// What filter configs may reference: built once per config (config::buildValidationContext).
// Policy objects are compiled, immutable (their rate-limit buckets are atomics) and shared by
// every filter that names them. A name whose resource is invalid maps to nullptr (its errors are
// reported at the resource).
struct ValidationContext {
  absl::flat_hash_set<std::string> cluster_names;
  absl::flat_hash_map<std::string, std::shared_ptr<const policy::JwtProvider>> auth_providers;
  absl::flat_hash_map<std::string, std::shared_ptr<const policy::RateLimiter>> rate_limit_policies;
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

// Static registration: `static gw::filters::Register<MyFactory> kRegister;` in the filter's .cc
// (its cc_library needs alwayslink = 1).
template <class T> struct Register {
  Register() { FilterRegistry::add(std::make_unique<T>()); }
};

// Helper for factories: Struct -> typed message via the JSON mapping (unknown fields rejected).
absl::Status structToMessage(const google::protobuf::Struct& s, google::protobuf::Message* out);

} // namespace gw::filters
