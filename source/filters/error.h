#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace gw::filters {

// Where an error came from (Pingora's habit). Drives decisions: only Upstream errors that are
// also retryable may be retried on another connection (the stream's reused-connection retry
// today, the route retry policy later), and the access log records it as `error_source`.
enum class ErrorSource : uint8_t { Downstream, Upstream, Internal, Filter };

// Every error the data path produces, by kind. Each kind maps to one status, one default code
// and one source in exactly one place: kErrorTable in error.cc. A filter picks the kind that says
// what happened (Unauthenticated, RateLimited, ...) and may give its own code ("jwt_expired").
enum class ErrorKind : uint8_t {
  BadRequest,             // 400 bad_request: malformed request (codec, Host, headers)
  InvalidPath,            // 400 invalid_path: the path cannot be normalized safely
  Unauthenticated,        // 401 unauthenticated
  Forbidden,              // 403 forbidden
  NoRoute,                // 404 no_route
  MethodNotAllowed,       // 405 method_not_allowed
  RequestTimeout,         // 408 request_timeout: the request head or body did not arrive in time
  PayloadTooLarge,        // 413 payload_too_large: request body over a limit
  HeadersTooLarge,        // 431 headers_too_large
  RateLimited,            // 429 rate_limited
  Internal,               // 500 internal_error
  NotImplemented,         // 501 not_implemented: e.g. a transfer coding we do not support
  UpstreamConnectFailed,  // 502 upstream_connect_failed (retryable)
  UpstreamReset,          // 502 upstream_reset: closed or reset before the response (retryable)
  UpstreamProtocolError,  // 502 upstream_protocol_error: a malformed response
  ResponseTooLarge,       // 502 response_too_large: response body over a buffer limit
  NoCluster,              // 503 no_cluster: the route names a cluster that does not exist
  NoHealthyUpstream,      // 503 no_healthy_upstream (retryable)
  UpstreamOverflow,       // 503 upstream_overflow: connection limit reached (retryable)
  Unavailable,            // 503 unavailable: a dependency (Redis, an auth server) is down
  UpstreamTimeout,        // 504 upstream_timeout
  CircuitOpen,            // 503 circuit_open: the cluster's or route's breaker is open
  UpstreamTlsError,       // 503 upstream_tls_error: TLS handshake with the upstream failed
  AggregatePartFailed,    // 502 aggregate_part_failed: a required part of an aggregation failed
  FunctionError,          // 502 function_error: a function's error, invalid result or timeout
  InvalidJson,            // 400 invalid_json: a request body that must be JSON is not
  SoapFault,              // 502 soap_fault: a SOAP service answered a Fault (or a mapped 4xx)
  FilterAbort,            // filter-chosen status (fault injection); code fault_injected
};

// A typed error on the data path. Made by ErrorInfo::make (or an ErrorKind's defaults), turned
// into the one JSON error body by server::errorBody (source/server/error_response.cc).
struct ErrorInfo {
  ErrorKind kind = ErrorKind::Internal;
  int status = 500;
  std::string code;     // machine-readable, e.g. "no_route", "jwt_expired"
  std::string message;  // human-readable
  ErrorSource source = ErrorSource::Internal;
  bool retryable = false;
  // Extra response headers for the error response (lower-case names), e.g. www-authenticate or
  // retry-after. The error stage sees them in response().
  std::vector<std::pair<std::string, std::string>> headers;
  // Extra members of the JSON body's "details" object (name -> string value), e.g. the
  // permission an authz check found missing or a quota's reset time. Empty: no "details".
  std::vector<std::pair<std::string, std::string>> details;

  // status, code, source and retryable from kErrorTable. `code` replaces the kind's code when
  // not empty; `status` replaces its status when non-zero (a configured status: a rate-limit
  // policy's, a fault's abort_status, a codec error's own).
  // Cold: callers' error branches move out of their hot code (GCC lays them out apart).
  [[gnu::cold]] static ErrorInfo make(ErrorKind kind, std::string message,
                                      absl::string_view code = {}, int status = 0);
};

// The kind's defaults (kErrorTable).
struct ErrorKindInfo {
  int status;
  const char* code;
  ErrorSource source;
  bool retryable;
};
const ErrorKindInfo& errorKindInfo(ErrorKind kind);
// The kind a status maps to for errors that only carry a status (codec errors): 400 BadRequest,
// 408 RequestTimeout, 413 PayloadTooLarge, 431 HeadersTooLarge, 501 NotImplemented, else
// BadRequest for 4xx and Internal for the rest.
ErrorKind errorKindForStatus(int status);
const char* errorSourceName(ErrorSource source);
// The gRPC status code (0..16) an error becomes when the request is a gRPC call (content-type
// application/grpc*): by kind where the kind says it (NoRoute 12 UNIMPLEMENTED, NoHealthyUpstream
// and CircuitOpen 14 UNAVAILABLE, UpstreamTimeout 4 DEADLINE_EXCEEDED, ...), else by status
// (401 16, 403 7, 429 8, ...). The table is in docs/operations.md ("gRPC and HTTP/2 upstreams").
int grpcStatusFor(const ErrorInfo& error);

} // namespace gw::filters
