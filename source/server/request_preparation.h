#pragma once

// Everything the gateway decides about a request head before any filter runs: the routing host
// (Host, or the authority of an absolute-form target), the checks that refuse a request
// (Host count and syntax, CONNECT, path normalization, header names with underscores, a
// Content-Length over the body limit) and the route. The stream and `explain` both call it, so
// explain reports exactly what a request would meet.

#include <cstdint>
#include <optional>
#include <string>

#include "source/filters/error.h"
#include "source/http/message.h"
#include "source/router/route_table.h"
#include "source/server/runtime_config.h"

namespace gw::server {

struct PreparedRequest {
  bool ok = false;
  std::optional<filters::ErrorInfo> error;  // when !ok (nothing to build on the common path)
  bool close_connection = false;    // the refusal also closes the connection
  const router::RouteEntry* route = nullptr;
  uint64_t max_body = 0;            // request body limit (0 = none)
};

// The last Host value a connection sent and its routing form: a keep-alive connection almost
// always sends the same one, which then costs one comparison instead of a validation pass.
struct HostMemo {
  std::string raw;
  std::string routing;
};

// The request's framing, as the codec read it.
struct RequestFraming {
  bool has_content_length = false;
  uint64_t content_length = 0;
};

// Prepares `head` (as the codec produced it) for `listener`: sets head.host, head.path and
// head.query; for an absolute-form target replaces the Host header with the target's authority
// (RFC 9112 3.2.2), so routing and the upstream agree; drops or refuses header names with '_'
// per the listener. `trace` (explain) receives the router's reasoning and what was rewritten.
// `memo` (the connection's) remembers the last Host checked.
PreparedRequest prepareRequest(const ListenerConfig& listener, http::RequestHead& head,
                               const RequestFraming& framing,
                               router::MatchTrace* trace = nullptr, HostMemo* memo = nullptr);

// The routing form of a Host value: lower-cased, port removed ("[v6]" kept with brackets), one
// trailing dot removed ("a.example." and "a.example" are the same name). False when the value is
// not a valid host (RFC 3986 reg-name or IP literal, optional port).
bool routingHost(absl::string_view host_header, std::string& out);

} // namespace gw::server
