#include "source/server/header_policy.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/http/http1_codec.h"

namespace gw::server {

namespace {

// The field names listed by Connection headers (as written; compared case-insensitively).
// Usually empty: most requests and responses carry no Connection header or only keep-alive/close.
using NamedFields = absl::InlinedVector<absl::string_view, 4>;
NamedFields connectionNamed(const HeaderMap& headers) {
  NamedFields named;
  for (const auto& [name, value] : headers.entries()) {
    if (name.size() == 10 && name == "connection") {
      for (absl::string_view tok : absl::StrSplit(value, ',')) {
        tok = absl::StripAsciiWhitespace(tok);
        if (!tok.empty()) {
          named.push_back(tok);
        }
      }
    }
  }
  return named;
}

bool isNamed(const NamedFields& named, absl::string_view name) {
  for (absl::string_view n : named) {
    if (absl::EqualsIgnoreCase(n, name)) {
      return true;
    }
  }
  return false;
}

// RFC 7239 `node` / `value`: a token as it is, anything else as a quoted-string. Runs for every
// upstream request (the host usually carries a port, so it is usually quoted): whole appends, no
// per-byte pushes.
void appendForwardedValue(absl::string_view v, std::string& out) {
  bool token = !v.empty();
  for (unsigned char c : v) {
    token = token && isTokenChar(c);
  }
  if (token) {
    out.append(v.data(), v.size());
    return;
  }
  out.push_back('"');
  if (v.find_first_of("\"\\") == absl::string_view::npos) {
    out.append(v.data(), v.size());
  } else {
    for (char c : v) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
  }
  out.push_back('"');
}

} // namespace

void stripHopByHop(HeaderMap& headers) {
  auto& e = headers.entries();
  bool any = false;
  // Copied out: erasing moves the strings the Connection value lives in.
  absl::InlinedVector<std::string, 2> named;
  for (const auto& h : e) {
    if (!isHopByHop(h.first)) {
      continue;
    }
    any = true;
    if (h.first.size() == 10 && h.first == "connection") {
      forEachListToken(h.second, [&](absl::string_view tok) {
        if (!equalsLowerAscii(tok, "keep-alive")) {
          named.emplace_back(tok);
        }
      });
    }
  }
  if (!any) {
    return;  // no Connection header either, so nothing is named
  }
  e.erase(std::remove_if(e.begin(), e.end(),
                         [&](const HeaderMap::Entry& h) {
                           if (isHopByHop(h.first)) {
                             return true;
                           }
                           for (const auto& n : named) {
                             if (absl::EqualsIgnoreCase(h.first, n)) {
                               return true;
                             }
                           }
                           return false;
                         }),
          e.end());
}

bool connectionHasToken(const HeaderMap& headers, absl::string_view token) {
  for (const auto& [name, value] : headers.entries()) {
    if (name != "connection") {
      continue;
    }
    for (absl::string_view tok : absl::StrSplit(value, ',')) {
      if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(tok), token)) {
        return true;
      }
    }
  }
  return false;
}

bool validRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  for (unsigned char c : id) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':')) {
      return false;
    }
  }
  return true;
}

bool applyUnderscorePolicy(HeaderMap& headers, UnderscoreAction action) {
  if (action == UnderscoreAction::Allow) {
    return true;
  }
  auto& e = headers.entries();
  bool found = false;
  for (const auto& h : e) {
    if (h.first.find('_') != std::string::npos) {
      found = true;
      break;
    }
  }
  if (!found) {
    return true;
  }
  if (action == UnderscoreAction::Reject) {
    return false;
  }
  e.erase(std::remove_if(e.begin(), e.end(),
                         [](const HeaderMap::Entry& h) {
                           return h.first.find('_') != std::string::npos;
                         }),
          e.end());
  return true;
}

void appendForwardedElement(absl::string_view client_ip, absl::string_view host,
                            std::string& out, bool https) {
  out += "for=";
  if (client_ip.find(':') != absl::string_view::npos) {
    absl::StrAppend(&out, "\"[", client_ip, "]\"");  // IPv6 node: quoted, in brackets
  } else {
    appendForwardedValue(client_ip, out);
  }
  if (!host.empty()) {
    out += ";host=";
    appendForwardedValue(host, out);
  }
  out += https ? ";proto=https" : ";proto=http";
}

void buildUpstreamHead(const http::RequestHead& request, const UpstreamHeadOptions& o,
                       std::string& out) {
  out.append(request.method);
  out.push_back(' ');
  out.append(o.path.data(), o.path.size());
  if (!o.query.empty()) {
    out.push_back('?');
    out.append(o.query.data(), o.query.size());
  }
  out.append(" HTTP/1.1\r\n");
  const NamedFields named = connectionNamed(request.headers);
  // X-Forwarded-For and Forwarded: at the edge (no trusted hops) client-sent values are
  // replaced; behind trusted proxies every line (RFC 9110 5.3: several lines form one list) is
  // kept, in order, and the gateway's own element appended.
  const bool keep = o.xff_trusted_hops > 0;
  std::string xff;
  std::string fwd;
  const std::string* host = nullptr;
  for (const auto& [name, value] : request.headers.entries()) {
    if (isHopByHop(name)) {
      continue;
    }
    switch (name.size()) {
    case 4:
      if (name == "host") {
        host = &value;
      }
      break;
    case 6:
      if (name == "expect") {
        continue;
      }
      break;
    case 9:
      if (name == "forwarded") {
        if (keep && !value.empty()) {
          absl::StrAppend(&fwd, fwd.empty() ? "" : ", ", value);
        }
        continue;
      }
      break;
    case 14:
      if (name == "content-length") {
        continue;
      }
      break;
    case 15:
      if (name == "x-forwarded-for") {
        if (keep && !value.empty()) {
          absl::StrAppend(&xff, xff.empty() ? "" : ", ", value);
        }
        continue;
      }
      break;
    case 16:
      if (name == "x-forwarded-host") {
        continue;
      }
      break;
    case 17:
      if (name == "x-forwarded-proto") {
        continue;
      }
      break;
    case 23:
      if (name == "x-gateway-attempt-count") {
        continue;
      }
      break;
    default:
      break;
    }
    if (!named.empty() && isNamed(named, name)) {
      continue;
    }
    http::appendHeaderLine(name, value, out);
  }
  if (host == nullptr && !o.default_host.empty()) {
    http::appendHeaderLine("host", o.default_host, out);
  }
  if (xff.empty()) {
    http::appendHeaderLine("x-forwarded-for", o.client_ip, out);
  } else {
    absl::StrAppend(&xff, ", ", o.client_ip);
    http::appendHeaderLine("x-forwarded-for", xff, out);
  }
  http::appendHeaderLine("x-forwarded-proto", o.https ? "https" : "http", out);
  if (host != nullptr) {
    http::appendHeaderLine("x-forwarded-host", *host, out);
  }
  // Written straight into the head (no string per request); kept elements first.
  out += "forwarded: ";
  if (!fwd.empty()) {
    out += fwd;
    out += ", ";
  }
  const absl::string_view fwd_host = host != nullptr ? absl::string_view(*host) : o.default_host;
  if (ForwardedMemo* m = o.forwarded_memo) {
    if (!m->valid || m->host != fwd_host) {
      m->host.assign(fwd_host.data(), fwd_host.size());
      m->element.clear();
      appendForwardedElement(o.client_ip, fwd_host, m->element, o.https);
      m->valid = true;
    }
    out += m->element;
  } else {
    appendForwardedElement(o.client_ip, fwd_host, out, o.https);
  }
  out += "\r\n";
  if (o.attempt_count > 0) {
    const absl::AlphaNum n(o.attempt_count);
    http::appendHeaderLine("x-gateway-attempt-count", n.Piece(), out);
  }
  switch (o.framing.kind) {
  case UpstreamFraming::Kind::Chunked:
    http::appendHeaderLine("transfer-encoding", "chunked", out);
    break;
  case UpstreamFraming::Kind::ContentLength: {
    const absl::AlphaNum cl(o.framing.content_length);
    http::appendHeaderLine("content-length", cl.Piece(), out);
    break;
  }
  case UpstreamFraming::Kind::None:
    break;
  }
  out.append("\r\n");
}

} // namespace gw::server
