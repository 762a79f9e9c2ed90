#pragma once

// Certificates made at test time with OpenSSL (no private key is committed): a CA, and leaves it
// signs for given DNS names / IPs, as PEM text.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

namespace gw::tls::testing {

struct Pem {
  std::string cert;
  std::string key;
  EVP_PKEY* pkey = nullptr;  // kept for signing (leaked deliberately: test processes are short)
  X509* x509 = nullptr;
};

inline std::string toPem(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* d;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, n);
  BIO_free(b);
  return s;
}

inline std::string toPem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* d;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, n);
  BIO_free(b);
  return s;
}

inline void addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// `issuer` null: self-signed CA. `sans`: "DNS:a.example,IP:127.0.0.1" (may be empty).
inline Pem makeCert(const std::string& cn, const Pem* issuer, const std::string& sans = "",
                    bool client = false) {
  static long serial = 1;
  Pem out;
  out.pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24);
  X509_set_pubkey(x, out.pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Gateway Test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer == nullptr ? x : issuer->x509;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  if (issuer == nullptr) {
    addExt(x, x, NID_basic_constraints, "critical,CA:TRUE");
    addExt(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(x, signer, NID_basic_constraints, "CA:FALSE");
    addExt(x, signer, NID_ext_key_usage, client ? "clientAuth" : "serverAuth");
    if (!sans.empty()) {
      addExt(x, signer, NID_subject_alt_name, sans);
    }
  }
  X509_sign(x, issuer == nullptr ? out.pkey : issuer->pkey, EVP_sha256());
  out.x509 = x;
  out.cert = toPem(x);
  out.key = toPem(out.pkey);
  return out;
}

} // namespace gw::tls::testing
