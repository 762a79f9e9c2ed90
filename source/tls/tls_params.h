#pragma once

#include <openssl/ssl.h>

#include <string>
#include <vector>

namespace gw::tls {

// A problem in a TLS setting, at a field path relative to where the setting came from
// ("params.cipher_list", "secrets[2].private_key").
struct TlsError {
  std::string path;
  std::string message;
};

// Protocol versions and ciphers of a context. Only TLS 1.2 and 1.3 exist here.
struct TlsParams {
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::string cipher_list;    // empty: kDefaultCipherList
  std::string ciphersuites;   // empty: OpenSSL's TLS 1.3 default
};

// TLS 1.2: ECDHE key exchange with AEAD ciphers only (Mozilla "intermediate").
inline constexpr char kDefaultCipherList[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Applies versions, ciphers and the options every context shares (no compression, no
// renegotiation). Problems are appended with paths under `base` ("params.min_version").
void applyParams(SSL_CTX* ctx, const TlsParams& p, const std::string& base,
                 std::vector<TlsError>* errors);

} // namespace gw::tls
