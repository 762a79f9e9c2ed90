#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "source/tls/openssl_util.h"
#include "source/tls/tls_params.h"

namespace gw::tls {

struct ClientContextOptions {
  std::string ca_pem;          // empty: the system trust store
  bool verify = true;
  std::string sni;             // empty: newSsl's host when it is a name
  std::string cert_pem;        // client certificate (mTLS to the backend); empty: none
  std::string key_pem;
  std::string cert_path;       // where the client certificate came from, for errors
  std::vector<std::string> alpn;
  TlsParams params;
};

// A cluster's TLS client side, immutable once built (part of the RuntimeConfig).
class ClientContext {
public:
  static std::shared_ptr<const ClientContext> create(const ClientContextOptions& options,
                                                     std::vector<TlsError>* errors);

  // A new client SSL for an endpoint whose configured host is `host` ("backend.local" or an IP
  // literal): SNI is the configured sni, else `host` when it is a name; with verify on, the
  // certificate must match that name (or the IP). `http1_only` offers just "http/1.1" by ALPN
  // (an AUTO cluster's HTTP/1.1 connections, once the endpoint chose it). Caller owns it.
  SSL* newSsl(absl::string_view host, bool http1_only = false) const;

  // An endpoint address's host without the port and IPv6 brackets: "[::1]:443" -> "::1",
  // "backend.local:443" -> "backend.local" (the SNI and the name verified).
  static absl::string_view hostOf(absl::string_view address);
  bool verify() const { return verify_; }

private:
  ClientContext() = default;
  SslCtxPtr ctx_;
  std::string sni_;
  bool verify_ = true;
};

} // namespace gw::tls
