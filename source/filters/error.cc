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

} // namespace gw::filters
