#pragma once
// Test helpers: JWTs signed here with OpenSSL (HMAC, RSA, ECDSA P-256 keys generated per run).

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "source/policy/base64url.h"

namespace gw::policy::test {

inline std::string b64(absl::string_view s) {
  std::string out;
  base64UrlEncode(s, out);
  return out;
}

inline std::string signingInput(absl::string_view header_json, absl::string_view claims_json) {
  return absl::StrCat(b64(header_json), ".", b64(claims_json));
}

inline std::string hmacToken(absl::string_view claims_json, absl::string_view secret,
                             absl::string_view alg = "HS256",
                             const EVP_MD* md = EVP_sha256()) {
  const std::string input =
      signingInput(absl::StrCat("{\"alg\":\"", alg, "\",\"typ\":\"JWT\"}"), claims_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return absl::StrCat(input, ".", b64(absl::string_view(reinterpret_cast<char*>(mac), len)));
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

inline Pkey rsaKey(unsigned bits = 2048) {
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
}
inline Pkey ecKey(const char* curve = "P-256") {
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

inline std::string publicPem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// RS256 (or ES256 with an EC key: the DER signature converted to R || S).
inline std::string pkeyToken(absl::string_view claims_json, EVP_PKEY* k, absl::string_view alg,
                             const EVP_MD* md = EVP_sha256()) {
  const std::string input =
      signingInput(absl::StrCat("{\"alg\":\"", alg, "\",\"typ\":\"JWT\"}"), claims_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, md, nullptr, k);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    unsigned char rs[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
    ECDSA_SIG_free(es);
    sig.assign(reinterpret_cast<char*>(rs), 64);
  }
  return absl::StrCat(input, ".", b64(sig));
}

} // namespace gw::policy::test
