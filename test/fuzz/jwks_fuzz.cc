// Fuzzes gw::policy::parseJwks (source/policy/jwks.h) and an auth provider built from the input
// as its inline `jwks`. Invariants: a failed parse leaves no keys; a successful one yields at
// most kMaxJwks keys, each with its material (a public key of the stated type, or a non-empty
// oct secret), and parsing again gives the same keys; a provider is created exactly when the
// whole set is usable, and a fixed token verifies against it without crashing. Any violation
// abort()s.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "absl/strings/string_view.h"
#include "source/policy/jwks.h"
#include "source/policy/jwt.h"

namespace gw::fuzz {
namespace {

[[noreturn]] void fail(const char* what) {
  fprintf(stderr, "jwks fuzz invariant violated: %s\n", what);
  abort();
}

bool typeMatches(const policy::Jwk& k) {
  if (k.type == policy::JwkType::Oct) {
    return !k.secret.empty() && !k.pkey;
  }
  if (!k.pkey) {
    return false;
  }
  policy::JwkType t;
  std::string error;
  return policy::jwkTypeOfPkey(k.pkey.get(), t, error) && t == k.type;
}

} // namespace
} // namespace gw::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gw;
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<policy::Jwk> keys, again;
  std::vector<std::string> skipped, skipped_again;
  std::string error;
  const bool ok = policy::parseJwks(in, keys, skipped, error);
  if (!ok) {
    if (!keys.empty() || error.empty()) {
      fuzz::fail("failed parse with keys or without an error");
    }
  } else {
    if (keys.size() > policy::kMaxJwks) {
      fuzz::fail("more than kMaxJwks keys");
    }
    for (const auto& k : keys) {
      if (!fuzz::typeMatches(k)) {
        fuzz::fail("a key without its material or of another type");
      }
    }
    if (!policy::parseJwks(in, again, skipped_again, error) || again.size() != keys.size() ||
        skipped_again != skipped) {
      fuzz::fail("second parse differs");
    }
    for (size_t i = 0; i < keys.size(); i++) {
      if (again[i].kid != keys[i].kid || again[i].type != keys[i].type ||
          again[i].secret != keys[i].secret ||
          (keys[i].pkey && EVP_PKEY_eq(keys[i].pkey.get(), again[i].pkey.get()) != 1)) {
        fuzz::fail("second parse gives other keys");
      }
    }
  }

  gateway::v1::AuthProvider proto;
  proto.set_name("fuzz");
  proto.set_jwks(std::string(in));
  std::vector<policy::FieldError> errors;
  auto provider = policy::JwtProvider::create(proto, &errors);
  if ((provider != nullptr) != errors.empty()) {
    fuzz::fail("provider and errors disagree");
  }
  if (provider != nullptr) {
    if (!ok || !skipped.empty() || keys.empty() || provider->keyCount() != keys.size()) {
      fuzz::fail("a provider from a set that is not wholly usable");
    }
    // HS256 {"alg":"HS256","kid":"a"}.{"exp":1}, signature "sig".
    policy::VerifiedJwt v;
    if (provider->verify("eyJhbGciOiJIUzI1NiIsImtpZCI6ImEifQ.eyJleHAiOjF9.c2ln", 0, v) ==
        policy::JwtStatus::Ok) {
      fuzz::fail("a forged token verified");
    }
  }
  return 0;
}
