#pragma once
// JSON Web Key Sets (RFC 7517) -> verification keys: RSA (n, e), EC P-256 / P-384 (x, y), OKP
// Ed25519 (x) and oct (k). Used for the inline `jwks` of an auth provider (jwt.cc) and by
// jwks_fuzz.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace gw::policy {

enum class JwkType { Oct, Rsa, EcP256, EcP384, Ed25519 };
const char* jwkTypeName(JwkType t);

struct PkeyFree {
  void operator()(EVP_PKEY* k) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct Jwk {
  std::string kid;     // empty: the key has none
  std::string alg;     // the key's "alg" member, empty when absent
  JwkType type = JwkType::Oct;
  std::string secret;  // oct: the key bytes
  PkeyPtr pkey;        // the others: the public key
};

// At most this many keys are taken from one set (the rest are reported as skipped).
constexpr size_t kMaxJwks = 32;

// Parses `json` ({"keys": [...]}) into `out`. Returns false (and `error`) when the document is not
// a JWKS at all. A key that is not usable is skipped and described in `skipped`
// ("keys[2]: EC curve 'P-521' is not supported"): an unknown kty, "use" other than "sig", bad or
// missing members, an RSA modulus under 2048 bits, an EC point not on its curve.
bool parseJwks(absl::string_view json, std::vector<Jwk>& out, std::vector<std::string>& skipped,
               std::string& error);

// The type of a PEM-loaded public key; false (and `error`) when it is not one we verify with.
bool jwkTypeOfPkey(EVP_PKEY* k, JwkType& out, std::string& error);

} // namespace gw::policy
