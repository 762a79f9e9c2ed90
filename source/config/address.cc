#include "source/config/address.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gw::config {

bool isHostnameChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '.'; }

namespace {

// RFC 1123 host name: dot-separated labels of letters, digits and '-', no empty label, no label
// starting or ending with '-'.
bool isHostname(absl::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t label = 0;
  char prev = '.';
  for (const char c : s) {
    if (!isHostnameChar(c)) {
      return false;
    }
    if (c == '.') {
      if (label == 0 || prev == '-') {
        return false;
      }
      label = 0;
    } else {
      if (label == 0 && c == '-') {
        return false;
      }
      if (++label > 63) {
        return false;
      }
    }
    prev = c;
  }
  return prev != '-';
}

} // namespace

absl::StatusOr<HostPort> parseHostPort(absl::string_view address) {
  HostPort hp;
  absl::string_view host;
  absl::string_view port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError("expected [IPv6]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IPv6 address '", host, "'"));
    }
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
    hp.host = buf;
    hp.kind = HostKind::Ipv6;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError("expected host:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError("an IPv6 address needs brackets, e.g. [::1]:8080");
    }
    if (host.empty()) {
      return absl::InvalidArgumentError("missing host before ':'");
    }
    in_addr a4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1) {
      char buf[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &a4, buf, sizeof(buf));
      hp.host = buf;
      hp.kind = HostKind::Ipv4;
    } else if (std::all_of(host.begin(), host.end(),
                           [](char c) { return absl::ascii_isdigit(c) || c == '.'; })) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 address '", host, "'"));
    } else if (!isHostname(host)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid host name '", host, "'"));
    } else {
      hp.host = absl::AsciiStrToLower(host);
      hp.kind = HostKind::Name;
    }
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(port, &hp.port) || hp.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port '", port, "' (0..65535)"));
  }
  return hp;
}


} // namespace gw::config
