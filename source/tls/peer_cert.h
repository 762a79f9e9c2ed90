#pragma once

#include <openssl/ssl.h>

#include <string>

namespace gw::tls {

// What a verified peer certificate says, as the upstream headers carry it.
struct PeerCertInfo {
  std::string subject;      // RFC 2253, e.g. "CN=client,O=Example"
  std::string sans;         // "DNS:a.example, URI:spiffe://x/y, IP:10.0.0.1, email:a@b"
  std::string fingerprint;  // lower-case hex SHA-256 of the DER
};

// The peer certificate's info after a handshake; false when there is none or it did not verify.
bool verifiedPeerCert(SSL* ssl, PeerCertInfo* out);
// The same for any certificate (tests, logs).
PeerCertInfo describeCert(X509* cert);

} // namespace gw::tls
