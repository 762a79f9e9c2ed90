#pragma once

#include <chrono>
#include <optional>

#include "absl/strings/string_view.h"
#include "source/common/header_map.h"

namespace gw::server {

// What the gateway does differently for a gRPC call (docs/operations.md, "gRPC and HTTP/2
// upstreams"). No I/O: the stream asks these.

// A request whose content-type is application/grpc, optionally followed by '+' or ';'
// (application/grpc+proto, application/grpc;charset=...), case-insensitive.
bool isGrpcRequest(const HeaderMap& headers);

// A grpc-timeout value (1..8 ASCII digits and one unit: H hours, M minutes, S seconds,
// m milliseconds, u microseconds, n nanoseconds) as milliseconds, rounded up (so 1n is 1 ms and
// never "no timeout"). nullopt for a malformed value, which is then ignored.
std::optional<std::chrono::milliseconds> parseGrpcTimeout(absl::string_view value);

// The deadline of a request: the smaller of the route's timeout (0: none) and the request's
// grpc-timeout (when the request is a gRPC call and the header is well-formed). 0: none.
std::chrono::milliseconds requestDeadline(std::chrono::milliseconds route_timeout,
                                          const HeaderMap& headers);

} // namespace gw::server
