#include "source/tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "source/tls/alpn.h"

namespace gw::tls {
namespace {

bool isIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace

std::shared_ptr<const ClientContext> ClientContext::create(const ClientContextOptions& o,
                                                           std::vector<TlsError>* errors) {
  const size_t before = errors->size();
  std::shared_ptr<ClientContext> cc(new ClientContext());
  cc->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = cc->ctx_.get();
  cc->sni_ = o.sni;
  cc->verify_ = o.verify;
  applyParams(ctx, o.params, "params", errors);
  std::string err;
  if (o.verify) {
    if (o.ca_pem.empty()) {
      SSL_CTX_set_default_verify_paths(ctx);
    } else {
      std::vector<X509Ptr> cas = parseCertificates(o.ca_pem, &err);
      if (cas.empty()) {
        errors->push_back({"ca", err});
      }
      X509_STORE* store = SSL_CTX_get_cert_store(ctx);
      for (auto& ca : cas) {
        X509_STORE_add_cert(store, ca.get());
      }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!o.cert_pem.empty() || !o.key_pem.empty()) {
    std::vector<X509Ptr> chain = parseCertificates(o.cert_pem, &err);
    PkeyPtr key = parsePrivateKey(o.key_pem, &err);
    if (chain.empty()) {
      errors->push_back({o.cert_path + ".certificate_chain", err});
    }
    if (key == nullptr) {
      errors->push_back({o.cert_path + ".private_key", err});
    }
    if (!chain.empty() && key != nullptr) {
      STACK_OF(X509)* extra = sk_X509_new_null();
      for (size_t k = 1; k < chain.size(); k++) {
        X509_up_ref(chain[k].get());
        sk_X509_push(extra, chain[k].get());
      }
      if (SSL_CTX_use_cert_and_key(ctx, chain[0].get(), key.get(), extra, 1) != 1 ||
          SSL_CTX_check_private_key(ctx) != 1) {
        errors->push_back({o.cert_path + ".private_key", "does not match the certificate"});
      }
      sk_X509_pop_free(extra, X509_free);
    }
  }
  for (size_t i = 0; i < o.alpn.size(); i++) {
    if (!validAlpnName(o.alpn[i])) {
      errors->push_back({absl::StrCat("alpn[", i, "]"), "must be 1..255 bytes"});
    }
  }
  if (!o.alpn.empty()) {
    const std::string wire = encodeAlpn(o.alpn);
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  ERR_clear_error();
  return errors->size() == before ? cc : nullptr;
}

absl::string_view ClientContext::hostOf(absl::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return host.substr(1, close == absl::string_view::npos ? 0 : close - 1);
  }
  if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    return host.substr(0, colon);
  }
  return host;
}

SSL* ClientContext::newSsl(absl::string_view host_in, bool http1_only) const {
  SSL* ssl = SSL_new(ctx_.get());
  SSL_set_connect_state(ssl);
  if (http1_only) {
    static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl, kHttp11, sizeof(kHttp11));
  }
  const std::string host = sni_.empty() ? std::string(host_in) : sni_;
  const bool ip = isIpLiteral(host);
  if (!host.empty() && !ip) {
    SSL_set_tlsext_host_name(ssl, host.c_str());
  }
  if (verify_ && !host.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
  }
  return ssl;
}

} // namespace gw::tls
