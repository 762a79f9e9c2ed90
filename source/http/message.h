#pragma once

#include <cstdint>
#include <string>

#include "source/common/header_map.h"

namespace gw::http {

// A parsed request line + header block. `target` is the raw request-target as received;
// `path` and `query` are filled by normalization (path without the query, query without '?').
struct RequestHead {
  std::string method;         // upper-case token, e.g. "GET"
  std::string target;         // raw request-target
  std::string path;           // normalized path (set before routing)
  std::string query;          // raw query string without '?', may be empty
  std::string host;           // Host header (lower-cased, port stripped) or authority
  int version_minor = 1;      // HTTP/1.x minor version
  HeaderMap headers;
  // Noted by the HTTP/1 parser while it copies the names, so that request preparation need not
  // scan the headers again (`parsed` false: not known, scan).
  bool parsed = false;
  uint8_t host_count = 0;          // Host fields (saturating)
  bool underscore_name = false;    // some field name contains '_'
};

struct ResponseHead {
  int status = 200;
  std::string reason;         // may be empty; the serializer fills the standard phrase
  int version_minor = 1;
  HeaderMap headers;
};

} // namespace gw::http
