// Fuzzes the JWT verifier (gw::policy::JwtProvider::verify) and its JSON scanner. Providers:
// HS256 with a fixed secret, issuer, audience and claim headers (once with the per-thread token
// cache, once without), ES256 and RS256 with keys generated at start. Byte 0 picks a mode:
//   0  the rest is a token, verified by every provider;
//   1  a valid token (byte 1 picks which) edited by the rest: (position, operation, byte) triples;
//   2  the rest is a claim set, signed correctly with HS256 (claims parsing past the signature);
//   3  the rest is "header\nclaims", signed with HMAC-SHA256/384/512 (byte 1) under the HS
//      secret or, for the ES/RS providers, under their public key PEM (alg confusion);
//   4  the rest is JSON for scanJsonObject, checked against RapidJSON.
// Invariants (abort() on violation): a token verifies Ok only if its signature is the one an
// independent computation (OpenSSL's one-shot HMAC, EVP_DigestVerify) accepts for the provider's
// algorithm; an Ok token's claims, parsed by RapidJSON, carry the issuer, the audience and an
// exp that has not passed; verifying again (from the token cache) and on a provider without a
// cache gives the same status and claims, and a later time expires it; whatever the scanner
// accepts is one JSON object for RapidJSON too.
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "source/policy/base64url.h"
#include "source/policy/json_scan.h"
#include "source/policy/jwt.h"
#include "test/fuzz/json_reference.h"
#include "test/policy/test_tokens.h"

namespace gw::fuzz {
namespace {

using policy::JwtProvider;
using policy::JwtStatus;
using policy::VerifiedJwt;

constexpr int64_t kNow = 1700000000;
constexpr int64_t kSkew = 60;
constexpr char kSecret[] = "fuzz-secret-0123456789";
constexpr char kIssuer[] = "https://issuer.test";

[[noreturn]] void fail(const char* what, absl::string_view token) {
  fprintf(stderr, "jwt fuzz invariant violated: %s\n  token: [%.*s]\n", what,
          static_cast<int>(token.size()), token.data());
  abort();
}

std::string b64(absl::string_view s) {
  std::string out;
  policy::base64UrlEncode(s, out);
  return out;
}

enum class Key { Hmac, Ec, Rsa };

struct Fixture {
  policy::test::Pkey ec, rsa;
  std::string ec_pem, rsa_pem;
  std::shared_ptr<const JwtProvider> hs, hs_nocache, es, rs;
  std::vector<std::string> valid;  // a valid token per provider kind (mode 1)

  static std::shared_ptr<const JwtProvider> make(const gateway::v1::AuthProvider& p) {
    std::vector<policy::FieldError> errors;
    auto out = JwtProvider::create(p, &errors);
    if (out == nullptr) {
      fprintf(stderr, "jwt fuzz: provider %s: %s\n", p.name().c_str(),
              errors.empty() ? "?" : errors[0].message.c_str());
      abort();
    }
    return out;
  }

  Fixture() {
    ec = policy::test::ecKey();
    rsa = policy::test::rsaKey();
    ec_pem = policy::test::publicPem(ec.get());
    rsa_pem = policy::test::publicPem(rsa.get());
    gateway::v1::AuthProvider p;
    p.set_name("hs");
    p.set_secret(kSecret);
    p.set_issuer(kIssuer);
    p.add_audiences("api");
    (*p.mutable_claim_headers())["sub"] = "x-user-id";
    (*p.mutable_claim_headers())["tier"] = "x-tier";
    hs = make(p);
    p.set_name("hs-nocache");
    p.set_token_cache_size(0);
    hs_nocache = make(p);
    gateway::v1::AuthProvider e;
    e.set_name("es");
    e.set_public_key_pem(ec_pem);
    es = make(e);
    gateway::v1::AuthProvider r;
    r.set_name("rs");
    r.set_public_key_pem(rsa_pem);
    rs = make(r);
    const std::string claims =
        absl::StrCat(R"({"sub":"alice","iss":"https://issuer.test","aud":["web","api"],"iat":)",
                     kNow, R"(,"exp":)", kNow + 600, R"(,"tier":"gold\u00e9","n":[1,{"a":2.5}]})");
    valid = {policy::test::hmacToken(claims, kSecret),
             policy::test::pkeyToken(claims, ec.get(), "ES256"),
             policy::test::pkeyToken(claims, rsa.get(), "RS256")};
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

// The token's three parts, or false.
bool split(absl::string_view t, absl::string_view* input, absl::string_view* sig) {
  const size_t d1 = t.find('.');
  const size_t d2 = d1 == absl::string_view::npos ? d1 : t.find('.', d1 + 1);
  if (d2 == absl::string_view::npos || t.find('.', d2 + 1) != absl::string_view::npos) {
    return false;
  }
  *input = t.substr(0, d2);
  *sig = t.substr(d2 + 1);
  return true;
}

// Whether an independent check accepts the token's signature for `key` (HS256, ES256, RS256:
// the only algorithm each provider allows).
bool signatureValid(absl::string_view token, Key key) {
  absl::string_view input, sig64;
  if (!split(token, &input, &sig64)) {
    return false;
  }
  Fixture& f = fixture();
  if (key == Key::Hmac) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), kSecret, sizeof(kSecret) - 1,
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    // base64url without padding has one encoding per byte string (the decoder refuses others).
    return b64(absl::string_view(reinterpret_cast<char*>(mac), len)) == sig64;
  }
  std::string sig;
  if (!policy::base64UrlDecode(sig64, sig)) {
    return false;
  }
  std::string der = sig;
  if (key == Key::Ec) {
    if (sig.size() != 64) {
      return false;
    }
    ECDSA_SIG* es = ECDSA_SIG_new();
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG_set0(es, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
    unsigned char* out = nullptr;
    const int n = i2d_ECDSA_SIG(es, &out);
    der.assign(reinterpret_cast<char*>(out), n > 0 ? static_cast<size_t>(n) : 0);
    OPENSSL_free(out);
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr,
                           key == Key::Ec ? f.ec.get() : f.rsa.get()) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// RapidJSON's view of an Ok token's claims: an object with the issuer and audience the HS
// provider requires (when `hs`) and an exp that has not passed.
void checkClaims(absl::string_view token, bool hs) {
  const size_t d1 = token.find('.');
  const size_t d2 = token.find('.', d1 + 1);
  std::string payload;
  if (!policy::base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1), payload)) {
    fail("Ok but the payload is not base64url", token);
  }
  const std::optional<Claims> claims = parseReferenceClaims(payload);
  if (!claims) {
    if (parseReferenceJson(payload).number_too_big) {
      return;  // RapidJSON cannot read it; the verifier may (another claim's big number)
    }
    fail("Ok but the claims are not a JSON object", token);
  }
  if (!claims->exp || std::floor(*claims->exp) <= static_cast<double>(kNow - kSkew)) {
    fail("Ok without an exp in the future", token);
  }
  if (!hs) {
    return;
  }
  if (claims->iss != kIssuer) {
    fail("Ok with another issuer", token);
  }
  if (!claims->aud_has_api) {
    fail("Ok without the audience", token);
  }
}

std::string scalar(const policy::JsonValue& v) {
  std::string s;
  return absl::StrCat(static_cast<int>(v.type), ":",
                      policy::jsonScalarText(v, s) ? s : std::string(v.raw));
}

std::string describe(const VerifiedJwt& v) {
  std::string out = absl::StrCat(v.has_exp, " ", v.exp, " ", scalar(v.sub));
  for (const auto& c : v.claims) {
    out += " " + scalar(c);
  }
  return out;
}

void verifyAll(absl::string_view token) {
  Fixture& f = fixture();
  struct Case {
    const JwtProvider* p;
    Key key;
  };
  for (const Case& c : {Case{f.hs.get(), Key::Hmac}, Case{f.es.get(), Key::Ec},
                        Case{f.rs.get(), Key::Rsa}}) {
    VerifiedJwt v;
    const JwtStatus st = c.p->verify(token, kNow, v);
    const std::string first = st == JwtStatus::Ok ? describe(v) : "";
    if (st == JwtStatus::Ok) {
      if (!signatureValid(token, c.key)) {
        fail("verified Ok without a valid signature", token);
      }
      checkClaims(token, c.key == Key::Hmac);
    }
    // Again (a token cache hit when Ok), and for HS on the provider without a cache.
    VerifiedJwt again;
    if (c.p->verify(token, kNow, again) != st ||
        (st == JwtStatus::Ok && describe(again) != first)) {
      fail("a repeated verify differs", token);
    }
    if (c.key == Key::Hmac) {
      VerifiedJwt nc;
      if (f.hs_nocache->verify(token, kNow, nc) != st ||
          (st == JwtStatus::Ok && describe(nc) != first)) {
        fail("the provider without a token cache disagrees", token);
      }
    }
    if (st == JwtStatus::Ok && v.has_exp && v.exp < INT64_MAX / 2) {
      VerifiedJwt later;
      if (c.p->verify(token, v.exp + kSkew, later) != JwtStatus::Expired) {
        fail("an Ok token does not expire at exp + skew", token);
      }
    }
  }
}

std::string hmacSigned(absl::string_view header, absl::string_view claims, absl::string_view key,
                       const EVP_MD* md) {
  const std::string input = absl::StrCat(b64(header), ".", b64(claims));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return absl::StrCat(input, ".", b64(absl::string_view(reinterpret_cast<char*>(mac), len)));
}

void mutateValid(const uint8_t* data, size_t size) {
  if (size < 1) {
    return;
  }
  std::string t = fixture().valid[data[0] % 3];
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
  for (size_t i = 1; i + 2 < size; i += 3) {
    const size_t pos = data[i] * (t.size() + 1) / 256;
    const uint8_t b = data[i + 2];
    switch (data[i + 1] % 5) {
    case 0:
      if (pos < t.size()) t[pos] = kAlphabet[b % (sizeof(kAlphabet) - 1)];
      break;
    case 1: t.insert(pos, 1, kAlphabet[b % (sizeof(kAlphabet) - 1)]); break;
    case 2: t.erase(pos, 1 + b % 8); break;
    case 3:
      if (pos < t.size()) t[pos] = static_cast<char>(b);
      break;
    default:
      if (pos < t.size()) t[pos] ^= static_cast<char>(1u << (b % 8));
    }
  }
  verifyAll(t);
}

// Whatever scanJsonObject accepts must be one JSON object for RapidJSON as well.
void checkScanner(absl::string_view json) {
  int members = 0;
  const bool ok = policy::scanJsonObject(json, [&](absl::string_view, const policy::JsonValue& v) {
    members++;
    std::string s;
    (void)policy::jsonScalarText(v, s);
    if (v.type == policy::JsonType::Array) {
      if (!policy::forEachJsonArrayElement(v.raw, [](const policy::JsonValue&) { return true; })) {
        fail("an array value the scanner returned does not scan", v.raw);
      }
    }
    return true;
  });
  if (!ok) {
    return;
  }
  const JsonParse ref = parseReferenceJson(json);
  if (!ref.ok) {
    if (ref.number_too_big) {
      return;  // RapidJSON refuses numbers beyond a double; JSON's grammar has no limit
    }
    fprintf(stderr, "RapidJSON: %s\n", ref.error.c_str());
    fail("the scanner accepts what RapidJSON refuses", json);
  }
  if (!ref.object || ref.members != members) {
    fail("the scanner's members differ from RapidJSON's", json);
  }
}

} // namespace
} // namespace gw::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gw::fuzz::fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gw::fuzz;
  if (size < 1 || size > 8192) {
    return 0;
  }
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  Fixture& f = fixture();
  switch (data[0] % 5) {
  case 0:
    verifyAll(rest);
    break;
  case 1:
    mutateValid(data + 1, size - 1);
    break;
  case 2:
    verifyAll(hmacSigned(R"({"alg":"HS256","typ":"JWT"})", rest, kSecret, EVP_sha256()));
    break;
  case 3: {
    if (rest.empty()) {
      break;
    }
    const absl::string_view body = rest.substr(1);
    const size_t nl = body.find('\n');
    const absl::string_view header = body.substr(0, nl);
    const absl::string_view claims = nl == absl::string_view::npos ? "" : body.substr(nl + 1);
    const EVP_MD* mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
    const std::string keys[] = {kSecret, f.ec_pem, f.rsa_pem};
    const auto pick = static_cast<uint8_t>(rest[0]);
    verifyAll(hmacSigned(header, claims, keys[pick % 3], mds[(pick / 3) % 3]));
    break;
  }
  default:
    checkScanner(rest);
    break;
  }
  return 0;
}
