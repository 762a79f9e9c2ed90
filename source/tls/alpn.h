#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gw::tls {

// ALPN protocol lists: the wire form (each name prefixed by its length) and the server's choice.

// {"h2", "http/1.1"} -> "\x02h2\x08http/1.1". Names must be 1..255 bytes (validAlpnName).
std::string encodeAlpn(const std::vector<std::string>& protocols);
bool validAlpnName(absl::string_view name);

// The first of the server's protocols (in its preference order) that the client offers in
// `client_wire` (the ClientHello's list, wire form). Empty when none matches or the client's
// list is malformed.
absl::string_view selectAlpn(const std::vector<std::string>& server_protocols,
                             absl::string_view client_wire);

} // namespace gw::tls
