#include "source/tls/alpn.h"

namespace gw::tls {

bool validAlpnName(absl::string_view name) { return !name.empty() && name.size() <= 255; }

std::string encodeAlpn(const std::vector<std::string>& protocols) {
  std::string out;
  for (const auto& p : protocols) {
    out += static_cast<char>(p.size());
    out += p;
  }
  return out;
}

namespace {

bool clientOffers(absl::string_view client_wire, absl::string_view proto) {
  size_t i = 0;
  while (i < client_wire.size()) {
    const size_t len = static_cast<unsigned char>(client_wire[i]);
    if (len == 0 || i + 1 + len > client_wire.size()) {
      return false;  // malformed: nothing after this point is trusted
    }
    if (client_wire.substr(i + 1, len) == proto) {
      return true;
    }
    i += 1 + len;
  }
  return false;
}

bool wellFormed(absl::string_view wire) {
  size_t i = 0;
  while (i < wire.size()) {
    const size_t len = static_cast<unsigned char>(wire[i]);
    if (len == 0 || i + 1 + len > wire.size()) {
      return false;
    }
    i += 1 + len;
  }
  return !wire.empty();
}

} // namespace

absl::string_view selectAlpn(const std::vector<std::string>& server_protocols,
                             absl::string_view client_wire) {
  if (!wellFormed(client_wire)) {
    return {};
  }
  for (const auto& p : server_protocols) {
    if (clientOffers(client_wire, p)) {
      return p;
    }
  }
  return {};
}

} // namespace gw::tls
