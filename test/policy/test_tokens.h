#pragma once
// Test helpers: JWTs signed here with OpenSSL (HMAC, RSA PKCS#1 v1.5 and PSS, ECDSA P-256/P-384,
// Ed25519 keys generated per run), and JWKs of those keys.

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

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

inline Pkey edKey() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

inline std::string publicPem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// RS*/PS* with an RSA key (PS when `alg` starts with "PS"), ES256/ES384 with an EC key (the DER
// signature converted to R || S), EdDSA with an Ed25519 key (md ignored). `kid`: added to the
// header when not empty.
inline std::string pkeyToken(absl::string_view claims_json, EVP_PKEY* k, absl::string_view alg,
                             const EVP_MD* md = EVP_sha256(), absl::string_view kid = "") {
  const std::string input = signingInput(
      absl::StrCat("{\"alg\":\"", alg, "\",\"typ\":\"JWT\"",
                   kid.empty() ? "" : absl::StrCat(",\"kid\":\"", kid, "\""), "}"),
      claims_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_PKEY_CTX* pctx = nullptr;
  const bool ed = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;
  EVP_DigestSignInit(ctx, &pctx, ed ? nullptr : md, nullptr, k);
  if (alg.substr(0, 2) == "PS") {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
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
    const int n = EVP_PKEY_get_bits(k) > 256 ? 48 : 32;
    unsigned char rs[96];
    BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, n);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + n, n);
    ECDSA_SIG_free(es);
    sig.assign(reinterpret_cast<char*>(rs), 2 * static_cast<size_t>(n));
  }
  return absl::StrCat(input, ".", b64(sig));
}

inline std::string bnB64(EVP_PKEY* k, const char* param, int pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, param, &bn);
  std::string bytes(static_cast<size_t>(pad > 0 ? pad : BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  BN_free(bn);
  return b64(bytes);
}

// The public JWK (RFC 7517) of an RSA, EC or Ed25519 key, with `kid` when not empty.
inline std::string publicJwk(EVP_PKEY* k, absl::string_view kid = "") {
  const std::string kid_member = kid.empty() ? "" : absl::StrCat(",\"kid\":\"", kid, "\"");
  switch (EVP_PKEY_get_base_id(k)) {
  case EVP_PKEY_RSA:
    return absl::StrCat("{\"kty\":\"RSA\",\"n\":\"", bnB64(k, OSSL_PKEY_PARAM_RSA_N),
                        "\",\"e\":\"", bnB64(k, OSSL_PKEY_PARAM_RSA_E), "\"", kid_member, "}");
  case EVP_PKEY_EC: {
    const bool p384 = EVP_PKEY_get_bits(k) > 256;
    const int n = p384 ? 48 : 32;
    return absl::StrCat("{\"kty\":\"EC\",\"crv\":\"", p384 ? "P-384" : "P-256", "\",\"x\":\"",
                        bnB64(k, OSSL_PKEY_PARAM_EC_PUB_X, n), "\",\"y\":\"",
                        bnB64(k, OSSL_PKEY_PARAM_EC_PUB_Y, n), "\"", kid_member, "}");
  }
  default: {
    unsigned char raw[32];
    size_t len = sizeof(raw);
    EVP_PKEY_get_raw_public_key(k, raw, &len);
    return absl::StrCat("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"",
                        b64(absl::string_view(reinterpret_cast<char*>(raw), len)), "\"",
                        kid_member, "}");
  }
  }
}

} // namespace gw::policy::test
