#include "source/http2/header_validation.h"

#include "source/common/header_map.h"

namespace gw::http2 {
namespace {

bool isConnectionSpecific(absl::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "upgrade";
}

// RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool validScheme(absl::string_view v) {
  for (size_t i = 0; i < v.size(); i++) {
    const char c = v[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))) {
      return false;
    }
  }
  return !v.empty();
}

} // namespace

const char* checkRequestField(absl::string_view name, absl::string_view value, Block block,
                              PseudoSeen& seen) {
  if (name.empty()) {
    return "empty field name";
  }
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      return "control character in a field value";
    }
  }
  if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                         value.back() == '\t')) {
    return "whitespace around a field value";
  }
  if (name.front() == ':') {
    if (block == Block::Trailers) {
      return "pseudo-header in trailers";
    }
    if (seen.regular) {
      return "pseudo-header after a regular field";
    }
    uint8_t bit = 0;
    if (name == ":method") {
      bit = PseudoSeen::kMethod;
    } else if (name == ":scheme") {
      bit = PseudoSeen::kScheme;
    } else if (name == ":path") {
      bit = PseudoSeen::kPath;
    } else if (name == ":authority") {
      bit = PseudoSeen::kAuthority;
    } else {
      return "unknown pseudo-header";
    }
    if ((seen.bits & bit) != 0) {
      return "duplicated pseudo-header";
    }
    seen.bits |= bit;
    if (value.empty() && bit != PseudoSeen::kAuthority) {
      return "empty pseudo-header value";
    }
    if (bit == PseudoSeen::kScheme && !validScheme(value)) {
      return "invalid :scheme";
    }
    return nullptr;
  }
  seen.regular = true;
  for (unsigned char c : name) {
    if (c >= 'A' && c <= 'Z') {
      return "upper-case field name";
    }
    if (!isTokenChar(c)) {
      return "invalid character in a field name";
    }
  }
  if (isConnectionSpecific(name)) {
    return "connection-specific header field";
  }
  if (name == "te" && value != "trailers") {
    return "te other than trailers";
  }
  return nullptr;
}

const char* checkRequestPseudo(const PseudoSeen& seen, absl::string_view method,
                               absl::string_view path) {
  if ((seen.bits & PseudoSeen::kMethod) == 0) {
    return "missing :method";
  }
  if (method == "CONNECT") {
    return "CONNECT is not supported";
  }
  if ((seen.bits & PseudoSeen::kScheme) == 0) {
    return "missing :scheme";
  }
  if ((seen.bits & PseudoSeen::kPath) == 0 || path.empty()) {
    return "missing :path";
  }
  for (unsigned char c : method) {
    if (!isTokenChar(c)) {
      return "invalid :method";
    }
  }
  if (path.front() != '/' && !(path == "*" && method == "OPTIONS")) {
    return "invalid :path";
  }
  return nullptr;
}

bool parseContentLength(absl::string_view v, uint64_t& out) {
  if (v.empty() || v.size() > 19) {
    return false;
  }
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') {
      return false;
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  out = n;
  return true;
}

} // namespace gw::http2
