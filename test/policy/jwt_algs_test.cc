// JWT algorithms beyond HS/RS256/ES256: PS256/384/512, ES384, EdDSA (Ed25519), with keys
// generated here: good tokens verify, tampered ones and alg/key-type confusion do not.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/policy/jwt.h"
#include "test/policy/test_tokens.h"

namespace gw::policy {
namespace {

using test::hmacToken;
using test::pkeyToken;

constexpr int64_t kNow = 1700000000;

std::shared_ptr<const JwtProvider> pemProvider(EVP_PKEY* k, std::vector<std::string> algs = {}) {
  gateway::v1::AuthProvider proto;
  proto.set_name("p");
  proto.set_public_key_pem(test::publicPem(k));
  for (const auto& a : algs) {
    proto.add_algorithms(a);
  }
  std::vector<FieldError> errors;
  auto out = JwtProvider::create(proto, &errors);
  for (const auto& e : errors) {
    INFO(e.field << ": " << e.message);
  }
  REQUIRE(errors.empty());
  REQUIRE(out != nullptr);
  return out;
}

std::vector<std::string> errorsOf(EVP_PKEY* k, std::vector<std::string> algs) {
  gateway::v1::AuthProvider proto;
  proto.set_name("p");
  proto.set_public_key_pem(test::publicPem(k));
  for (const auto& a : algs) {
    proto.add_algorithms(a);
  }
  std::vector<FieldError> errors;
  CHECK(JwtProvider::create(proto, &errors) == nullptr);
  std::vector<std::string> lines;
  for (const auto& e : errors) {
    lines.push_back(e.field + ": " + e.message);
  }
  return lines;
}

const std::string kClaims = absl::StrCat(R"({"sub":"bob","exp":)", kNow + 60, "}");

JwtStatus verify(const JwtProvider& p, const std::string& token) {
  VerifiedJwt v;
  return p.verify(token, kNow, v);
}

// The token with one character of its payload changed (signature kept).
std::string tampered(std::string token) {
  const size_t at = token.find('.') + 3;
  token[at] = token[at] == 'A' ? 'B' : 'A';
  return token;
}

// The token with its signature's last byte flipped.
std::string badSig(const std::string& token) {
  std::string sig;
  base64UrlDecode(token.substr(token.rfind('.') + 1), sig);
  sig.back() ^= 1;
  return token.substr(0, token.rfind('.') + 1) + test::b64(sig);
}

TEST_CASE("jwt algs: PS256, PS384 and PS512 with an RSA key", "[policy][jwt]") {
  auto rsa = test::rsaKey();
  REQUIRE(rsa);
  auto p = pemProvider(rsa.get(), {"PS256", "PS384", "PS512"});
  CHECK(p->describeAlgorithms() == "PS256,PS384,PS512");
  const std::pair<const char*, const EVP_MD*> algs[] = {
      {"PS256", EVP_sha256()}, {"PS384", EVP_sha384()}, {"PS512", EVP_sha512()}};
  for (const auto& [alg, md] : algs) {
    INFO(alg);
    const std::string t = pkeyToken(kClaims, rsa.get(), alg, md);
    CHECK(verify(*p, t) == JwtStatus::Ok);
    CHECK(verify(*p, tampered(t)) == JwtStatus::BadSignature);
    CHECK(verify(*p, badSig(t)) == JwtStatus::BadSignature);
  }
  // PKCS#1 v1.5 signature presented as PS256 (and RS256 not allowed here).
  const std::string rs = pkeyToken(kClaims, rsa.get(), "RS256");
  CHECK(verify(*p, rs) == JwtStatus::AlgNotAllowed);
  std::string as_ps = test::signingInput(R"({"alg":"PS256","typ":"JWT"})", kClaims);
  as_ps += rs.substr(rs.rfind('.'));
  CHECK(verify(*p, as_ps) == JwtStatus::BadSignature);
  // Another RSA key.
  CHECK(verify(*p, pkeyToken(kClaims, test::rsaKey().get(), "PS256")) == JwtStatus::BadSignature);
  // RS and PS allowed together on one key.
  auto both = pemProvider(rsa.get(), {"RS256", "PS256"});
  CHECK(verify(*both, rs) == JwtStatus::Ok);
  CHECK(verify(*both, pkeyToken(kClaims, rsa.get(), "PS256")) == JwtStatus::Ok);
}

TEST_CASE("jwt algs: ES384 with a P-384 key", "[policy][jwt]") {
  auto ec = test::ecKey("P-384");
  REQUIRE(ec);
  auto p = pemProvider(ec.get());
  CHECK(p->describeAlgorithms() == "ES384");
  const std::string t = pkeyToken(kClaims, ec.get(), "ES384", EVP_sha384());
  CHECK(verify(*p, t) == JwtStatus::Ok);
  CHECK(verify(*p, tampered(t)) == JwtStatus::BadSignature);
  CHECK(verify(*p, badSig(t)) == JwtStatus::BadSignature);
  CHECK(verify(*p, pkeyToken(kClaims, test::ecKey("P-384").get(), "ES384", EVP_sha384())) ==
        JwtStatus::BadSignature);
  // R || S of the P-256 size under ES384.
  CHECK(verify(*p, t.substr(0, t.rfind('.') + 1) + test::b64(std::string(64, 'x'))) ==
        JwtStatus::BadSignature);
  // An ES256 token (a P-256 key) is not accepted by a P-384 provider, and vice versa.
  auto p256 = test::ecKey();
  CHECK(verify(*p, pkeyToken(kClaims, p256.get(), "ES256")) == JwtStatus::AlgNotAllowed);
  CHECK(errorsOf(ec.get(), {"ES256"}) ==
        std::vector<std::string>{"algorithms[0]: ES256 does not fit an EC public key"});
  CHECK(errorsOf(p256.get(), {"ES384"}) ==
        std::vector<std::string>{"algorithms[0]: ES384 does not fit an EC public key"});
  auto p521 = test::ecKey("P-521");
  gateway::v1::AuthProvider proto;
  proto.set_name("p");
  proto.set_public_key_pem(test::publicPem(p521.get()));
  std::vector<FieldError> errors;
  CHECK(JwtProvider::create(proto, &errors) == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message == "EC key on curve 'secp521r1': only P-256 (ES256) and P-384 (ES384)");
}

TEST_CASE("jwt algs: EdDSA with an Ed25519 key", "[policy][jwt]") {
  auto ed = test::edKey();
  REQUIRE(ed);
  auto p = pemProvider(ed.get());
  CHECK(p->describeAlgorithms() == "EdDSA");
  const std::string t = pkeyToken(kClaims, ed.get(), "EdDSA");
  CHECK(verify(*p, t) == JwtStatus::Ok);
  CHECK(verify(*p, tampered(t)) == JwtStatus::BadSignature);
  CHECK(verify(*p, badSig(t)) == JwtStatus::BadSignature);
  CHECK(verify(*p, pkeyToken(kClaims, test::edKey().get(), "EdDSA")) == JwtStatus::BadSignature);
  // A truncated signature.
  CHECK(verify(*p, t.substr(0, t.size() - 4)) != JwtStatus::Ok);
  CHECK(errorsOf(ed.get(), {"ES256"}) ==
        std::vector<std::string>{"algorithms[0]: ES256 does not fit an Ed25519 public key"});
}

TEST_CASE("jwt algs: alg / key-type confusion is refused", "[policy][jwt]") {
  auto rsa = test::rsaKey();
  auto ec = test::ecKey("P-384");
  auto ed = test::edKey();
  auto rp = pemProvider(rsa.get(), {"RS256", "PS256"});
  // HS256 signed with the RSA public key PEM as the HMAC secret.
  CHECK(verify(*rp, hmacToken(kClaims, test::publicPem(rsa.get()))) == JwtStatus::AlgNotAllowed);
  // alg: none, with and without a signature.
  CHECK(verify(*rp, test::signingInput(R"({"alg":"none"})", kClaims) + ".") ==
        JwtStatus::AlgNotAllowed);
  CHECK(verify(*rp, test::signingInput(R"({"alg":"none"})", kClaims) + ".AAAA") ==
        JwtStatus::AlgNotAllowed);
  // Algorithms that do not fit the key are refused at config load.
  CHECK(errorsOf(rsa.get(), {"EdDSA", "ES384", "HS256"}) ==
        std::vector<std::string>{
            "algorithms[0]: EdDSA does not fit an RSA public key",
            "algorithms[1]: ES384 does not fit an RSA public key",
            "algorithms[2]: HS256 does not fit an RSA public key"});
  // An EdDSA token against the EC provider, an ES384 token against the Ed25519 provider.
  auto ep = pemProvider(ec.get());
  auto dp = pemProvider(ed.get());
  CHECK(verify(*ep, pkeyToken(kClaims, ed.get(), "EdDSA")) == JwtStatus::AlgNotAllowed);
  CHECK(verify(*dp, pkeyToken(kClaims, ec.get(), "ES384", EVP_sha384())) ==
        JwtStatus::AlgNotAllowed);
  // A token that claims EdDSA but carries an ES384 signature.
  const std::string es = pkeyToken(kClaims, ec.get(), "ES384", EVP_sha384());
  CHECK(verify(*dp, test::signingInput(R"({"alg":"EdDSA"})", kClaims) + es.substr(es.rfind('.'))) ==
        JwtStatus::BadSignature);
}

} // namespace
} // namespace gw::policy
