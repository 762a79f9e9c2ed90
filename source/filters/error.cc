#include "source/filters/error.h"

#include <array>

namespace gw::filters {
namespace {

using S = ErrorSource;

// The one table from error kind to status, code, source and whether a retry may help. Indexed
// by ErrorKind; kErrorTableChecked below keeps it in step with the enum.
constexpr std::array<ErrorKindInfo, 28> kErrorTable = {{
    {400, "bad_request", S::Downstream, false},              // BadRequest
    {400, "invalid_path", S::Downstream, false},             // InvalidPath
    {401, "unauthenticated", S::Filter, false},              // Unauthenticated
    {403, "forbidden", S::Filter, false},                    // Forbidden
    {404, "no_route", S::Downstream, false},                 // NoRoute
    {405, "method_not_allowed", S::Downstream, false},       // MethodNotAllowed
    {408, "request_timeout", S::Downstream, false},          // RequestTimeout
    {413, "payload_too_large", S::Downstream, false},        // PayloadTooLarge
    {431, "headers_too_large", S::Downstream, false},        // HeadersTooLarge
    {429, "rate_limited", S::Filter, false},                 // RateLimited
    {500, "internal_error", S::Internal, false},             // Internal
    {501, "not_implemented", S::Downstream, false},          // NotImplemented
    {502, "upstream_connect_failed", S::Upstream, true},     // UpstreamConnectFailed
    {502, "upstream_reset", S::Upstream, true},              // UpstreamReset
    {502, "upstream_protocol_error", S::Upstream, false},    // UpstreamProtocolError
    {502, "response_too_large", S::Upstream, false},         // ResponseTooLarge
    {503, "no_cluster", S::Internal, false},                 // NoCluster
    {503, "no_healthy_upstream", S::Upstream, true},         // NoHealthyUpstream
    {503, "upstream_overflow", S::Upstream, true},           // UpstreamOverflow
    {503, "unavailable", S::Internal, true},                 // Unavailable
    {504, "upstream_timeout", S::Upstream, false},           // UpstreamTimeout
    {503, "circuit_open", S::Upstream, false},               // CircuitOpen
    {503, "upstream_tls_error", S::Upstream, false},         // UpstreamTlsError
    {502, "aggregate_part_failed", S::Upstream, false},      // AggregatePartFailed
    {502, "function_error", S::Upstream, false},             // FunctionError
    {400, "invalid_json", S::Downstream, false},             // InvalidJson
    {502, "soap_fault", S::Upstream, false},                 // SoapFault
    {503, "fault_injected", S::Filter, false},               // FilterAbort
}};
static_assert(kErrorTable.size() == static_cast<size_t>(ErrorKind::FilterAbort) + 1,
              "kErrorTable needs one row per ErrorKind, in enum order");

} // namespace

const ErrorKindInfo& errorKindInfo(ErrorKind kind) {
  return kErrorTable[static_cast<size_t>(kind)];
}

ErrorInfo ErrorInfo::make(ErrorKind kind, std::string message, absl::string_view code,
                          int status) {
  const ErrorKindInfo& k = errorKindInfo(kind);
  ErrorInfo e;
  e.kind = kind;
  e.status = status != 0 ? status : k.status;
  e.code = code.empty() ? std::string(k.code) : std::string(code);
  e.message = std::move(message);
  e.source = k.source;
  e.retryable = k.retryable;
  return e;
}

ErrorKind errorKindForStatus(int status) {
  switch (status) {
  case 400: return ErrorKind::BadRequest;
  case 408: return ErrorKind::RequestTimeout;
  case 413: return ErrorKind::PayloadTooLarge;
  case 431: return ErrorKind::HeadersTooLarge;
  case 501: return ErrorKind::NotImplemented;
  default: return status >= 400 && status < 500 ? ErrorKind::BadRequest : ErrorKind::Internal;
  }
}

const char* errorSourceName(ErrorSource source) {
  switch (source) {
  case ErrorSource::Downstream: return "downstream";
  case ErrorSource::Upstream: return "upstream";
  case ErrorSource::Internal: return "internal";
  case ErrorSource::Filter: return "filter";
  }
  return "internal";
}

namespace {

// gRPC status codes (grpc/status.h), named here so the table reads as the docs do.
enum GrpcCode : int {
  kCancelled = 1, kUnknown = 2, kInvalidArgument = 3, kDeadlineExceeded = 4,
  kPermissionDenied = 7, kResourceExhausted = 8, kUnimplemented = 12, kInternal = 13,
  kUnavailable = 14, kUnauthenticated = 16,
};

int grpcStatusForHttp(int status) {
  switch (status) {
  case 400: return kInternal;  // as gRPC's own HTTP-to-gRPC mapping
  case 401: return kUnauthenticated;
  case 403: return kPermissionDenied;
  case 404: return kUnimplemented;
  case 408: return kDeadlineExceeded;
  case 413: return kResourceExhausted;
  case 429: return kResourceExhausted;
  case 431: return kInternal;
  case 499: return kCancelled;
  case 500: return kInternal;
  case 501: return kUnimplemented;
  case 502: case 503: return kUnavailable;
  case 504: return kDeadlineExceeded;
  default: return kUnknown;
  }
}

} // namespace

int grpcStatusFor(const ErrorInfo& error) {
  switch (error.kind) {
  case ErrorKind::NoRoute:
  case ErrorKind::MethodNotAllowed:
  case ErrorKind::NotImplemented:
    return kUnimplemented;
  case ErrorKind::Unauthenticated:
    return kUnauthenticated;
  case ErrorKind::Forbidden:
    return kPermissionDenied;
  case ErrorKind::RateLimited:
  case ErrorKind::PayloadTooLarge:
  case ErrorKind::ResponseTooLarge:
    return kResourceExhausted;
  case ErrorKind::RequestTimeout:
  case ErrorKind::UpstreamTimeout:
    return kDeadlineExceeded;
  case ErrorKind::UpstreamConnectFailed:
  case ErrorKind::UpstreamReset:
  case ErrorKind::NoCluster:
  case ErrorKind::NoHealthyUpstream:
  case ErrorKind::UpstreamOverflow:
  case ErrorKind::Unavailable:
  case ErrorKind::CircuitOpen:
  case ErrorKind::UpstreamTlsError:
    return kUnavailable;
  case ErrorKind::BadRequest:
  case ErrorKind::InvalidPath:
  case ErrorKind::HeadersTooLarge:
  case ErrorKind::UpstreamProtocolError:
  case ErrorKind::Internal:
    return kInternal;
  case ErrorKind::InvalidJson:
    return kInvalidArgument;
  case ErrorKind::AggregatePartFailed:
  case ErrorKind::FunctionError:
  case ErrorKind::SoapFault:
    return kUnknown;
  case ErrorKind::FilterAbort:
    break;  // a configured status: by the status
  }
  return grpcStatusForHttp(error.status);
}

} // namespace gw::filters
