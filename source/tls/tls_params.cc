#include "source/tls/tls_params.h"

#include "source/tls/openssl_util.h"

namespace gw::tls {

void applyParams(SSL_CTX* ctx, const TlsParams& p, const std::string& base,
                 std::vector<TlsError>* errors) {
  auto path = [&base](const char* f) { return base.empty() ? std::string(f) : base + "." + f; };
  if (p.min_version > p.max_version) {
    errors->push_back({path("min_version"), "must not be above max_version"});
  }
  SSL_CTX_set_min_proto_version(ctx, p.min_version);
  SSL_CTX_set_max_proto_version(ctx, p.max_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  const std::string& list = p.cipher_list.empty() ? std::string(kDefaultCipherList) : p.cipher_list;
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1) {
    errors->push_back({path("cipher_list"),
                       "no usable cipher in '" + list + "': " + drainErrors()});
  }
  if (!p.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, p.ciphersuites.c_str()) != 1) {
    errors->push_back({path("ciphersuites"),
                       "no usable TLS 1.3 ciphersuite in '" + p.ciphersuites + "': " +
                           drainErrors()});
  }
  ERR_clear_error();
}

} // namespace gw::tls
