#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "source/tls/openssl_util.h"
#include "source/tls/sni_map.h"
#include "source/tls/tls_params.h"

namespace gw::tls {

enum class ClientCertMode : uint8_t { Off, Optional, Required };

// One certificate of a listener: its chain and key (resolved PEM text), the names it serves.
struct ServerCertificate {
  std::string path;            // where it came from ("secrets[0]"), for errors
  std::string chain_pem;
  std::string key_pem;
  std::string ocsp_der;        // empty: no stapling
  std::vector<std::string> server_names;
};

struct ServerContextOptions {
  std::vector<ServerCertificate> certificates;  // at least one
  size_t default_index = 0;
  TlsParams params;
  // ALPN in preference order. The listener's compiled config puts "h2" first only when the
  // listener speaks HTTP/2 (see tls_config.cc, kListenerSpeaksH2).
  std::vector<std::string> alpn{"http/1.1"};
  ClientCertMode client_mode = ClientCertMode::Off;
  std::string ca_pem;
  int verify_depth = 4;
  bool session_tickets = true;
  uint32_t ticket_rotation_s = 3600;
};

// A listener's TLS server side, immutable once built and shared by every worker (it is part of
// the RuntimeConfig, so a push that changes a certificate makes a new one; connections keep the
// SSL* of the context they started with). One SSL_CTX per certificate, configured alike; SNI
// switches a handshake to the selected certificate's context.
class ServerContext {
public:
  // nullptr when there are problems (all of them in `errors`).
  static std::shared_ptr<const ServerContext> create(const ServerContextOptions& options,
                                                     std::vector<TlsError>* errors);
  ~ServerContext();

  // A new server-side SSL (the default certificate until SNI selects another). Caller owns it.
  SSL* newSsl() const;
  ClientCertMode clientMode() const { return client_mode_; }
  const std::vector<std::string>& alpn() const { return alpn_; }
  size_t certificateCount() const { return ctxs_.size(); }
  // The certificate SNI `name` selects (tests, fuzzing).
  size_t select(absl::string_view name) const { return sni_.select(name); }
  // SHA-256 of certificate `i`'s leaf.
  const std::string& leafFingerprint(size_t i) const { return fingerprints_[i]; }

private:
  ServerContext() = default;
  static int onServerName(SSL* ssl, int* alert, void* arg);
  static int onAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                    const unsigned char* in, unsigned int inlen, void* arg);
  static int onStatus(SSL* ssl, void* arg);

  std::vector<SslCtxPtr> ctxs_;
  std::vector<std::string> ocsp_;          // per certificate
  std::vector<std::string> fingerprints_;  // per certificate
  SniMap sni_;
  std::vector<std::string> alpn_;
  ClientCertMode client_mode_ = ClientCertMode::Off;
};

} // namespace gw::tls
