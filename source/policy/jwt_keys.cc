// Verification keys and signature checks: JwtKeySet (a provider's keys, from its secret, PEM key
// or JWKS), HMAC with precomputed key states, RSA PKCS#1 v1.5 and PSS, ECDSA P-256/P-384 and
// Ed25519 with OpenSSL 3 EVP; the per-thread verify contexts. Token parsing and claims: jwt.cc.
#include "source/policy/jwt.h"

// SHA256_CTX & co. are deprecated in OpenSSL 3 but are plain structs: an HMAC key's inner and
// outer states are precomputed once and copied by value per token (no allocation, no algorithm
// fetch; the one-shot HMAC() costs ~10 us per call on OpenSSL 3 for the fetch alone).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstring>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace gw::policy {
namespace {

bool isHmac(JwtAlg a) { return a == JwtAlg::HS256 || a == JwtAlg::HS384 || a == JwtAlg::HS512; }
bool isPss(JwtAlg a) { return a == JwtAlg::PS256 || a == JwtAlg::PS384 || a == JwtAlg::PS512; }
bool isRsa(JwtAlg a) {
  return a == JwtAlg::RS256 || a == JwtAlg::RS384 || a == JwtAlg::RS512 || isPss(a);
}

const EVP_MD* digestOf(JwtAlg a) {
  switch (a) {
  case JwtAlg::HS256:
  case JwtAlg::RS256:
  case JwtAlg::ES256:
  case JwtAlg::PS256:
  case JwtAlg::EdDSA:  // unused: Ed25519 hashes internally
    return EVP_sha256();
  case JwtAlg::HS384:
  case JwtAlg::RS384:
  case JwtAlg::PS384:
  case JwtAlg::ES384:
    return EVP_sha384();
  case JwtAlg::HS512:
  case JwtAlg::RS512:
  case JwtAlg::PS512:
    return EVP_sha512();
  }
  return EVP_sha256();
}

} // namespace

// HMAC (RFC 2104) with the key's two padded blocks already absorbed.
struct JwtKeySet::HmacKeys {
  SHA256_CTX in256, out256;
  SHA512_CTX in384, out384, in512, out512;

  explicit HmacKeys(absl::string_view key) {
    prepare256(key);
    prepare512(key, /*is384=*/true);
    prepare512(key, /*is384=*/false);
  }

  void prepare256(absl::string_view key) {
    unsigned char k[64] = {};
    if (key.size() > sizeof(k)) {
      SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), k);
    } else {
      memcpy(k, key.data(), key.size());
    }
    unsigned char ipad[64], opad[64];
    for (size_t i = 0; i < 64; i++) {
      ipad[i] = k[i] ^ 0x36;
      opad[i] = k[i] ^ 0x5c;
    }
    SHA256_Init(&in256);
    SHA256_Update(&in256, ipad, 64);
    SHA256_Init(&out256);
    SHA256_Update(&out256, opad, 64);
  }

  void prepare512(absl::string_view key, bool is384) {
    unsigned char k[128] = {};
    if (key.size() > sizeof(k)) {
      if (is384) {
        SHA384(reinterpret_cast<const unsigned char*>(key.data()), key.size(), k);
      } else {
        SHA512(reinterpret_cast<const unsigned char*>(key.data()), key.size(), k);
      }
    } else {
      memcpy(k, key.data(), key.size());
    }
    unsigned char ipad[128], opad[128];
    for (size_t i = 0; i < 128; i++) {
      ipad[i] = k[i] ^ 0x36;
      opad[i] = k[i] ^ 0x5c;
    }
    SHA512_CTX& in = is384 ? in384 : in512;
    SHA512_CTX& out = is384 ? out384 : out512;
    if (is384) {
      SHA384_Init(&in);
      SHA384_Init(&out);
    } else {
      SHA512_Init(&in);
      SHA512_Init(&out);
    }
    SHA512_Update(&in, ipad, 128);
    SHA512_Update(&out, opad, 128);
  }

  // The MAC of `data` into `mac` (32, 48 or 64 bytes); returns its length.
  size_t mac(JwtAlg alg, absl::string_view data, unsigned char* mac) const {
    const auto* d = reinterpret_cast<const unsigned char*>(data.data());
    unsigned char inner[64];
    if (alg == JwtAlg::HS256) {
      SHA256_CTX c = in256;
      SHA256_Update(&c, d, data.size());
      SHA256_Final(inner, &c);
      SHA256_CTX o = out256;
      SHA256_Update(&o, inner, 32);
      SHA256_Final(mac, &o);
      return 32;
    }
    const bool is384 = alg == JwtAlg::HS384;
    const size_t n = is384 ? 48 : 64;
    SHA512_CTX c = is384 ? in384 : in512;
    SHA512_Update(&c, d, data.size());
    if (is384) {
      SHA384_Final(inner, &c);
    } else {
      SHA512_Final(inner, &c);
    }
    SHA512_CTX o = is384 ? out384 : out512;
    SHA512_Update(&o, inner, n);
    if (is384) {
      SHA384_Final(mac, &o);
    } else {
      SHA512_Final(mac, &o);
    }
    return n;
  }
};

bool jwtAlgFitsKey(JwtAlg a, JwkType t) {
  switch (t) {
  case JwkType::Oct: return isHmac(a);
  case JwkType::Rsa: return isRsa(a);
  case JwkType::EcP256: return a == JwtAlg::ES256;
  case JwkType::EcP384: return a == JwtAlg::ES384;
  case JwkType::Ed25519: return a == JwtAlg::EdDSA;
  }
  return false;
}

JwtKeySet::Key::Key() = default;
JwtKeySet::Key::~Key() = default;
JwtKeySet::~JwtKeySet() = default;
JwtKeySet::JwtKeySet() : id_(internal::nextJwtId()) {}

bool JwtKeySet::add(Jwk& j, std::string& why) {
  auto k = std::make_unique<Key>();
  k->type = j.type;
  k->kid = j.kid;
  if (!j.alg.empty()) {
    if (!jwtAlgFromName(j.alg, &k->alg) || !jwtAlgFitsKey(k->alg, j.type)) {
      why = absl::StrCat("alg '", j.alg, "' does not fit a ", jwkTypeName(j.type), " key");
      return false;
    }
    k->has_alg = true;
  }
  if (j.type == JwkType::Oct) {
    k->hmac = std::make_unique<HmacKeys>(j.secret);
  }
  k->pkey = std::move(j.pkey);
  keys_.push_back(std::move(k));
  return true;
}

std::shared_ptr<const JwtKeySet> JwtKeySet::fromJwks(absl::string_view json,
                                                     std::vector<std::string>& skipped,
                                                     std::string& error) {
  std::vector<Jwk> jwks;
  if (!parseJwks(json, jwks, skipped, error)) {
    return nullptr;
  }
  std::shared_ptr<JwtKeySet> ks(new JwtKeySet());
  for (size_t i = 0; i < jwks.size(); i++) {
    std::string why;
    if (!ks->add(jwks[i], why)) {
      skipped.push_back(absl::StrCat("key ", i, " of the usable ones: ", why));
    }
  }
  return ks;
}

bool JwtProvider::checkSignature(const JwtKeySet& ks, JwtAlg alg, size_t key_index,
                                 absl::string_view input, absl::string_view sig) {
  const JwtKeySet::Key& key = *ks.keys_[key_index];
  const EVP_MD* md = digestOf(alg);
  if (isHmac(alg)) {
    if (key.hmac == nullptr) {
      return false;
    }
    unsigned char mac[64];
    const size_t mac_len = key.hmac->mac(alg, input, mac);
    return sig.size() == mac_len && CRYPTO_memcmp(mac, sig.data(), mac_len) == 0;
  }
  if (!key.pkey) {
    return false;
  }
  const unsigned char* sig_data = reinterpret_cast<const unsigned char*>(sig.data());
  size_t sig_len = sig.size();
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (alg == JwtAlg::EdDSA) {
    // Ed25519 signs the message itself (no separate digest): a one-shot EVP_DigestVerify on a
    // fresh context (one allocation per uncached token).
    EVP_MD_CTX* mctx = EVP_MD_CTX_new();
    const bool ok = mctx != nullptr &&
                    EVP_DigestVerifyInit(mctx, nullptr, nullptr, nullptr, key.pkey.get()) == 1 &&
                    EVP_DigestVerify(mctx, sig_data, sig_len, in, input.size()) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
  }
  unsigned char der[110];
  if (alg == JwtAlg::ES256 || alg == JwtAlg::ES384) {
    // JWS carries R || S (32 or 48 bytes each, RFC 7518 section 3.4); OpenSSL wants
    // DER SEQUENCE { INTEGER r, INTEGER s }, built here without allocating.
    const size_t n = alg == JwtAlg::ES256 ? 32 : 48;
    if (sig.size() != 2 * n) {
      return false;
    }
    auto integer = [n](const unsigned char* v, unsigned char* out) {
      size_t skip = 0;
      while (skip < n - 1 && v[skip] == 0) {
        skip++;
      }
      const bool pad = (v[skip] & 0x80) != 0;  // keep it positive
      const size_t len = n - skip + (pad ? 1 : 0);
      out[0] = 0x02;
      out[1] = static_cast<unsigned char>(len);
      size_t o = 2;
      if (pad) {
        out[o++] = 0;
      }
      memcpy(out + o, v + skip, n - skip);
      return len + 2;
    };
    const size_t r_len = integer(sig_data, der + 2);
    const size_t s_len = integer(sig_data + n, der + 2 + r_len);
    der[0] = 0x30;
    der[1] = static_cast<unsigned char>(r_len + s_len);
    sig_data = der;
    sig_len = 2 + r_len + s_len;
  }
  // The digest with the plain SHA-2 functions, then EVP_PKEY_verify on a verify context kept per
  // thread and per (provider, key, alg): nothing is allocated or fetched per token once warm.
  unsigned char digest[64];
  size_t digest_len = 0;
  if (md == EVP_sha256()) {
    SHA256(in, input.size(), digest);
    digest_len = 32;
  } else if (md == EVP_sha384()) {
    SHA384(in, input.size(), digest);
    digest_len = 48;
  } else {
    SHA512(in, input.size(), digest);
    digest_len = 64;
  }
  EVP_PKEY_CTX* ctx = verifyContext(ks, alg, key_index, md);
  return ctx != nullptr &&
         EVP_PKEY_verify(ctx, sig_data, sig_len, digest, digest_len) == 1;
}

namespace {

// Per thread: initialized verify contexts, by (provider id, alg). A context holds its own
// reference to the key, so an entry outliving its provider is harmless (ids are never reused);
// entries of providers gone with old configs are dropped all at once when the cache is full.
struct VerifyContextCache {
  static constexpr size_t kMaxEntries = 1024;
  absl::flat_hash_map<uint64_t, EVP_PKEY_CTX*> entries;
  void clear() {
    for (auto& [key, ctx] : entries) {
      EVP_PKEY_CTX_free(ctx);
    }
    entries.clear();
  }
  ~VerifyContextCache() { clear(); }
};

} // namespace

EVP_PKEY_CTX* JwtProvider::verifyContext(const JwtKeySet& ks, JwtAlg alg, size_t key_index,
                                         const EVP_MD* md) {
  thread_local VerifyContextCache cache;
  // By key set id (process-unique), kMaxJwks keys at most, 12 algorithms: 6 + 4 bits.
  const uint64_t key = (ks.id() << 10) | (static_cast<uint64_t>(key_index) << 4) |
                       static_cast<uint64_t>(alg);
  if (auto it = cache.entries.find(key); it != cache.entries.end()) {
    return it->second;
  }
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, ks.keys_[key_index]->pkey.get(), nullptr);
  bool ok = ctx != nullptr && EVP_PKEY_verify_init(ctx) == 1;
  if (ok && isPss(alg)) {
    // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx, md) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1;
  } else if (ok) {
    ok = EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
  }
  if (!ok) {
    EVP_PKEY_CTX_free(ctx);
    return nullptr;
  }
  if (cache.entries.size() >= VerifyContextCache::kMaxEntries) {
    cache.clear();
  }
  cache.entries.emplace(key, ctx);
  return ctx;
}

} // namespace gw::policy
