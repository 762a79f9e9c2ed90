// JWKS: the parser (every key type, skipped keys with reasons, documents that are not a JWKS) and
// an auth provider with an inline `jwks` (kid selects the key, a token without a kid tries every
// fitting key, unknown kid, a key's own "alg", alg/key-type confusion).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "source/policy/jwks.h"
#include "source/policy/jwt.h"
#include "test/policy/test_tokens.h"

namespace gw::policy {
namespace {

using test::hmacToken;
using test::pkeyToken;
using test::publicJwk;

constexpr int64_t kNow = 1700000000;
const std::string kClaims = absl::StrCat(R"({"sub":"bob","exp":)", kNow + 60, "}");

JwtStatus verify(const JwtProvider& p, const std::string& token) {
  VerifiedJwt v;
  return p.verify(token, kNow, v);
}

std::vector<FieldError> createErrors(const std::string& jwks, std::vector<std::string> algs = {}) {
  gateway::v1::AuthProvider proto;
  proto.set_name("j");
  proto.set_jwks(jwks);
  for (const auto& a : algs) {
    proto.add_algorithms(a);
  }
  std::vector<FieldError> errors;
  CHECK(JwtProvider::create(proto, &errors) == nullptr);
  return errors;
}

std::shared_ptr<const JwtProvider> jwksProvider(const std::string& jwks,
                                                std::vector<std::string> algs = {}) {
  gateway::v1::AuthProvider proto;
  proto.set_name("j");
  proto.set_jwks(jwks);
  for (const auto& a : algs) {
    proto.add_algorithms(a);
  }
  std::vector<FieldError> errors;
  auto p = JwtProvider::create(proto, &errors);
  for (const auto& e : errors) {
    INFO(e.field << ": " << e.message);
    CHECK(false);
  }
  REQUIRE(p != nullptr);
  return p;
}

TEST_CASE("jwks: every supported key type parses", "[policy][jwks]") {
  auto rsa = test::rsaKey();
  auto p256 = test::ecKey("P-256");
  auto p384 = test::ecKey("P-384");
  auto ed = test::edKey();
  const std::string doc = absl::StrCat(
      R"({"keys":[)", publicJwk(rsa.get(), "r"), ",", publicJwk(p256.get(), "e1"), ",",
      publicJwk(p384.get(), "e2"), ",", publicJwk(ed.get(), "d"), ",",
      R"({"kty":"oct","k":")", test::b64("a-shared-secret"), R"(","kid":"h","alg":"HS256"}]})");
  std::vector<Jwk> keys;
  std::vector<std::string> skipped;
  std::string error;
  REQUIRE(parseJwks(doc, keys, skipped, error));
  CHECK(skipped.empty());
  REQUIRE(keys.size() == 5);
  CHECK(keys[0].type == JwkType::Rsa);
  CHECK(keys[0].kid == "r");
  CHECK(EVP_PKEY_eq(keys[0].pkey.get(), rsa.get()) == 1);
  CHECK(keys[1].type == JwkType::EcP256);
  CHECK(EVP_PKEY_eq(keys[1].pkey.get(), p256.get()) == 1);
  CHECK(keys[2].type == JwkType::EcP384);
  CHECK(EVP_PKEY_eq(keys[2].pkey.get(), p384.get()) == 1);
  CHECK(keys[3].type == JwkType::Ed25519);
  CHECK(EVP_PKEY_eq(keys[3].pkey.get(), ed.get()) == 1);
  CHECK(keys[4].type == JwkType::Oct);
  CHECK(keys[4].secret == "a-shared-secret");
  CHECK(keys[4].alg == "HS256");
}

TEST_CASE("jwks: unusable keys are skipped with a reason, non-JWKS documents fail",
          "[policy][jwks]") {
  std::vector<Jwk> keys;
  std::vector<std::string> skipped;
  std::string error;
  for (const char* bad : {"", "[]", "{}", R"({"keys":{}})", R"({"keys":[1,]})", "{\"keys\":[]",
                          R"({"keys":"x"})"}) {
    INFO(bad);
    CHECK_FALSE(parseJwks(bad, keys, skipped, error));
    CHECK(keys.empty());
  }
  auto small = test::rsaKey(1024);
  auto ec = test::ecKey();
  std::string on_curve = publicJwk(ec.get());
  // A point off the curve: y of another key.
  auto other = test::ecKey();
  const std::string other_y = test::bnB64(other.get(), "qy", 32);
  std::string off_curve = absl::StrCat(R"({"kty":"EC","crv":"P-256","x":")",
                                       test::bnB64(ec.get(), "qx", 32), R"(","y":")", other_y,
                                       R"("})");
  const std::string doc = absl::StrCat(
      R"({"keys":[)", "1,", R"({"kty":"XYZ"},)", R"({"kty":"RSA","n":"AQAB"},)",
      publicJwk(small.get()), ",", off_curve, ",", R"({"kty":"EC","crv":"P-521","x":"AA","y":"AA"},)",
      R"({"kty":"OKP","crv":"Ed25519","x":"AAAA"},)", R"({"kty":"oct","k":""},)",
      R"({"kty":"oct","k":"c2VjcmV0","use":"enc"},)", on_curve, "]}");
  REQUIRE(parseJwks(doc, keys, skipped, error));
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].type == JwkType::EcP256);
  CHECK(skipped == std::vector<std::string>{
                       "keys[0]: not a JSON object",
                       "keys[1]: unsupported kty 'XYZ'",
                       "keys[2]: 'e' must be a non-empty base64url string",
                       "keys[3]: RSA key of 1024 bits is too small (at least 2048)",
                       "keys[4]: EC point is not on the curve",
                       "keys[5]: EC 'crv' must be P-256 or P-384",
                       "keys[6]: Ed25519 'x' must be 32 bytes",
                       "keys[7]: 'k' must be a non-empty base64url string",
                       "keys[8]: 'use' is not \"sig\""});
}

TEST_CASE("jwks: more than 32 keys are cut off", "[policy][jwks]") {
  std::string doc = R"({"keys":[)";
  for (int i = 0; i < 40; i++) {
    absl::StrAppend(&doc, i ? "," : "", R"({"kty":"oct","k":"c2VjcmV0","kid":"k)", i, R"("})");
  }
  doc += "]}";
  std::vector<Jwk> keys;
  std::vector<std::string> skipped;
  std::string error;
  REQUIRE(parseJwks(doc, keys, skipped, error));
  CHECK(keys.size() == kMaxJwks);
  CHECK(skipped.size() == 8);
}

TEST_CASE("jwks provider: kid selects the key, no kid tries every fitting key",
          "[policy][jwks]") {
  auto a = test::rsaKey();
  auto b = test::rsaKey();
  auto ed = test::edKey();
  auto p = jwksProvider(absl::StrCat(R"({"keys":[)", publicJwk(a.get(), "a"), ",",
                                     publicJwk(b.get(), "b"), ",", publicJwk(ed.get(), "d"),
                                     "]}"));
  CHECK(p->keyCount() == 3);
  CHECK(p->describeAlgorithms() == "RS256,EdDSA");
  CHECK(verify(*p, pkeyToken(kClaims, a.get(), "RS256", EVP_sha256(), "a")) == JwtStatus::Ok);
  CHECK(verify(*p, pkeyToken(kClaims, b.get(), "RS256", EVP_sha256(), "b")) == JwtStatus::Ok);
  CHECK(verify(*p, pkeyToken(kClaims, ed.get(), "EdDSA", nullptr, "d")) == JwtStatus::Ok);
  // The kid names the other key: not tried with the right one.
  CHECK(verify(*p, pkeyToken(kClaims, a.get(), "RS256", EVP_sha256(), "b")) ==
        JwtStatus::BadSignature);
  // Unknown kid.
  CHECK(verify(*p, pkeyToken(kClaims, a.get(), "RS256", EVP_sha256(), "zzz")) ==
        JwtStatus::UnknownKey);
  CHECK(std::string(jwtStatusCode(JwtStatus::UnknownKey)) == "jwt_unknown_kid");
  // No kid: every RSA key is tried.
  CHECK(verify(*p, pkeyToken(kClaims, a.get(), "RS256")) == JwtStatus::Ok);
  CHECK(verify(*p, pkeyToken(kClaims, b.get(), "RS256")) == JwtStatus::Ok);
  CHECK(verify(*p, pkeyToken(kClaims, test::rsaKey().get(), "RS256")) == JwtStatus::BadSignature);
  // A kid of the wrong key type for the alg: the Ed25519 key never checks an RS256 token.
  CHECK(verify(*p, pkeyToken(kClaims, a.get(), "RS256", EVP_sha256(), "d")) ==
        JwtStatus::UnknownKey);
  // Alg confusion: HS256 with a public key's JWK as the secret; alg none.
  CHECK(verify(*p, hmacToken(kClaims, publicJwk(a.get(), "a"))) == JwtStatus::AlgNotAllowed);
  CHECK(verify(*p, test::signingInput(R"({"alg":"none","kid":"a"})", kClaims) + ".") ==
        JwtStatus::AlgNotAllowed);
  // A kid that is not a string.
  CHECK(verify(*p, test::signingInput(R"({"alg":"RS256","kid":7})", kClaims) + ".AAAA") ==
        JwtStatus::Malformed);
}

TEST_CASE("jwks provider: oct keys, a key's own alg, and config errors", "[policy][jwks]") {
  const std::string secret = "0123456789abcdef0123456789abcdef";
  auto rsa = test::rsaKey();
  auto p = jwksProvider(absl::StrCat(R"({"keys":[{"kty":"oct","kid":"h","alg":"HS384","k":")",
                                     test::b64(secret), R"("},)",
                                     publicJwk(rsa.get(), "r"), "]}"),
                        {"HS384", "RS256", "PS256"});
  CHECK(verify(*p, hmacToken(kClaims, secret, "HS384", EVP_sha384())) == JwtStatus::Ok);
  // The RSA key's JWK text as an HMAC secret never verifies: the oct key is the only HS key.
  CHECK(verify(*p, hmacToken(kClaims, publicJwk(rsa.get(), "r"), "HS384", EVP_sha384())) ==
        JwtStatus::BadSignature);
  CHECK(verify(*p, pkeyToken(kClaims, rsa.get(), "PS256", EVP_sha256(), "r")) == JwtStatus::Ok);

  // A key restricted to RS256 by its "alg" member does not verify PS256.
  auto q = jwksProvider(absl::StrCat(R"({"keys":[)",
                                     publicJwk(rsa.get(), "r").insert(1, R"("alg":"RS256",)"),
                                     "]}"),
                        {"RS256", "PS256"});
  CHECK(verify(*q, pkeyToken(kClaims, rsa.get(), "RS256", EVP_sha256(), "r")) == JwtStatus::Ok);
  CHECK(verify(*q, pkeyToken(kClaims, rsa.get(), "PS256", EVP_sha256(), "r")) ==
        JwtStatus::UnknownKey);

  auto one = [](const std::vector<FieldError>& e) {
    REQUIRE(e.size() == 1);
    return e[0].field + ": " + e[0].message;
  };
  CHECK(one(createErrors("{")) == "jwks: not a JSON Web Key Set: not a JSON object");
  CHECK(one(createErrors(R"({"keys":[]})")) == "jwks: the key set has no keys");
  CHECK(one(createErrors(R"({"keys":[{"kty":"RSA"}]})")) ==
        "jwks: unusable key keys[0]: 'n' must be a non-empty base64url string");
  CHECK(one(createErrors(absl::StrCat(R"({"keys":[)", publicJwk(rsa.get()), "]}"), {"ES256"})) ==
        "algorithms[0]: ES256 fits no key of the jwks");
  CHECK(one(createErrors(R"({"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"RS256"}]})")) ==
        "jwks: keys[0]: alg 'RS256' does not fit a oct key");
}

} // namespace
} // namespace gw::policy
