#pragma once

// What the gateway does to headers on their way through, in one place: hop-by-hop removal,
// X-Forwarded-* and Forwarded, the request id, header names with underscores. Pure functions over
// heads, unit-tested without sockets (test/server/header_policy_test.cc).

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "source/common/header_map.h"
#include "source/http/message.h"

namespace gw::server {

// Hop-by-hop fields (RFC 9110 7.6.1), names lower-case. Inline: it runs for every header of
// every request and response.
inline bool isHopByHop(absl::string_view n) {
  // Dispatches on length first: this runs for every header of every request and response.
  switch (n.size()) {
  case 2:
    return n == "te";
  case 7:
    return n == "trailer" || n == "upgrade";
  case 10:
    return n == "connection" || n == "keep-alive";
  case 17:
    return n == "transfer-encoding";
  default:
    return n.size() > 6 && n.substr(0, 6) == "proxy-";
  }
}


// Removes hop-by-hop fields: the fixed list and every field named by Connection.
void stripHopByHop(HeaderMap& headers);

// Whether a Connection header lists `token` (case-insensitive).
bool connectionHasToken(const HeaderMap& headers, absl::string_view token);

// A client-sent X-Request-ID the gateway keeps: 1-128 characters of [A-Za-z0-9-_.:].
bool validRequestId(absl::string_view id);

// What a listener does with request header names containing '_' (Listener.
// headers_with_underscores). Many upstreams (nginx, PHP, CGI) fold '_' into '-', so `X_User_Id`
// would reach them as a second `x-user-id` next to the one the gateway set.
enum class UnderscoreAction : uint8_t { Drop, Allow, Reject };
// Applies `action`; returns false when the request must be rejected (Reject and one was found).
bool applyUnderscorePolicy(HeaderMap& headers, UnderscoreAction action);

// How the request body is framed towards the upstream.
struct UpstreamFraming {
  enum class Kind : uint8_t { None, ContentLength, Chunked };
  Kind kind = Kind::None;
  uint64_t content_length = 0;
};

// The last Forwarded element a connection's requests produced, by Host: one client address per
// connection and almost always one Host, so the element is built once per connection.
struct ForwardedMemo {
  bool valid = false;
  std::string host;
  std::string element;
};

struct UpstreamHeadOptions {
  absl::string_view path;   // after the route's rewrite
  absl::string_view query;  // without '?'
  absl::string_view client_ip;
  // 0 (edge): client-sent X-Forwarded-For and Forwarded are replaced; N > 0: kept and appended to.
  uint32_t xff_trusted_hops = 0;
  UpstreamFraming framing;
  // The Host to send when the request has none (HTTP/1.0): the upstream is spoken to in HTTP/1.1,
  // which requires one. The picked endpoint's address.
  absl::string_view default_host;
  // The connection's memo (its client address is always `client_ip`); nullptr: build each time.
  ForwardedMemo* forwarded_memo = nullptr;
  // x-gateway-attempt-count: this attempt's number (1, 2, ...) for routes with a retry policy;
  // 0: not sent. A client-sent copy is always dropped.
  uint32_t attempt_count = 0;
  // The client spoke TLS to the gateway: X-Forwarded-Proto and Forwarded say https.
  bool https = false;
};

// Serializes the request head for the upstream straight from the downstream head, skipping what
// must not be forwarded (hop-by-hop fields, fields named by Connection, Expect, framing that is
// re-decided, X-Forwarded-* and Forwarded that are re-set), without copying the header list.
// Appends X-Forwarded-For/-Proto/-Host and a Forwarded element (RFC 7239: for, host, proto).
void buildUpstreamHead(const http::RequestHead& request, const UpstreamHeadOptions& options,
                       std::string& out);

// Appends the Forwarded element the gateway adds: `for=192.0.2.7;host=a.example;proto=http`
// (proto=https with `https`), with quoting where RFC 7239 needs it (IPv6 addresses, a host with a
// port).
void appendForwardedElement(absl::string_view client_ip, absl::string_view host,
                            std::string& out, bool https = false);

} // namespace gw::server
