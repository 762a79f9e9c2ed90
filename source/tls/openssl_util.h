#pragma once

// Small helpers over OpenSSL 3 shared by the TLS library: owning pointers, the error queue as
// text, PEM parsing and SHA-256 fingerprints.

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gw::tls {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Empties the thread's OpenSSL error queue into one line ("error:0A000086:SSL routines::certificate
// verify failed; ..."), or `fallback` when it is empty.
std::string drainErrors(absl::string_view fallback = "unknown error");

// Every certificate in a PEM text, in order. Empty (and `error` set) when there is none or one is
// malformed.
std::vector<X509Ptr> parseCertificates(absl::string_view pem, std::string* error);
// The first private key in a PEM text (never echoed in `error`).
PkeyPtr parsePrivateKey(absl::string_view pem, std::string* error);

// Lower-case hex SHA-256 of `data`.
std::string sha256Hex(absl::string_view data);
// Lower-case hex SHA-256 of a certificate's DER encoding (its usual fingerprint).
std::string certFingerprint(X509* cert);

} // namespace gw::tls
