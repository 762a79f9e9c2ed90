#include "source/tls/server_context.h"

#include <openssl/x509v3.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "source/tls/alpn.h"
#include "source/tls/ticket_keys.h"

namespace gw::tls {
namespace {

constexpr unsigned char kSessionIdContext[] = "gatewayd";

// A CA bundle as a verification store; false (with `error`) when it holds no certificate.
bool loadCaStore(SSL_CTX* ctx, absl::string_view pem, std::string* error) {
  std::vector<X509Ptr> cas = parseCertificates(pem, error);
  if (cas.empty()) {
    return false;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  for (auto& ca : cas) {
    X509_STORE_add_cert(store, ca.get());
    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // the hint sent in CertificateRequest
  return true;
}

} // namespace

ServerContext::~ServerContext() = default;

std::shared_ptr<const ServerContext> ServerContext::create(const ServerContextOptions& o,
                                                           std::vector<TlsError>* errors) {
  const size_t before = errors->size();
  std::shared_ptr<ServerContext> sc(new ServerContext());
  if (o.certificates.empty()) {
    errors->push_back({"certificates", "at least one certificate is required"});
    return nullptr;
  }
  sc->sni_ = SniMap(o.default_index < o.certificates.size() ? o.default_index : 0);
  sc->alpn_ = o.alpn;
  sc->client_mode_ = o.client_mode;
  for (size_t i = 0; i < o.certificates.size(); i++) {
    const ServerCertificate& c = o.certificates[i];
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (ctx == nullptr) {
      errors->push_back({c.path, "SSL_CTX_new: " + drainErrors()});
      return nullptr;
    }
    // Every context is configured alike: SNI may switch a handshake to any of them.
    std::vector<TlsError> scratch;  // the same problems again for the other certificates
    applyParams(ctx.get(), o.params, "params", i == 0 ? errors : &scratch);
    std::string err;
    std::vector<X509Ptr> chain = parseCertificates(c.chain_pem, &err);
    PkeyPtr key = parsePrivateKey(c.key_pem, &err);
    if (chain.empty()) {
      errors->push_back({c.path + ".certificate_chain", err});
    }
    if (key == nullptr) {
      errors->push_back({c.path + ".private_key", err});
    }
    if (!chain.empty() && key != nullptr) {
      STACK_OF(X509)* extra = sk_X509_new_null();
      for (size_t k = 1; k < chain.size(); k++) {
        X509_up_ref(chain[k].get());
        sk_X509_push(extra, chain[k].get());
      }
      if (SSL_CTX_use_cert_and_key(ctx.get(), chain[0].get(), key.get(), extra, 1) != 1 ||
          SSL_CTX_check_private_key(ctx.get()) != 1) {
        ERR_clear_error();
        errors->push_back({c.path + ".private_key", "does not match the certificate"});
      }
      sk_X509_pop_free(extra, X509_free);
      sc->fingerprints_.push_back(certFingerprint(chain[0].get()));
    } else {
      sc->fingerprints_.emplace_back();
    }
    if (o.client_mode != ClientCertMode::Off) {
      if (!loadCaStore(ctx.get(), o.ca_pem, &err)) {
        if (i == 0) {
          errors->push_back({"client_certificate.ca", err});
        }
      }
      int mode = SSL_VERIFY_PEER;
      if (o.client_mode == ClientCertMode::Required) {
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      }
      SSL_CTX_set_verify(ctx.get(), mode, nullptr);
      SSL_CTX_set_verify_depth(ctx.get(), o.verify_depth);
    }
    SSL_CTX_set_session_id_context(ctx.get(), kSessionIdContext, sizeof(kSessionIdContext) - 1);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);  // stateless tickets only
    if (o.session_tickets) {
      installTicketKeys(ctx.get(), o.ticket_rotation_s);
      SSL_CTX_set_num_tickets(ctx.get(), 1);
    } else {
      SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(ctx.get(), 0);
    }
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_tlsext_servername_callback(ctx.get(), onServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx.get(), sc.get());
    SSL_CTX_set_alpn_select_cb(ctx.get(), onAlpn, sc.get());
    sc->ocsp_.push_back(c.ocsp_der);
    if (!c.ocsp_der.empty()) {
      SSL_CTX_set_tlsext_status_cb(ctx.get(), onStatus);
      SSL_CTX_set_tlsext_status_arg(ctx.get(), sc.get());
    }
    for (size_t n = 0; n < c.server_names.size(); n++) {
      if (!sc->sni_.add(c.server_names[n], i)) {
        errors->push_back({absl::StrCat("certificates[", i, "].server_names[", n, "]"),
                           validServerNamePattern(c.server_names[n])
                               ? absl::StrCat("duplicate server name '", c.server_names[n], "'")
                               : absl::StrCat("invalid server name '", c.server_names[n],
                                              "' (a host name or *.suffix)")});
      }
    }
    sc->ctxs_.push_back(std::move(ctx));
  }
  for (size_t i = 0; i < o.alpn.size(); i++) {
    if (!validAlpnName(o.alpn[i])) {
      errors->push_back({absl::StrCat("alpn[", i, "]"), "must be 1..255 bytes"});
    }
  }
  ERR_clear_error();
  return errors->size() == before ? sc : nullptr;
}

SSL* ServerContext::newSsl() const {
  SSL* ssl = SSL_new(ctxs_[sni_.defaultIndex()].get());
  SSL_set_accept_state(ssl);
  return ssl;
}

int ServerContext::onServerName(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  const size_t i = self->sni_.select(name);
  if (i != self->sni_.defaultIndex()) {
    SSL_set_SSL_CTX(ssl, self->ctxs_[i].get());
  }
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::onAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
                          const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const absl::string_view pick = selectAlpn(
      self->alpn_, absl::string_view(reinterpret_cast<const char*>(in), inlen));
  if (pick.empty()) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: continue without ALPN
  }
  *out = reinterpret_cast<const unsigned char*>(pick.data());
  *outlen = static_cast<unsigned char>(pick.size());
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::onStatus(SSL* ssl, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
  for (size_t i = 0; i < self->ctxs_.size(); i++) {
    if (self->ctxs_[i].get() != ctx || self->ocsp_[i].empty()) {
      continue;
    }
    const std::string& der = self->ocsp_[i];
    auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der.size()));
    memcpy(copy, der.data(), der.size());
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size()));  // takes it
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

} // namespace gw::tls
