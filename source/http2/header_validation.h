#pragma once

// The request checks of RFC 9113 8.2-8.3 that make an HTTP/2 request malformed, as pure
// functions (unit-tested without a session: test/http2/header_validation_test.cc). They are the
// only ones: the server session turns nghttp2's own HTTP messaging checks off (they did the same
// work a second time on every field), so what reaches an HTTP/1.1 upstream (the h2 -> HTTP/1.1
// downgrade smuggling class) depends on these and on the session's framing checks alone.

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gw::http2 {

// Where a field is in a request: its header block, or the trailer block after the body.
enum class Block : uint8_t { Headers, Trailers };

// The pseudo-header fields of a request seen so far (bit set), for order and duplicate checks.
struct PseudoSeen {
  uint8_t bits = 0;      // kMethod | kScheme | kPath | kAuthority
  bool regular = false;  // a regular field was seen: no pseudo-header may follow
  static constexpr uint8_t kMethod = 1, kScheme = 2, kPath = 4, kAuthority = 8;
};

// Why a field makes the request malformed; nullptr when it is acceptable. Checks: name
// non-empty, lower-case token characters (or a known pseudo-header); value without control
// characters other than HTAB (NUL, CR and LF among them) and without leading or trailing
// whitespace; connection-specific fields (connection, keep-alive, proxy-connection,
// transfer-encoding, upgrade); te other than "trailers"; pseudo-headers unknown, duplicated,
// empty (but :authority), after a regular field, or in trailers; a :scheme that is not one
// (RFC 3986 3.1). Updates `seen`.
const char* checkRequestField(absl::string_view name, absl::string_view value, Block block,
                              PseudoSeen& seen);

// Why a complete request header block is malformed (a required pseudo-header missing, an empty
// :path, a :method that is not a token, a :path neither origin-form nor "*" for OPTIONS);
// nullptr when it is complete. CONNECT is not accepted here (the gateway refuses it).
const char* checkRequestPseudo(const PseudoSeen& seen, absl::string_view method,
                               absl::string_view path);

// Content-Length as an HTTP/2 request may carry it: digits only. False when malformed.
bool parseContentLength(absl::string_view v, uint64_t& out);

} // namespace gw::http2
