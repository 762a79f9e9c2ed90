#pragma once

// Listener and endpoint addresses as written in a config: "host:port", "[v6]:port", names.
// Internal to source/config.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::config {

enum class HostKind { Ipv4, Ipv6, Name };

struct HostPort {
  std::string host;  // canonical for IP literals, lower-case for names; no brackets
  HostKind kind = HostKind::Name;
  int port = 0;
};

bool isHostnameChar(char c);

// "host:port" with an IPv4 literal, "[IPv6]" or an RFC 1123 host name; port 0..65535.
absl::StatusOr<HostPort> parseHostPort(absl::string_view address);

} // namespace gw::config
