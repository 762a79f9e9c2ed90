#include "source/policy/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "absl/strings/str_cat.h"
#include "source/policy/base64url.h"
#include "source/policy/json_scan.h"

namespace gw::policy {

void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

const char* jwkTypeName(JwkType t) {
  switch (t) {
  case JwkType::Oct: return "oct";
  case JwkType::Rsa: return "RSA";
  case JwkType::EcP256: return "EC P-256";
  case JwkType::EcP384: return "EC P-384";
  case JwkType::Ed25519: return "OKP Ed25519";
  }
  return "?";
}

bool jwkTypeOfPkey(EVP_PKEY* k, JwkType& out, std::string& error) {
  const int id = EVP_PKEY_get_base_id(k);
  if (id == EVP_PKEY_RSA) {
    const int bits = EVP_PKEY_get_bits(k);
    if (bits < 2048) {
      error = absl::StrCat("RSA key of ", bits, " bits is too small (at least 2048)");
      return false;
    }
    out = JwkType::Rsa;
    return true;
  }
  if (id == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len);
    const absl::string_view g(group);
    if (g == "prime256v1") {
      out = JwkType::EcP256;
      return true;
    }
    if (g == "secp384r1") {
      out = JwkType::EcP384;
      return true;
    }
    error = absl::StrCat("EC key on curve '", g, "': only P-256 (ES256) and P-384 (ES384)");
    return false;
  }
  if (id == EVP_PKEY_ED25519) {
    out = JwkType::Ed25519;
    return true;
  }
  error = "unsupported key type (RSA, EC P-256 or P-384, Ed25519)";
  return false;
}

namespace {

// The members of one key object we use (views into the document; base64url never needs escapes).
struct Members {
  JsonValue kty, kid, alg, use, crv, n, e, x, y, k;
};

bool b64Member(const JsonValue& v, const char* name, std::string& out, std::string& why) {
  if (v.type != JsonType::String || v.escaped || !base64UrlDecode(v.raw, out) || out.empty()) {
    why = absl::StrCat("'", name, "' must be a non-empty base64url string");
    return false;
  }
  return true;
}

PkeyPtr rsaFrom(const std::string& n, const std::string& e) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  EVP_PKEY* key = nullptr;
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  if (bld != nullptr && bn_n != nullptr && bn_e != nullptr &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 &&
      (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr &&
      (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)) != nullptr &&
      EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
      key = nullptr;
    }
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  BN_free(bn_n);
  BN_free(bn_e);
  OSSL_PARAM_BLD_free(bld);
  return PkeyPtr(key);
}

PkeyPtr ecFrom(const char* group, const std::string& x, const std::string& y) {
  std::string point = absl::StrCat("\x04", x, y);  // uncompressed SEC1 point
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    key = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  if (key == nullptr) {
    return nullptr;
  }
  // fromdata decodes the point; check it lies on the curve explicitly as well.
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  const bool ok = check != nullptr && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!ok) {
    EVP_PKEY_free(key);
    return nullptr;
  }
  return PkeyPtr(key);
}

// One key object -> `out`; false with `why` when it is not usable.
bool parseKey(const JsonValue& v, Jwk& out, std::string& why) {
  if (v.type != JsonType::Object) {
    why = "not a JSON object";
    return false;
  }
  Members m;
  if (!scanJsonObject(v.raw, [&m](absl::string_view k, const JsonValue& val) {
        JsonValue* slot = k == "kty"   ? &m.kty
                          : k == "kid" ? &m.kid
                          : k == "alg" ? &m.alg
                          : k == "use" ? &m.use
                          : k == "crv" ? &m.crv
                          : k == "n"   ? &m.n
                          : k == "e"   ? &m.e
                          : k == "x"   ? &m.x
                          : k == "y"   ? &m.y
                          : k == "k"   ? &m.k
                                       : nullptr;
        if (slot != nullptr) {
          *slot = val;
        }
        return true;
      })) {
    why = "not a valid JSON object";
    return false;
  }
  std::string kty;
  if (m.kty.type != JsonType::String || !jsonUnescape(m.kty.raw, kty)) {
    why = "'kty' must be a string";
    return false;
  }
  if (m.kid.type != JsonType::Null &&
      (m.kid.type != JsonType::String || !jsonUnescape(m.kid.raw, out.kid))) {
    why = "'kid' must be a string";
    return false;
  }
  if (m.alg.type != JsonType::Null &&
      (m.alg.type != JsonType::String || !jsonUnescape(m.alg.raw, out.alg))) {
    why = "'alg' must be a string";
    return false;
  }
  if (m.use.type != JsonType::Null && !(m.use.type == JsonType::String && m.use.raw == "sig")) {
    why = "'use' is not \"sig\"";
    return false;
  }
  std::string a, b;
  if (kty == "RSA") {
    if (!b64Member(m.n, "n", a, why) || !b64Member(m.e, "e", b, why)) {
      return false;
    }
    if (a.size() > 2048 || b.size() > 8) {
      why = "RSA 'n' or 'e' too large";
      return false;
    }
    out.type = JwkType::Rsa;
    out.pkey = rsaFrom(a, b);
    if (!out.pkey) {
      why = "not a valid RSA public key";
      return false;
    }
    std::string err;
    JwkType t;
    if (!jwkTypeOfPkey(out.pkey.get(), t, err)) {
      why = err;
      return false;
    }
    return true;
  }
  if (kty == "EC") {
    size_t len = 0;
    const char* group = nullptr;
    if (m.crv.type == JsonType::String && m.crv.raw == "P-256") {
      len = 32, group = "prime256v1", out.type = JwkType::EcP256;
    } else if (m.crv.type == JsonType::String && m.crv.raw == "P-384") {
      len = 48, group = "secp384r1", out.type = JwkType::EcP384;
    } else {
      why = "EC 'crv' must be P-256 or P-384";
      return false;
    }
    if (!b64Member(m.x, "x", a, why) || !b64Member(m.y, "y", b, why)) {
      return false;
    }
    if (a.size() != len || b.size() != len) {
      why = absl::StrCat("EC 'x' and 'y' must be ", len, " bytes each");
      return false;
    }
    out.pkey = ecFrom(group, a, b);
    if (!out.pkey) {
      why = "EC point is not on the curve";
      return false;
    }
    return true;
  }
  if (kty == "OKP") {
    if (!(m.crv.type == JsonType::String && m.crv.raw == "Ed25519")) {
      why = "OKP 'crv' must be Ed25519";
      return false;
    }
    if (!b64Member(m.x, "x", a, why)) {
      return false;
    }
    if (a.size() != 32) {
      why = "Ed25519 'x' must be 32 bytes";
      return false;
    }
    out.type = JwkType::Ed25519;
    out.pkey.reset(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(a.data()), a.size()));
    if (!out.pkey) {
      why = "not a valid Ed25519 public key";
      return false;
    }
    return true;
  }
  if (kty == "oct") {
    if (!b64Member(m.k, "k", out.secret, why)) {
      return false;
    }
    out.type = JwkType::Oct;
    return true;
  }
  why = absl::StrCat("unsupported kty '", kty, "'");
  return false;
}

} // namespace

bool parseJwks(absl::string_view json, std::vector<Jwk>& out, std::vector<std::string>& skipped,
               std::string& error) {
  out.clear();
  skipped.clear();
  JsonValue keys;
  if (!scanJsonObject(json, [&keys](absl::string_view k, const JsonValue& v) {
        if (k == "keys") {
          keys = v;
        }
        return true;
      })) {
    error = "not a JSON object";
    return false;
  }
  if (keys.type != JsonType::Array) {
    error = "no \"keys\" array";
    return false;
  }
  size_t i = 0;
  const bool ok = forEachJsonArrayElement(keys.raw, [&](const JsonValue& v) {
    const size_t index = i++;
    if (out.size() >= kMaxJwks) {
      skipped.push_back(absl::StrCat("keys[", index, "]: more than ", kMaxJwks, " keys"));
      return true;
    }
    Jwk key;
    std::string why;
    if (parseKey(v, key, why)) {
      out.push_back(std::move(key));
    } else {
      skipped.push_back(absl::StrCat("keys[", index, "]: ", why));
    }
    return true;
  });
  if (!ok) {
    out.clear();
    skipped.clear();
    error = "\"keys\" is not a valid JSON array";
    return false;
  }
  return true;
}

} // namespace gw::policy
