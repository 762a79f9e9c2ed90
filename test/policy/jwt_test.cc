// JWT verification: signatures (HS*, RS256, ES256 with keys generated here), every failure
// status, alg confusion, time claims with skew, issuer and audience, provider validation.
#include <random>
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
constexpr char kSecret[] = "unit-test-secret";

std::shared_ptr<const JwtProvider> provider(const gateway::v1::AuthProvider& p) {
  std::vector<FieldError> errors;
  auto out = JwtProvider::create(p, &errors);
  std::vector<std::string> lines;
  for (const auto& e : errors) {
    lines.push_back(e.field + ": " + e.message);
  }
  INFO(absl::StrJoin(lines, "\n"));
  REQUIRE(out != nullptr);
  return out;
}

std::vector<std::string> errorsOf(const gateway::v1::AuthProvider& p) {
  std::vector<FieldError> errors;
  auto out = JwtProvider::create(p, &errors);
  CHECK(out == nullptr);
  std::vector<std::string> lines;
  for (const auto& e : errors) {
    lines.push_back(e.field + ": " + e.message);
  }
  return lines;
}

gateway::v1::AuthProvider hsProvider() {
  gateway::v1::AuthProvider p;
  p.set_name("main");
  p.set_secret(kSecret);
  p.set_issuer("https://issuer.test");
  p.add_audiences("api");
  (*p.mutable_claim_headers())["sub"] = "X-User-Id";
  (*p.mutable_claim_headers())["tier"] = "x-tier";
  return p;
}

std::string claims(const std::string& extra = "") {
  return absl::StrCat(R"({"sub":"alice","iss":"https://issuer.test","aud":"api","iat":)", kNow,
                      R"(,"exp":)", kNow + 600, extra, "}");
}

JwtStatus verify(const JwtProvider& p, const std::string& token, int64_t now = kNow) {
  VerifiedJwt v;
  return p.verify(token, now, v);
}

TEST_CASE("jwt: a valid HS256 token yields its claims", "[policy][jwt]") {
  auto p = provider(hsProvider());
  VerifiedJwt v;
  const std::string token = hmacToken(claims(R"(,"tier":"gold")"), kSecret);
  REQUIRE(p->verify(token, kNow, v) == JwtStatus::Ok);
  CHECK(v.has_exp);
  CHECK(v.exp == kNow + 600);
  std::string s;
  REQUIRE(jsonScalarText(v.sub, s));
  CHECK(s == "alice");
  // claim_headers are sorted by header name: x-tier, x-user-id.
  REQUIRE(p->claimHeaders().size() == 2);
  CHECK(p->claimHeaders()[0].second == "x-tier");
  CHECK(p->claimHeaders()[1].second == "x-user-id");
  REQUIRE(jsonScalarText(v.claims[0], s));
  CHECK(s == "gold");
  REQUIRE(jsonScalarText(v.claims[1], s));
  CHECK(s == "alice");
}

TEST_CASE("jwt: HS384 and HS512 when allowed", "[policy][jwt]") {
  auto proto = hsProvider();
  proto.add_algorithms("HS384");
  proto.add_algorithms("HS512");
  auto p = provider(proto);
  CHECK(verify(*p, hmacToken(claims(), kSecret, "HS384", EVP_sha384())) == JwtStatus::Ok);
  CHECK(verify(*p, hmacToken(claims(), kSecret, "HS512", EVP_sha512())) == JwtStatus::Ok);
  CHECK(verify(*p, hmacToken(claims(), kSecret, "HS256")) == JwtStatus::AlgNotAllowed);
  // The header's alg decides the digest: an HS512 MAC under an HS384 header fails.
  CHECK(verify(*p, hmacToken(claims(), kSecret, "HS384", EVP_sha512())) ==
        JwtStatus::BadSignature);
}

TEST_CASE("jwt: every failure has its own status", "[policy][jwt]") {
  auto p = provider(hsProvider());
  const std::string good = hmacToken(claims(), kSecret);
  CHECK(verify(*p, good) == JwtStatus::Ok);
  CHECK(verify(*p, "") == JwtStatus::Missing);
  CHECK(verify(*p, "abc") == JwtStatus::Malformed);
  CHECK(verify(*p, "a.b") == JwtStatus::Malformed);
  CHECK(verify(*p, "a.b.c.d.e") == JwtStatus::Malformed);
  CHECK(verify(*p, good + "=") == JwtStatus::Malformed);
  CHECK(verify(*p, "!!!." + good.substr(good.find('.') + 1)) == JwtStatus::Malformed);
  CHECK(verify(*p, hmacToken(claims(), "other-secret")) == JwtStatus::BadSignature);
  CHECK(verify(*p, good.substr(0, good.rfind('.') + 1)) == JwtStatus::BadSignature);
  // Payload tampered after signing.
  {
    const size_t d1 = good.find('.'), d2 = good.rfind('.');
    const std::string forged = good.substr(0, d1 + 1) +
                               test::b64(claims(R"(,"admin":true)")) + good.substr(d2);
    CHECK(verify(*p, forged) == JwtStatus::BadSignature);
  }
  CHECK(verify(*p, good, kNow + 600 + 60) == JwtStatus::Expired);     // past exp + skew
  CHECK(verify(*p, good, kNow + 600 + 59) == JwtStatus::Ok);          // within skew
  CHECK(verify(*p, good, kNow - 61) == JwtStatus::NotYetValid);        // iat in the future
  CHECK(verify(*p, hmacToken(absl::StrCat(R"({"iss":"https://issuer.test","aud":"api","exp":)",
                                          kNow + 600, R"(,"nbf":)", kNow + 100, "}"),
                             kSecret)) == JwtStatus::NotYetValid);
  CHECK(verify(*p, hmacToken(R"({"iss":"https://issuer.test","aud":"api"})", kSecret)) ==
        JwtStatus::MissingExp);
  CHECK(verify(*p, hmacToken(absl::StrCat(R"({"iss":"https://evil.test","aud":"api","exp":)",
                                          kNow + 600, "}"),
                             kSecret)) == JwtStatus::BadIssuer);
  CHECK(verify(*p, hmacToken(absl::StrCat(R"({"aud":"api","exp":)", kNow + 600, "}"), kSecret)) ==
        JwtStatus::BadIssuer);
  CHECK(verify(*p, hmacToken(absl::StrCat(R"({"iss":"https://issuer.test","aud":"web","exp":)",
                                          kNow + 600, "}"),
                             kSecret)) == JwtStatus::BadAudience);
  CHECK(verify(*p, hmacToken(absl::StrCat(R"({"iss":"https://issuer.test","exp":)", kNow + 600,
                                          "}"),
                             kSecret)) == JwtStatus::BadAudience);
  // Audience arrays: any element matches.
  CHECK(verify(*p, hmacToken(absl::StrCat(R"({"iss":"https://issuer.test","aud":["web","api"],)"
                                          R"("exp":)",
                                          kNow + 600, "}"),
                             kSecret)) == JwtStatus::Ok);
  // Claims of the wrong type are malformed, not ignored.
  CHECK(verify(*p, hmacToken(R"({"iss":"https://issuer.test","aud":"api","exp":"soon"})",
                             kSecret)) == JwtStatus::Malformed);
  // Duplicate claims are ambiguous.
  CHECK(verify(*p, hmacToken(absl::StrCat(R"({"iss":"https://issuer.test","aud":"api","exp":)",
                                          kNow + 600, R"(,"exp":)", kNow + 99999, "}"),
                             kSecret)) == JwtStatus::Malformed);
  // Not JSON at all.
  CHECK(verify(*p, hmacToken("not json", kSecret)) == JwtStatus::Malformed);
  for (JwtStatus s : {JwtStatus::Missing, JwtStatus::Malformed, JwtStatus::AlgNotAllowed,
                      JwtStatus::BadSignature, JwtStatus::Expired, JwtStatus::MissingExp,
                      JwtStatus::NotYetValid, JwtStatus::BadIssuer, JwtStatus::BadAudience}) {
    CHECK(absl::string_view(jwtStatusCode(s)).substr(0, 4) == "jwt_");
  }
}

TEST_CASE("jwt: alg none and unknown algs are never accepted", "[policy][jwt]") {
  auto p = provider(hsProvider());
  const std::string none = absl::StrCat(test::signingInput(R"({"alg":"none"})", claims()), ".");
  CHECK(verify(*p, none) == JwtStatus::AlgNotAllowed);
  const std::string none_sig = hmacToken(claims(), kSecret, "none");
  CHECK(verify(*p, none_sig) == JwtStatus::AlgNotAllowed);
  CHECK(verify(*p, hmacToken(claims(), kSecret, "hs256")) == JwtStatus::AlgNotAllowed);
  // A header without alg, or with crit, is malformed.
  CHECK(verify(*p, test::signingInput(R"({"typ":"JWT"})", claims()) + ".AAAA") ==
        JwtStatus::Malformed);
  CHECK(verify(*p, test::signingInput(R"({"alg":"HS256","crit":["x"]})", claims()) + ".AAAA") ==
        JwtStatus::Malformed);
}

TEST_CASE("jwt: RS256 and ES256 with keys generated here", "[policy][jwt]") {
  auto rsa = test::rsaKey();
  REQUIRE(rsa);
  gateway::v1::AuthProvider proto;
  proto.set_name("rsa");
  proto.set_public_key_pem(test::publicPem(rsa.get()));
  auto p = provider(proto);
  CHECK(p->describeAlgorithms() == "RS256");
  const std::string c = absl::StrCat(R"({"sub":"bob","exp":)", kNow + 60, "}");
  const std::string token = pkeyToken(c, rsa.get(), "RS256");
  CHECK(verify(*p, token) == JwtStatus::Ok);
  // Another key's signature.
  auto other = test::rsaKey();
  CHECK(verify(*p, pkeyToken(c, other.get(), "RS256")) == JwtStatus::BadSignature);
  // Alg confusion: HS256 with the public key PEM as the HMAC secret.
  CHECK(verify(*p, hmacToken(c, proto.public_key_pem())) == JwtStatus::AlgNotAllowed);
  // RS384 is not in the (default) list.
  CHECK(verify(*p, pkeyToken(c, rsa.get(), "RS384", EVP_sha384())) == JwtStatus::AlgNotAllowed);
  proto.add_algorithms("RS384");
  CHECK(verify(*provider(proto), pkeyToken(c, rsa.get(), "RS384", EVP_sha384())) ==
        JwtStatus::Ok);

  auto ec = test::ecKey();
  REQUIRE(ec);
  gateway::v1::AuthProvider ecp;
  ecp.set_name("ec");
  ecp.set_public_key_pem(test::publicPem(ec.get()));
  auto e = provider(ecp);
  const std::string et = pkeyToken(c, ec.get(), "ES256");
  CHECK(verify(*e, et) == JwtStatus::Ok);
  CHECK(verify(*e, pkeyToken(c, test::ecKey().get(), "ES256")) == JwtStatus::BadSignature);
  // R || S of the wrong size.
  CHECK(verify(*e, et.substr(0, et.rfind('.') + 1) + test::b64(std::string(48, 'x'))) ==
        JwtStatus::BadSignature);
  CHECK(verify(*e, token) == JwtStatus::AlgNotAllowed);                       // an RS256 token
}

TEST_CASE("jwt: provider validation names fields", "[policy][jwt]") {
  gateway::v1::AuthProvider p;
  p.set_name("x");
  CHECK(errorsOf(p) == std::vector<std::string>{
                           "secret: key material required: one of secret, secret_env, "
                           "public_key_pem, jwks or remote_jwks"});
  p.set_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  CHECK(errorsOf(p) == std::vector<std::string>{
                           "public_key_pem: not a PEM public key (expected -----BEGIN PUBLIC "
                           "KEY-----)"});
  p.set_secret("s");
  CHECK(errorsOf(p) == std::vector<std::string>{
                           "public_key_pem: only one of secret, secret_env, public_key_pem, "
                           "jwks or remote_jwks may be set"});
  p.clear_public_key_pem();
  p.add_algorithms("RS256");
  p.add_algorithms("none");
  p.mutable_clock_skew()->set_seconds(-1);
  p.mutable_token_source()->set_header("bad header");
  (*p.mutable_claim_headers())["sub"] = "content-length";
  CHECK(errorsOf(p) ==
        std::vector<std::string>{
            "algorithms[0]: RS256 needs public_key_pem, not a secret",
            "algorithms[1]: unknown algorithm 'none' (HS256, HS384, HS512, RS256, RS384, RS512, "
            "PS256, PS384, PS512, ES256, ES384, EdDSA)",
            "clock_skew: must not be negative",
            "token_source.header: invalid header name 'bad header'",
            "claim_headers: claim 'sub': header 'content-length' cannot be set from a claim"});

  gateway::v1::AuthProvider dup;
  dup.set_name("dup");
  dup.set_secret("s");
  (*dup.mutable_claim_headers())["sub"] = "x-user";
  (*dup.mutable_claim_headers())["uid"] = "X-User";
  const auto dup_errors = errorsOf(dup);
  REQUIRE(dup_errors.size() == 1);
  CHECK(dup_errors[0].find("both set header 'x-user'") != std::string::npos);

  gateway::v1::AuthProvider weak;
  weak.set_name("weak");
  weak.set_public_key_pem(test::publicPem(test::rsaKey(1024).get()));
  CHECK(errorsOf(weak) == std::vector<std::string>{
                              "public_key_pem: RSA key of 1024 bits is too small (at least 2048)"});
  gateway::v1::AuthProvider ecp;
  ecp.set_name("ec");
  ecp.set_public_key_pem(test::publicPem(test::ecKey().get()));
  ecp.add_algorithms("RS256");
  CHECK(errorsOf(ecp) == std::vector<std::string>{
                             "algorithms[0]: RS256 does not fit an EC public key"});
  gateway::v1::AuthProvider env;
  env.set_name("env");
  env.set_secret_env("GW_TEST_SURELY_UNSET_VARIABLE");
  CHECK(errorsOf(env) == std::vector<std::string>{
                             "secret_env: environment variable 'GW_TEST_SURELY_UNSET_VARIABLE' is "
                             "not set or empty"});
  setenv("GW_TEST_JWT_SECRET", kSecret, 1);
  env.set_secret_env("GW_TEST_JWT_SECRET");
  CHECK(verify(*provider(env), hmacToken(claims(), kSecret)) == JwtStatus::Ok);
}

TEST_CASE("jwt: token extraction from headers and query", "[policy][jwt]") {
  auto p = provider(hsProvider());
  using H = std::vector<std::pair<std::string, std::string>>;
  absl::string_view t;
  // The token is a view into the headers: keep them alive while checking it.
  auto extract = [&](const JwtProvider& prov, H headers, absl::string_view query,
                     std::string* token) {
    static H keep;
    keep = std::move(headers);
    absl::string_view v;
    JwtStatus st = prov.extract(keep, query, v);
    *token = std::string(v);
    return st;
  };
  std::string tok;
  CHECK(extract(*p, H{}, "", &tok) == JwtStatus::Missing);
  CHECK(extract(*p, H{{"authorization", "Bearer abc"}}, "", &tok) == JwtStatus::Ok);
  CHECK(tok == "abc");
  CHECK(extract(*p, H{{"authorization", "bearer  abc "}}, "", &tok) == JwtStatus::Ok);
  CHECK(tok == "abc");
  CHECK(extract(*p, H{{"authorization", "Basic abc"}}, "", &tok) == JwtStatus::Malformed);
  CHECK(extract(*p, H{{"authorization", "Bearer a"}, {"authorization", "Bearer b"}}, "", &tok) ==
        JwtStatus::Malformed);
  CHECK(extract(*p, H{{"authorization", "Bearer "}}, "", &tok) == JwtStatus::Missing);

  auto q = hsProvider();
  q.mutable_token_source()->set_query_param("access_token");
  auto qp = provider(q);
  CHECK(extract(*qp, H{{"authorization", "Bearer abc"}}, "", &tok) == JwtStatus::Missing);
  CHECK(qp->extract(H{}, "a=1&access_token=xyz&b=2", t) == JwtStatus::Ok);
  CHECK(t == "xyz");  // a view into the query, which is still alive
  CHECK(qp->extract(H{}, "access_token=x&access_token=y", t) == JwtStatus::Malformed);
  // A percent-encoded key names the same parameter (as the router reads it): an encoded second
  // copy is ambiguous, not ignored, and an encoded key alone carries the token.
  CHECK(qp->extract(H{}, "access_token=x&%61ccess_token=y", t) == JwtStatus::Malformed);
  CHECK(qp->extract(H{}, "%61ccess%5Ftoken=xyz", t) == JwtStatus::Ok);
  CHECK(t == "xyz");

  auto custom = hsProvider();
  custom.mutable_token_source()->set_header("X-Token");
  auto cp = provider(custom);
  CHECK(cp->prefix().empty());
  CHECK(extract(*cp, H{{"x-token", "raw"}}, "", &tok) == JwtStatus::Ok);
  CHECK(tok == "raw");
}

// Mutated tokens (bytes flipped, inserted, cut; random JSON in the header and claims) never
// crash and never verify. Run under --config=asan to catch reads past buffers.
TEST_CASE("jwt: mutated and random tokens are rejected, never crash", "[policy][jwt]") {
  auto p = provider(hsProvider());
  const std::string good = hmacToken(claims(R"(,"tier":"gold","n":[1,{"a":"\u00e9"}])"), kSecret);
  REQUIRE(verify(*p, good) == JwtStatus::Ok);
  std::mt19937 rng(12345);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
  for (int i = 0; i < 20000; i++) {
    std::string t = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; e++) {
      const size_t pos = rng() % (t.size() + 1);
      switch (rng() % 4) {
      case 0:
        if (pos < t.size()) {
          t[pos] = alphabet[rng() % alphabet.size()];
        }
        break;
      case 1: t.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
      case 2: t = t.substr(0, pos); break;
      default:
        if (pos < t.size()) {
          t[pos] = static_cast<char>(rng() % 256);
        }
      }
    }
    if (t == good) {
      continue;
    }
    VerifiedJwt v;
    INFO(t);
    CHECK(p->verify(t, kNow, v) != JwtStatus::Ok);
  }
  // Signed garbage: the claims are random bytes / random JSON-ish text, correctly signed.
  const std::string pieces[] = {"{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "d83d", "1",
                                "-", "e", ".", "true", "null", "\"exp\"", "\"aud\"", " ", "\x01"};
  for (int i = 0; i < 5000; i++) {
    std::string body;
    const int n = static_cast<int>(rng() % 30);
    for (int k = 0; k < n; k++) {
      body += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
    }
    VerifiedJwt v;
    (void)p->verify(hmacToken(body, kSecret), kNow, v);  // any status, no crash
  }
}

TEST_CASE("jwt: the token cache answers repeats and still checks the time", "[policy][jwt]") {
  auto p = provider(hsProvider());
  REQUIRE(p->tokenCacheSize() == 256);
  const std::string good = hmacToken(claims(R"(,"tier":"gold")"), kSecret);
  const uint64_t hits0 = JwtProvider::cacheHitsOnThisThread();
  VerifiedJwt first;
  REQUIRE(p->verify(good, kNow, first) == JwtStatus::Ok);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits0);  // a miss: verified and stored
  // Overwrite the verifier's buffers with another token, then the cached one: same claims.
  REQUIRE(verify(*p, hmacToken(claims(R"(,"tier":"silver")"), kSecret)) == JwtStatus::Ok);
  VerifiedJwt v;
  REQUIRE(p->verify(good, kNow, v) == JwtStatus::Ok);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits0 + 1);
  std::string s;
  CHECK(v.has_exp);
  CHECK(v.exp == kNow + 600);
  REQUIRE(jsonScalarText(v.sub, s));
  CHECK(s == "alice");
  REQUIRE(jsonScalarText(v.claims[0], s));
  CHECK(s == "gold");
  REQUIRE(jsonScalarText(v.claims[1], s));
  CHECK(s == "alice");
  // Time moves on: a cached token expires (exp + skew), and is not valid before its iat - skew.
  CHECK(verify(*p, good, kNow + 600 + 59) == JwtStatus::Ok);
  CHECK(verify(*p, good, kNow + 600 + 60) == JwtStatus::Expired);
  CHECK(verify(*p, good, kNow - 61) == JwtStatus::NotYetValid);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits0 + 4);
  // One byte off is not a hit: the signature is checked (and fails).
  std::string forged = good;
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  CHECK(verify(*p, forged) == JwtStatus::BadSignature);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits0 + 4);
  // Failures are never stored: an expired token stays expired, a bad one stays bad.
  CHECK(verify(*p, forged) == JwtStatus::BadSignature);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits0 + 4);
}

TEST_CASE("jwt: a new provider (new secret) never answers from an old one's cache",
          "[policy][jwt]") {
  auto old_p = provider(hsProvider());
  const std::string good = hmacToken(claims(), kSecret);
  REQUIRE(verify(*old_p, good) == JwtStatus::Ok);
  REQUIRE(verify(*old_p, good) == JwtStatus::Ok);
  auto proto = hsProvider();
  proto.set_secret("rotated-secret");
  auto new_p = provider(proto);
  const uint64_t hits = JwtProvider::cacheHitsOnThisThread();
  CHECK(verify(*new_p, good) == JwtStatus::BadSignature);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits);
  // Same settings, new provider object: its own (empty) cache, so the first call verifies.
  auto same = provider(hsProvider());
  CHECK(verify(*same, good) == JwtStatus::Ok);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits);
  CHECK(verify(*same, good) == JwtStatus::Ok);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits + 1);
}

TEST_CASE("jwt: the token caches of providers gone with an old config are dropped",
          "[policy][jwt]") {
  const std::string good = hmacToken(claims(), kSecret);
  auto a = provider(hsProvider());
  auto b = provider(hsProvider());
  auto c = provider(hsProvider());
  REQUIRE(verify(*a, good) == JwtStatus::Ok);  // earlier tests' dead providers are swept here
  REQUIRE(verify(*b, good) == JwtStatus::Ok);
  REQUIRE(verify(*c, good) == JwtStatus::Ok);
  CHECK(JwtProvider::tokenCachesOnThisThread() == 3);
  // The old config (a) is freed while the new one serves; the next switch between providers
  // that are still alive drops its cache.
  a.reset();
  REQUIRE(verify(*c, good) == JwtStatus::Ok);  // same provider as last time: no sweep
  CHECK(JwtProvider::tokenCachesOnThisThread() == 3);
  REQUIRE(verify(*b, good) == JwtStatus::Ok);
  CHECK(JwtProvider::tokenCachesOnThisThread() == 2);
  b.reset();
  c.reset();
  auto d = provider(hsProvider());
  REQUIRE(verify(*d, good) == JwtStatus::Ok);
  CHECK(JwtProvider::tokenCachesOnThisThread() == 1);  // only d's
}

TEST_CASE("jwt: token_cache_size: off, rounded, bounded, many tokens", "[policy][jwt]") {
  auto proto = hsProvider();
  proto.set_token_cache_size(0);
  auto off = provider(proto);
  CHECK(off->tokenCacheSize() == 0);
  const std::string good = hmacToken(claims(), kSecret);
  const uint64_t hits = JwtProvider::cacheHitsOnThisThread();
  CHECK(verify(*off, good) == JwtStatus::Ok);
  CHECK(verify(*off, good) == JwtStatus::Ok);
  CHECK(JwtProvider::cacheHitsOnThisThread() == hits);

  proto.set_token_cache_size(100);
  auto small = provider(proto);
  CHECK(small->tokenCacheSize() == 128);
  proto.set_token_cache_size(16385);
  CHECK(errorsOf(proto) ==
        std::vector<std::string>{"token_cache_size: 16385 is more than the limit of 16384 tokens"});

  // More distinct tokens than slots: every answer is still right (collisions replace slots).
  std::vector<std::string> tokens;
  for (int i = 0; i < 400; i++) {
    tokens.push_back(hmacToken(claims(absl::StrCat(R"(,"tier":"t)", i, "\"")), kSecret));
  }
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 400; i++) {
      VerifiedJwt v;
      REQUIRE(small->verify(tokens[i], kNow, v) == JwtStatus::Ok);
      std::string s;
      REQUIRE(jsonScalarText(v.claims[0], s));
      CHECK(s == absl::StrCat("t", i));
    }
  }
  CHECK(JwtProvider::cacheHitsOnThisThread() > hits);
  // Tokens over 4 KiB are verified every time.
  const std::string big =
      hmacToken(claims(absl::StrCat(R"(,"pad":")", std::string(4000, 'x'), "\"")), kSecret);
  REQUIRE(big.size() > 4096);
  const uint64_t before = JwtProvider::cacheHitsOnThisThread();
  CHECK(verify(*small, big) == JwtStatus::Ok);
  CHECK(verify(*small, big) == JwtStatus::Ok);
  CHECK(JwtProvider::cacheHitsOnThisThread() == before);
}

} // namespace
} // namespace gw::policy
