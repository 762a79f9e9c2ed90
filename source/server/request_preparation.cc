#include "source/server/request_preparation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/http/path.h"
#include "source/server/header_policy.h"

namespace gw::server {
namespace {

using filters::ErrorInfo;
using filters::ErrorKind;

// RFC 3986 reg-name characters: unreserved, sub-delims and '%' (pct-encoded).
bool isRegNameChar(unsigned char c) {
  if (absl::ascii_isalnum(c)) {
    return true;
  }
  switch (c) {
  case '-': case '.': case '_': case '~': case '!': case '$': case '&': case '\'': case '(':
  case ')': case '*': case '+': case ',': case ';': case '=': case '%':
    return true;
  default:
    return false;
  }
}

PreparedRequest refuse(ErrorInfo e, bool close) {
  PreparedRequest p;
  p.error = std::move(e);
  p.close_connection = close;
  return p;
}

// The authority of an absolute-form target ("http://h:1/p" -> "h:1"); empty for other forms.
// False for an authority the gateway will not route on (empty, or with userinfo).
bool absoluteFormAuthority(absl::string_view target, absl::string_view& authority) {
  absl::string_view rest;
  if (absl::StartsWithIgnoreCase(target, "http://")) {
    rest = target.substr(7);
  } else if (absl::StartsWithIgnoreCase(target, "https://")) {
    rest = target.substr(8);
  } else {
    authority = {};
    return true;
  }
  authority = rest.substr(0, rest.find_first_of("/?#"));
  return !authority.empty() && authority.find('@') == absl::string_view::npos;
}

} // namespace

bool routingHost(absl::string_view value, std::string& out) {
  out.clear();
  if (value.empty()) {
    return true;  // Host present but empty (RFC 9110 7.2 allows it for authority-less URIs)
  }
  absl::string_view name = value;
  absl::string_view port;
  if (value.front() == '[') {
    const size_t close = value.find(']');
    if (close == absl::string_view::npos) {
      return false;
    }
    for (unsigned char c : value.substr(1, close - 1)) {
      if (!(absl::ascii_isxdigit(c) || c == ':' || c == '.')) {
        return false;
      }
    }
    name = value.substr(0, close + 1);
    absl::string_view after = value.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return false;
      }
      port = after.substr(1);
    }
  } else if (const size_t colon = value.rfind(':'); colon != absl::string_view::npos) {
    name = value.substr(0, colon);
    port = value.substr(colon + 1);
    for (unsigned char c : name) {
      if (!isRegNameChar(c)) {
        return false;
      }
    }
  } else {
    for (unsigned char c : name) {
      if (!isRegNameChar(c)) {
        return false;
      }
    }
  }
  if (port.size() > 5) {
    return false;
  }
  for (unsigned char c : port) {
    if (!absl::ascii_isdigit(c)) {
      return false;
    }
  }
  // One trailing dot is the fully-qualified spelling of the same name; an empty label (a
  // leading dot, two dots in a row, or more than one trailing dot) is not a name.
  if (!name.empty() && name.front() != '[') {
    if (name.back() == '.') {
      name.remove_suffix(1);
    }
    if (name.empty() || name.front() == '.' || name.back() == '.' ||
        name.find("..") != absl::string_view::npos) {
      return false;
    }
  }
  out.assign(name.data(), name.size());
  absl::AsciiStrToLower(&out);
  return true;
}

PreparedRequest prepareRequest(const ListenerConfig& listener, http::RequestHead& head,
                               const RequestFraming& framing, router::MatchTrace* trace) {
  // Host: exactly one for HTTP/1.1 (RFC 9112 3.2); HTTP/1.0 may omit it.
  const size_t hosts = head.headers.count("host");
  if (hosts > 1 || (hosts == 0 && head.version_minor == 1)) {
    return refuse(ErrorInfo::make(ErrorKind::BadRequest, hosts > 1 ? "more than one Host header"
                                                                   : "missing Host header"),
                  true);
  }
  absl::string_view authority;
  if (!absoluteFormAuthority(head.target, authority)) {
    return refuse(ErrorInfo::make(ErrorKind::BadRequest,
                                  "absolute-form target without a usable authority"),
                  true);
  }
  if (!authority.empty()) {
    // RFC 9112 3.2.2: the target's authority decides, whatever the Host header says; the
    // upstream gets a Host that matches.
    const std::string* given = head.headers.get("host");
    if (trace != nullptr && given != nullptr && *given != authority) {
      trace->lines.push_back(absl::StrCat("Host header '", *given,
                                          "' replaced by the target's authority '", authority,
                                          "' (absolute-form)"));
    }
    head.headers.set("host", authority);
  }
  if (const std::string* h = head.headers.get("host")) {
    if (!routingHost(*h, head.host)) {
      return refuse(ErrorInfo::make(ErrorKind::BadRequest, "invalid Host header"), true);
    }
  } else {
    head.host.clear();
  }
  if (head.method == "CONNECT") {
    return refuse(ErrorInfo::make(ErrorKind::MethodNotAllowed, "CONNECT is not supported"), true);
  }
  auto normalized = http::normalizeTarget(head.target, listener.path_options);
  if (!normalized.ok()) {
    return refuse(ErrorInfo::make(ErrorKind::InvalidPath, std::string(normalized.status().message())),
                  true);
  }
  head.path = std::move(normalized->path);
  head.query = std::move(normalized->query);
  if (!applyUnderscorePolicy(head.headers, listener.headers_with_underscores)) {
    return refuse(ErrorInfo::make(ErrorKind::BadRequest,
                                  "header name with an underscore (this listener refuses them)"),
                  true);
  }

  router::MatchResult m = listener.routes->match(head, trace);
  if (m.route == nullptr) {
    return refuse(ErrorInfo::make(ErrorKind::NoRoute, absl::StrCat("no route matches ", head.method,
                                                                   " ", head.host, head.path)),
                  false);
  }
  PreparedRequest p;
  p.route = m.route;
  p.max_body = m.route->maxRequestBodyBytes() > 0 ? m.route->maxRequestBodyBytes()
                                                  : listener.max_request_body_bytes;
  if (p.max_body > 0 && framing.has_content_length && framing.content_length > p.max_body) {
    PreparedRequest r = refuse(
        ErrorInfo::make(ErrorKind::PayloadTooLarge,
                        absl::StrCat("request body of ", framing.content_length,
                                     " bytes exceeds the limit of ", p.max_body)),
        true);
    r.route = m.route;
    return r;
  }
  p.ok = true;
  return p;
}

} // namespace gw::server
