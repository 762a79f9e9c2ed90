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

// RFC 3986 reg-name characters: unreserved, sub-delims and '%' (pct-encoded). A table: this runs
// for every byte of every request's Host.
struct RegNameTable {
  bool ok[256] = {};
  constexpr RegNameTable() {
    for (int c = '0'; c <= '9'; c++) ok[c] = true;
    for (int c = 'a'; c <= 'z'; c++) ok[c] = true;
    for (int c = 'A'; c <= 'Z'; c++) ok[c] = true;
    for (const char* p = "-._~!$&'()*+,;=%"; *p; p++) ok[static_cast<unsigned char>(*p)] = true;
  }
};
constexpr RegNameTable kRegName;

[[gnu::cold]] PreparedRequest refuse(ErrorInfo e, bool close) {
  PreparedRequest p;
  p.error.emplace(std::move(e));
  p.close_connection = close;
  return p;
}

// The authority of an absolute-form target ("http://h:1/p" -> "h:1"); empty for other forms.
// False for an authority the gateway will not route on (empty, or with userinfo).
bool absoluteFormAuthority(absl::string_view target, absl::string_view& authority) {
  http::AbsoluteForm parts;
  if (!http::splitAbsoluteForm(target, parts)) {
    authority = {};
    return true;
  }
  authority = parts.authority;
  return !authority.empty() && authority.find('@') == absl::string_view::npos;
}

} // namespace

bool routingHost(absl::string_view value, std::string& out) {
  out.clear();
  if (value.empty()) {
    return true;  // Host present but empty (RFC 9110 7.2 allows it for authority-less URIs)
  }
  absl::string_view name;
  absl::string_view port;
  bool upper = false;
  if (value.front() == '[') {
    const size_t close = value.find(']');
    if (close == absl::string_view::npos) {
      return false;
    }
    for (unsigned char c : value.substr(1, close - 1)) {
      if (!(absl::ascii_isxdigit(c) || c == ':' || c == '.')) {
        return false;
      }
      upper = upper || absl::ascii_isupper(c);
    }
    name = value.substr(0, close + 1);
    absl::string_view after = value.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return false;
      }
      port = after.substr(1);
    }
    for (unsigned char c : port) {
      if (!absl::ascii_isdigit(c)) {
        return false;
      }
    }
  } else {
    // One pass: reg-name characters, no empty label inside, then at most one ':' and digits.
    size_t colon = absl::string_view::npos;
    for (size_t i = 0; i < value.size(); i++) {
      const unsigned char c = static_cast<unsigned char>(value[i]);
      if (colon != absl::string_view::npos) {
        if (!absl::ascii_isdigit(c)) {
          return false;
        }
      } else if (c == ':') {
        colon = i;
      } else if (!kRegName.ok[c] || (c == '.' && i > 0 && value[i - 1] == '.')) {
        return false;
      } else {
        upper = upper || absl::ascii_isupper(c);
      }
    }
    name = value.substr(0, colon);
    if (colon != absl::string_view::npos) {
      port = value.substr(colon + 1);
    }
    // One trailing dot is the fully-qualified spelling of the same name; an empty label (a
    // leading dot, or more than one trailing dot) is not a name.
    if (!name.empty() && name.back() == '.') {
      name.remove_suffix(1);
    }
    if (name.empty() || name.front() == '.' || name.back() == '.') {
      return false;
    }
  }
  if (port.size() > 5) {
    return false;
  }
  out.assign(name.data(), name.size());
  if (upper) {
    absl::AsciiStrToLower(&out);
  }
  return true;
}

PreparedRequest prepareRequest(const ListenerConfig& listener, http::RequestHead& head,
                               const RequestFraming& framing, router::MatchTrace* trace,
                               HostMemo* memo) {
  // Host: exactly one for HTTP/1.1 (RFC 9112 3.2); HTTP/1.0 may omit it. The parser counted.
  const size_t hosts = head.parsed ? head.host_count : head.headers.count("host");
  if (hosts > 1 || (hosts == 0 && head.version_minor == 1)) {
    return refuse(ErrorInfo::make(ErrorKind::BadRequest, hosts > 1 ? "more than one Host header"
                                                                   : "missing Host header"),
                  true);
  }
  absl::string_view authority;
  if (!head.target.empty() && head.target.front() != '/' &&
      !absoluteFormAuthority(head.target, authority)) {
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
  if (const std::string* h = hosts == 0 && authority.empty() ? nullptr
                                                               : head.headers.get("host")) {
    if (memo != nullptr && *h == memo->raw) {
      head.host = memo->routing;
    } else if (!routingHost(*h, head.host)) {
      return refuse(ErrorInfo::make(ErrorKind::BadRequest, "invalid Host header"), true);
    } else if (memo != nullptr) {
      memo->raw = *h;
      memo->routing = head.host;
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
  if ((!head.parsed || head.underscore_name) &&
      !applyUnderscorePolicy(head.headers, listener.headers_with_underscores)) {
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
