// Auth providers: config -> JwtProvider, token extraction, JWS parsing, claims, the per-thread
// token cache. Keys and signature checks: jwt_keys.cc.
#include "source/policy/jwt.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/common/header_map.h"
#include "source/common/percent.h"
#include "source/policy/base64url.h"

namespace gw::policy {
namespace {

std::atomic<uint64_t> next_provider_id{1};

constexpr std::pair<const char*, JwtAlg> kAlgs[] = {
    {"HS256", JwtAlg::HS256}, {"HS384", JwtAlg::HS384}, {"HS512", JwtAlg::HS512},
    {"RS256", JwtAlg::RS256}, {"RS384", JwtAlg::RS384}, {"RS512", JwtAlg::RS512},
    {"ES256", JwtAlg::ES256}, {"PS256", JwtAlg::PS256}, {"PS384", JwtAlg::PS384},
    {"PS512", JwtAlg::PS512}, {"ES384", JwtAlg::ES384}, {"EdDSA", JwtAlg::EdDSA}};

// A NumericDate (RFC 7519 section 2): a JSON number, possibly fractional; floored.
bool numericDate(const JsonValue& v, int64_t* out) {
  if (v.type != JsonType::Number) {
    return false;
  }
  double d = 0;
  if (!absl::SimpleAtod(v.raw, &d) || !std::isfinite(d) || d < -9.2e18 || d > 9.2e18) {
    return false;
  }
  *out = static_cast<int64_t>(std::floor(d));
  return true;
}

// Compares a JSON string value with `want` (unescaping only when needed).
bool stringEquals(const JsonValue& v, absl::string_view want) {
  if (v.type != JsonType::String) {
    return false;
  }
  if (!v.escaped) {
    return v.raw == want;
  }
  std::string s;
  return jsonUnescape(v.raw, s) && s == want;
}


} // namespace

namespace {
JwtAlg defaultAlg(JwkType t) {
  switch (t) {
  case JwkType::Oct: return JwtAlg::HS256;
  case JwkType::Rsa: return JwtAlg::RS256;
  case JwkType::EcP256: return JwtAlg::ES256;
  case JwkType::EcP384: return JwtAlg::ES384;
  case JwkType::Ed25519: return JwtAlg::EdDSA;
  }
  return JwtAlg::HS256;
}
} // namespace

bool jwtAlgFromName(absl::string_view name, JwtAlg* out) {
  for (const auto& [n, a] : kAlgs) {
    if (name == n) {
      *out = a;
      return true;
    }
  }
  return false;
}

const char* jwtAlgName(JwtAlg alg) {
  for (const auto& [n, a] : kAlgs) {
    if (a == alg) {
      return n;
    }
  }
  return "?";
}

const char* jwtStatusCode(JwtStatus s) {
  switch (s) {
  case JwtStatus::Ok: return "ok";
  case JwtStatus::Missing: return "jwt_missing";
  case JwtStatus::Malformed: return "jwt_malformed";
  case JwtStatus::AlgNotAllowed: return "jwt_alg_not_allowed";
  case JwtStatus::BadSignature: return "jwt_bad_signature";
  case JwtStatus::Expired: return "jwt_expired";
  case JwtStatus::MissingExp: return "jwt_missing_exp";
  case JwtStatus::NotYetValid: return "jwt_not_yet_valid";
  case JwtStatus::BadIssuer: return "jwt_bad_issuer";
  case JwtStatus::BadAudience: return "jwt_bad_audience";
  case JwtStatus::UnknownKey: return "jwt_unknown_kid";
  }
  return "jwt_invalid";
}

const char* jwtStatusMessage(JwtStatus s) {
  switch (s) {
  case JwtStatus::Ok: return "token valid";
  case JwtStatus::Missing: return "no bearer token in the request";
  case JwtStatus::Malformed: return "the token is not a well-formed JWT";
  case JwtStatus::AlgNotAllowed: return "the token's signing algorithm is not allowed";
  case JwtStatus::BadSignature: return "the token's signature does not verify";
  case JwtStatus::Expired: return "the token has expired";
  case JwtStatus::MissingExp: return "the token has no expiry (exp claim)";
  case JwtStatus::NotYetValid: return "the token is not valid yet (nbf or iat in the future)";
  case JwtStatus::BadIssuer: return "the token's issuer is not accepted";
  case JwtStatus::BadAudience: return "the token's audience is not accepted";
  case JwtStatus::UnknownKey: return "no verification key matches the token's kid";
  }
  return "invalid token";
}

uint64_t internal::nextJwtId() { return next_provider_id.fetch_add(1, std::memory_order_relaxed); }

JwtProvider::~JwtProvider() = default;
std::shared_ptr<const JwtProvider> JwtProvider::create(const gateway::v1::AuthProvider& proto,
                                                       std::vector<FieldError>* errors) {
  const size_t errors_before = errors->size();
  auto err = [&](std::string field, std::string message) {
    errors->push_back({std::move(field), std::move(message)});
  };
  std::shared_ptr<JwtProvider> p(new JwtProvider());
  p->id_ = internal::nextJwtId();
  p->name_ = proto.name();
  p->issuer_ = proto.issuer();
  for (int i = 0; i < proto.audiences_size(); i++) {
    if (proto.audiences(i).empty()) {
      err(absl::StrCat("audiences[", i, "]"), "must not be empty");
    }
    p->audiences_.push_back(proto.audiences(i));
  }

  // Key material: exactly one.
  const int keys = !proto.secret().empty() + !proto.secret_env().empty() +
                   !proto.public_key_pem().empty() + !proto.jwks().empty() +
                   proto.has_remote_jwks();
  p->keys_.reset(new JwtKeySet());
  auto addKey = [&p](JwkType type) -> JwtKeySet::Key& {
    p->keys_->keys_.push_back(std::make_unique<JwtKeySet::Key>());
    p->keys_->keys_.back()->type = type;
    return *p->keys_->keys_.back();
  };
  std::string secret;
  bool from_jwks = false;
  if (keys == 0) {
    err("secret", "key material required: one of secret, secret_env, public_key_pem, jwks or "
                  "remote_jwks");
  } else if (keys > 1) {
    err(proto.has_remote_jwks() ? "remote_jwks"
        : !proto.jwks().empty() ? "jwks"
        : !proto.secret_env().empty() && !proto.secret().empty() ? "secret_env"
                                                                 : "public_key_pem",
        "only one of secret, secret_env, public_key_pem, jwks or remote_jwks may be set");
  } else if (proto.secret() == kRedactedSecret || proto.jwks() == kRedactedSecret) {
    err(proto.jwks().empty() ? "secret" : "jwks",
        "'<redacted>' is the placeholder shown instead of a secret: set the real value "
        "(or use secret_env)");
  } else if (!proto.secret().empty()) {
    addKey(JwkType::Oct);
    secret = proto.secret();
  } else if (!proto.secret_env().empty()) {
    const char* v = std::getenv(proto.secret_env().c_str());
    if (v == nullptr || *v == '\0') {
      err("secret_env", absl::StrCat("environment variable '", proto.secret_env(),
                                     "' is not set or empty"));
    } else {
      addKey(JwkType::Oct);
      secret = v;
    }
  } else if (!proto.public_key_pem().empty()) {
    BIO* bio = BIO_new_mem_buf(proto.public_key_pem().data(),
                               static_cast<int>(proto.public_key_pem().size()));
    PkeyPtr pkey(bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr);
    BIO_free(bio);
    JwkType type;
    std::string why;
    if (!pkey) {
      err("public_key_pem", "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
    } else if (!jwkTypeOfPkey(pkey.get(), type, why)) {
      err("public_key_pem", why);
    } else {
      addKey(type).pkey = std::move(pkey);
    }
  } else if (proto.has_remote_jwks()) {
    const auto& r = proto.remote_jwks();
    auto ms = [&](const google::protobuf::Duration& d, const char* field, int64_t dflt,
                  int64_t min_ms, int64_t max_ms) {
      const int64_t v = d.seconds() * 1000 + d.nanos() / 1000000;
      if (v == 0 && d.seconds() == 0 && d.nanos() == 0) {
        return dflt;
      }
      if (v < min_ms || v > max_ms) {
        err(absl::StrCat("remote_jwks.", field),
            absl::StrCat("must be between ", min_ms, "ms and ", max_ms / 1000, "s"));
      }
      return v;
    };
    p->remote_ = std::make_unique<RemoteJwksSettings>();
    p->remote_->cluster = r.cluster();
    p->remote_->path = r.path().empty() ? "/.well-known/jwks.json" : r.path();
    if (r.cluster().empty()) {
      err("remote_jwks.cluster", "required: the cluster serving the key set");
    }
    if (p->remote_->path[0] != '/') {
      err("remote_jwks.path", "must start with '/'");
    }
    p->remote_->refresh_ms = ms(r.refresh_interval(), "refresh_interval", 300000, 1000, 86400000);
    p->remote_->min_refresh_ms =
        ms(r.min_refresh_interval(), "min_refresh_interval", 30000, 100, 3600000);
    p->remote_->timeout_ms = ms(r.timeout(), "timeout", 5000, 10, 60000);
    p->keys_.reset();
    if (proto.algorithms_size() == 0) {
      p->allowed_mask_ = 1u << static_cast<int>(JwtAlg::RS256);
    }
  } else {
    from_jwks = true;
    std::vector<Jwk> jwks;
    std::vector<std::string> skipped;
    std::string why;
    if (!parseJwks(proto.jwks(), jwks, skipped, why)) {
      err("jwks", absl::StrCat("not a JSON Web Key Set: ", why));
    } else if (!skipped.empty()) {
      err("jwks", absl::StrCat("unusable key ", skipped.front()));
    } else if (jwks.empty()) {
      err("jwks", "the key set has no keys");
    }
    for (size_t i = 0; i < jwks.size(); i++) {
      if (std::string why; !p->keys_->add(jwks[i], why)) {
        err("jwks", absl::StrCat("keys[", i, "]: ", why));
      }
    }
  }
  static const std::vector<std::unique_ptr<JwtKeySet::Key>> kNoKeys;
  const auto& set = p->keys_ ? p->keys_->keys_ : kNoKeys;
  if (proto.algorithms_size() == 0) {
    for (const auto& k : set) {
      p->allowed_mask_ |= 1u << static_cast<int>(k->has_alg ? k->alg : defaultAlg(k->type));
    }
  }
  for (int i = 0; i < proto.algorithms_size(); i++) {
    const std::string field = absl::StrCat("algorithms[", i, "]");
    JwtAlg a;
    if (!jwtAlgFromName(proto.algorithms(i), &a)) {
      err(field, absl::StrCat("unknown algorithm '", proto.algorithms(i),
                              "' (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, "
                              "ES256, ES384, EdDSA)"));
      continue;
    }
    // A key verifies only the algorithms of its family: an HMAC secret never verifies an RS/ES
    // token and a public key never serves as an HMAC secret (the classic alg confusion).
    bool fits = false;
    for (const auto& k : set) {
      fits = fits || jwtAlgFitsKey(a, k->type);
    }
    if (!fits && !set.empty()) {
      if (from_jwks) {
        err(field, absl::StrCat(proto.algorithms(i), " fits no key of the jwks"));
      } else if (set[0]->type == JwkType::Oct) {
        err(field, absl::StrCat(proto.algorithms(i), " needs public_key_pem, not a secret"));
      } else if (set[0]->type == JwkType::Rsa) {
        err(field, absl::StrCat(proto.algorithms(i), " does not fit an RSA public key"));
      } else if (set[0]->type == JwkType::Ed25519) {
        err(field, absl::StrCat(proto.algorithms(i), " does not fit an Ed25519 public key"));
      } else {
        err(field, absl::StrCat(proto.algorithms(i), " does not fit an EC public key"));
      }
    }
    p->allowed_mask_ |= 1u << static_cast<int>(a);
  }

  if (proto.has_clock_skew()) {
    const auto& d = proto.clock_skew();
    if (d.seconds() < 0 || d.nanos() < 0) {
      err("clock_skew", "must not be negative");
    } else if (d.seconds() > 3600) {
      err("clock_skew", "must be at most 3600s");
    }
    p->skew_ = d.seconds();
  }
  p->require_exp_ = !proto.has_require_exp() || proto.require_exp();
  p->forward_ = proto.forward();

  const auto& ts = proto.token_source();
  if (!ts.query_param().empty()) {
    if (!ts.header().empty() || ts.has_prefix()) {
      err("token_source.query_param", "set either query_param or header/prefix, not both");
    }
    p->query_param_ = ts.query_param();
    p->header_.clear();
    p->prefix_.clear();
  } else {
    if (!ts.header().empty()) {
      if (!isToken(ts.header())) {
        err("token_source.header", absl::StrCat("invalid header name '", ts.header(), "'"));
      }
      p->header_ = absl::AsciiStrToLower(ts.header());
    }
    p->prefix_ = ts.has_prefix() ? ts.prefix() : (p->header_ == "authorization" ? "Bearer " : "");
  }

  static const char* kManaged[] = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade",
                                   "trailer", "content-length", "host"};
  for (const auto& [claim, header] : proto.claim_headers()) {
    const std::string field = absl::StrCat("claim_headers[", claim, "]");
    std::string h = absl::AsciiStrToLower(header);
    if (claim.empty()) {
      err("claim_headers", "claim names must not be empty");
      continue;
    }
    if (!isToken(h)) {
      err("claim_headers", absl::StrCat("claim '", claim, "': invalid header name '", header, "'"));
      continue;
    }
    bool bad = h == p->header_;
    for (const char* m : kManaged) {
      bad = bad || h == m;
    }
    if (bad) {
      err("claim_headers", absl::StrCat("claim '", claim, "': header '", h,
                                        "' cannot be set from a claim"));
      continue;
    }
    p->claim_headers_.emplace_back(claim, h);
  }
  std::sort(p->claim_headers_.begin(), p->claim_headers_.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  for (size_t i = 1; i < p->claim_headers_.size(); i++) {
    if (p->claim_headers_[i].second == p->claim_headers_[i - 1].second) {
      err("claim_headers", absl::StrCat("claims '", p->claim_headers_[i - 1].first, "' and '",
                                        p->claim_headers_[i].first, "' both set header '",
                                        p->claim_headers_[i].second, "'"));
    }
  }

  for (const auto& ch : p->claim_headers_) {
    p->claim_slots_.emplace_back(ch.first);
  }
  p->claim_slots_.emplace_back(proto.roles_claim().empty() ? "roles" : proto.roles_claim());
  p->claim_slots_.emplace_back(proto.permissions_claim().empty() ? "permissions"
                                                                 : proto.permissions_claim());
  p->claim_slots_.emplace_back("scope");

  if (proto.has_token_cache_size()) {
    const uint32_t n = proto.token_cache_size();
    if (n > 16384) {
      err("token_cache_size", absl::StrCat(n, " is more than the limit of 16384 tokens"));
    } else {
      p->cache_size_ = 0;
      if (n > 0) {
        p->cache_size_ = 1;
        while (p->cache_size_ < n) {
          p->cache_size_ <<= 1;
        }
      }
    }
  }

  if (errors->size() != errors_before) {
    return nullptr;
  }
  if (!secret.empty()) {
    Jwk oct;
    oct.type = JwkType::Oct;
    oct.secret = secret;
    std::string why;
    p->keys_->keys_.clear();
    p->keys_->add(oct, why);
  }
  return p;
}

std::string JwtProvider::describeAlgorithms() const {
  std::vector<std::string> names;
  for (const auto& [n, a] : kAlgs) {
    if (allowed(a)) {
      names.push_back(n);
    }
  }
  return absl::StrJoin(names, ",");
}

JwtStatus JwtProvider::extract(const std::vector<std::pair<std::string, std::string>>& headers,
                               absl::string_view query, absl::string_view& token) const {
  if (!query_param_.empty()) {
    int found = 0;
    forEachQueryPair(query, [&](absl::string_view, absl::string_view key, absl::string_view value) {
      // "%61ccess_token" is access_token too: a copy must not pass unseen.
      if (queryKeyIs(key, query_param_)) {
        token = value;
        found++;
      }
      return found < 2;
    });
    if (found > 1) {
      return JwtStatus::Malformed;  // repeated: ambiguous
    }
    if (found == 0 || token.empty()) {
      return JwtStatus::Missing;
    }
    return JwtStatus::Ok;
  }
  const std::string* value = nullptr;
  for (const auto& [n, v] : headers) {
    if (n == header_) {
      if (value != nullptr) {
        return JwtStatus::Malformed;  // two token headers: ambiguous
      }
      value = &v;
    }
  }
  if (value == nullptr) {
    return JwtStatus::Missing;
  }
  absl::string_view v = *value;
  if (!prefix_.empty()) {
    if (v.size() < prefix_.size() ||
        !absl::EqualsIgnoreCase(v.substr(0, prefix_.size()), prefix_)) {
      return JwtStatus::Malformed;
    }
    v.remove_prefix(prefix_.size());
  }
  v = absl::StripAsciiWhitespace(v);
  if (v.empty()) {
    return JwtStatus::Missing;
  }
  token = v;
  return JwtStatus::Ok;
}

JwtStatus JwtProvider::verifyUncached(const JwtKeySet& ks, absl::string_view token, int64_t now,
                                      VerifiedJwt& out, TimeClaims& times,
                                      absl::string_view& payload_out) const {
  out.has_exp = false;
  out.exp = 0;
  out.sub = JsonValue();
  out.claims.assign(claim_slots_.size(), JsonValue());

  if (token.empty()) {
    return JwtStatus::Missing;
  }
  if (token.size() > 16384) {
    return JwtStatus::Malformed;
  }
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == absl::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == absl::string_view::npos || token.find('.', d2 + 1) != absl::string_view::npos) {
    return JwtStatus::Malformed;  // JWE (5 parts) or garbage
  }
  const absl::string_view h64 = token.substr(0, d1);
  const absl::string_view p64 = token.substr(d1 + 1, d2 - d1 - 1);
  const absl::string_view s64 = token.substr(d2 + 1);

  thread_local std::string header, payload, signature;
  if (!base64UrlDecode(h64, header) || !base64UrlDecode(p64, payload) ||
      !base64UrlDecode(s64, signature)) {
    return JwtStatus::Malformed;
  }

  // Header: alg (required, a string), no crit (we understand no extensions).
  JsonValue alg_v, kid_v;
  bool has_alg = false, crit = false;
  if (!scanJsonObject(header, [&](absl::string_view k, const JsonValue& v) {
        if (k == "alg") {
          alg_v = v;
          has_alg = true;
        } else if (k == "kid") {
          kid_v = v;
        } else if (k == "crit") {
          crit = true;
        }
        return true;
      })) {
    return JwtStatus::Malformed;
  }
  if (!has_alg || alg_v.type != JsonType::String || crit) {
    return JwtStatus::Malformed;
  }
  JwtAlg alg;
  // "none" and anything unknown are never allowed; a known alg must be in the provider's list
  // (which only holds algorithms that fit its key).
  if (alg_v.escaped || !jwtAlgFromName(alg_v.raw, &alg) || !allowed(alg)) {
    return JwtStatus::AlgNotAllowed;
  }
  if (kid_v.type != JsonType::Null && kid_v.type != JsonType::String) {
    return JwtStatus::Malformed;
  }
  // The keys to try: those the alg fits (and, for a JWK with its own "alg", that alg), whose kid
  // is the token's; a key without a kid and a token without a kid match any.
  thread_local std::string kid;
  const bool has_kid = kid_v.type == JsonType::String;
  if (has_kid && !jsonUnescape(kid_v.raw, kid)) {
    return JwtStatus::Malformed;
  }
  bool candidate = false, verified = false;
  for (size_t i = 0; i < ks.keys_.size() && !verified; i++) {
    const JwtKeySet::Key& k = *ks.keys_[i];
    if (!jwtAlgFitsKey(alg, k.type) || (k.has_alg && k.alg != alg) ||
        (has_kid && !k.kid.empty() && k.kid != kid)) {
      continue;
    }
    candidate = true;
    verified = !signature.empty() && checkSignature(ks, alg, i, token.substr(0, d2), signature);
  }
  if (!candidate) {
    return has_kid ? JwtStatus::UnknownKey : JwtStatus::AlgNotAllowed;
  }
  if (!verified) {
    return JwtStatus::BadSignature;
  }

  // Claims, only after the signature verified.
  payload_out = payload;
  bool bad_type = false, has_iss = false, has_aud = false;
  absl::InlinedVector<uint8_t, 16> exact(claim_slots_.size(), 0);
  JsonValue iss, aud;
  if (!scanJsonObject(payload, [&](absl::string_view k, const JsonValue& v) {
        if (k == "exp") {
          bad_type |= !numericDate(v, &out.exp);
          out.has_exp = true;
        } else if (k == "nbf") {
          bad_type |= !numericDate(v, &times.nbf);
          times.has_nbf = true;
        } else if (k == "iat") {
          bad_type |= !numericDate(v, &times.iat);
          times.has_iat = true;
        } else if (k == "iss") {
          iss = v;
          has_iss = true;
        } else if (k == "aud") {
          aud = v;
          has_aud = true;
        } else if (k == "sub") {
          out.sub = v;
        }
        // A member named like the claim wins over a dotted path into an object.
        for (size_t i = 0; i < claim_slots_.size(); i++) {
          const ClaimPath& c = claim_slots_[i];
          if (c.full == k) {
            out.claims[i] = v;
            exact[i] = 1;
          } else if (!exact[i] && !c.top.empty() && c.top == k) {
            resolveClaimPath(v, c.rest, out.claims[i]);
          }
        }
        return true;
      })) {
    return JwtStatus::Malformed;
  }
  if (bad_type) {
    return JwtStatus::Malformed;
  }
  if (const JwtStatus st = checkTimes(out, times, now); st != JwtStatus::Ok) {
    return st;
  }
  if (!issuer_.empty() && (!has_iss || !stringEquals(iss, issuer_))) {
    return JwtStatus::BadIssuer;
  }
  if (!audiences_.empty()) {
    bool ok = false;
    if (has_aud && aud.type == JsonType::String) {
      for (const auto& a : audiences_) {
        ok = ok || stringEquals(aud, a);
      }
    } else if (has_aud && aud.type == JsonType::Array) {
      forEachJsonArrayElement(aud.raw, [&](const JsonValue& e) {
        for (const auto& a : audiences_) {
          ok = ok || stringEquals(e, a);
        }
        return true;
      });
    }
    if (!ok) {
      return JwtStatus::BadAudience;
    }
  }
  return JwtStatus::Ok;
}

JwtStatus JwtProvider::checkTimes(const VerifiedJwt& v, const TimeClaims& t, int64_t now) const {
  if (v.has_exp) {
    if (v.exp < INT64_MIN / 2 || now - skew_ >= v.exp) {
      return JwtStatus::Expired;
    }
  } else if (require_exp_) {
    return JwtStatus::MissingExp;
  }
  if ((t.has_nbf && t.nbf > now + skew_) || (t.has_iat && t.iat > now + skew_)) {
    return JwtStatus::NotYetValid;
  }
  return JwtStatus::Ok;
}

namespace {
thread_local uint64_t token_cache_hits = 0;
constexpr size_t kMaxCachedToken = 4096;
} // namespace

uint64_t JwtProvider::cacheHitsOnThisThread() { return token_cache_hits; }

// One provider's verified tokens on one thread: direct-mapped slots indexed by the token's hash
// (a colliding token replaces the slot's). Only tokens that passed every check are stored; what
// can change with time (exp, nbf, iat) is stored too and checked again on each hit. The slot
// owns a copy of the decoded payload, and its VerifiedJwt's views point into that copy.
class JwtProvider::TokenCache {
public:
  TokenCache(std::weak_ptr<const JwtProvider> owner, uint32_t size)
      : owner_(std::move(owner)), slots_(size) {}

  bool expired() const { return owner_.expired(); }

  // The slots hold tokens verified with key set `id`: a token verified with another set (a
  // worker's refetched remote_jwks) is not answered from them.
  void useKeySet(uint64_t id) {
    if (id != keyset_id_) {
      for (auto& s : slots_) {
        s.token.clear();
      }
      keyset_id_ = id;
    }
  }

  struct Slot {
    std::string token;  // empty: unused
    std::string payload;
    VerifiedJwt verified;
    TimeClaims times;
  };

  Slot& slotFor(absl::string_view token) {
    return slots_[absl::HashOf(token) & (slots_.size() - 1)];
  }

  static void store(Slot& s, absl::string_view token, absl::string_view payload,
                    const VerifiedJwt& v, const TimeClaims& t) {
    s.token.clear();  // unused until the slot is complete (the token is written last)
    s.payload.assign(payload.data(), payload.size());
    s.times = t;
    s.verified.has_exp = v.has_exp;
    s.verified.exp = v.exp;
    // Views into the verifier's payload buffer -> the same offsets in the slot's copy.
    const auto from = reinterpret_cast<uintptr_t>(payload.data());
    auto rebase = [&](const JsonValue& in) {
      JsonValue o = in;
      const auto at = reinterpret_cast<uintptr_t>(in.raw.data());
      if (!in.raw.empty() && at >= from && at + in.raw.size() <= from + payload.size()) {
        o.raw = absl::string_view(s.payload.data() + (at - from), in.raw.size());
      }
      return o;
    };
    s.verified.sub = rebase(v.sub);
    s.verified.claims.resize(v.claims.size());
    for (size_t i = 0; i < v.claims.size(); i++) {
      s.verified.claims[i] = rebase(v.claims[i]);
    }
    s.token.assign(token.data(), token.size());
  }

private:
  std::weak_ptr<const JwtProvider> owner_;
  std::vector<Slot> slots_;
  uint64_t keyset_id_ = 0;
};

namespace {
// Per thread, by provider id (see tokenCache()).
thread_local absl::flat_hash_map<uint64_t, std::unique_ptr<JwtProvider::TokenCache>> caches;
} // namespace

size_t JwtProvider::tokenCachesOnThisThread() { return caches.size(); }

JwtProvider::TokenCache& JwtProvider::tokenCache() const {
  // The caches of providers that went away with old configs are dropped whenever this thread
  // turns to another provider than the one it used last (an old config is freed after the new
  // one starts serving, so a sweep only at a new provider's first use would keep one generation
  // too many).
  thread_local uint64_t last_id = 0;
  thread_local TokenCache* last = nullptr;
  if (last_id == id_ && last != nullptr) {
    return *last;
  }
  if (caches.size() > 1 || (caches.size() == 1 && !caches.contains(id_))) {
    absl::erase_if(caches, [this](const auto& kv) {
      return kv.first != id_ && kv.second->expired();
    });
  }
  auto it = caches.find(id_);
  if (it == caches.end()) {
    it = caches.emplace(id_, std::make_unique<TokenCache>(weak_from_this(), cache_size_)).first;
  }
  last_id = id_;
  last = it->second.get();
  return *last;
}

JwtStatus JwtProvider::verify(absl::string_view token, int64_t now, VerifiedJwt& out,
                              const JwtKeySet* keys) const {
  if (keys == nullptr) {
    keys = keys_.get();
  }
  if (keys == nullptr) {
    out.claims.assign(claim_slots_.size(), JsonValue());
    out.has_exp = false;
    out.sub = JsonValue();
    return JwtStatus::UnknownKey;  // a remote provider verified without its fetched keys
  }
  const bool cacheable = cache_size_ > 0 && !token.empty() && token.size() <= kMaxCachedToken;
  TokenCache::Slot* slot = nullptr;
  if (cacheable) {
    TokenCache& cache = tokenCache();
    cache.useKeySet(keys->id());
    slot = &cache.slotFor(token);
    if (slot->token == token) {
      token_cache_hits++;
      out.has_exp = slot->verified.has_exp;
      out.exp = slot->verified.exp;
      out.sub = slot->verified.sub;
      out.claims = slot->verified.claims;
      return checkTimes(out, slot->times, now);
    }
  }
  TimeClaims times;
  absl::string_view payload;
  const JwtStatus st = verifyUncached(*keys, token, now, out, times, payload);
  if (st == JwtStatus::Ok && slot != nullptr) {
    TokenCache::store(*slot, token, payload, out, times);
  }
  return st;
}

} // namespace gw::policy
