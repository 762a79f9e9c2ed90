#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"
#include "source/policy/json_scan.h"
#include "source/policy/jwks.h"
#include "source/policy/jwt_claims.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_st EVP_MD;

namespace gw::policy {

// What is shown instead of an auth provider's secret (config::redactSecrets); refused as a
// secret, since it can only come from a display pasted back.
constexpr char kRedactedSecret[] = "<redacted>";

// A problem in a policy resource: `field` relative to the resource ("public_key_pem").
struct FieldError {
  std::string field;
  std::string message;
};

enum class JwtAlg { HS256, HS384, HS512, RS256, RS384, RS512, ES256, PS256, PS384, PS512, ES384, EdDSA };
// Whether `alg` may be verified with a key of type `t` (HS* oct, RS*/PS* RSA, ES256 P-256,
// ES384 P-384, EdDSA Ed25519): the check that stops alg/key-type confusion.
bool jwtAlgFitsKey(JwtAlg alg, JwkType t);
bool jwtAlgFromName(absl::string_view name, JwtAlg* out);
const char* jwtAlgName(JwtAlg alg);

enum class JwtStatus {
  Ok,
  Missing,        // jwt_missing
  Malformed,      // jwt_malformed
  AlgNotAllowed,  // jwt_alg_not_allowed
  BadSignature,   // jwt_bad_signature
  Expired,        // jwt_expired
  MissingExp,     // jwt_missing_exp
  NotYetValid,    // jwt_not_yet_valid
  BadIssuer,      // jwt_bad_issuer
  BadAudience,    // jwt_bad_audience
  UnknownKey,     // jwt_unknown_kid: no key with the token's kid (and none without a kid)
};
// The error code ("jwt_expired") and a fixed human-readable message.
const char* jwtStatusCode(JwtStatus s);
const char* jwtStatusMessage(JwtStatus s);

namespace internal {
// Ids of providers and key sets: unique per process, never reused (per-thread caches key on them).
uint64_t nextJwtId();
} // namespace internal

// A provider's verification keys: its static key (secret, secret_env, public_key_pem), its inline
// `jwks`, or a key set fetched from its `remote_jwks` (by jwt_auth, per worker). Immutable once
// built; each has a process-unique id (never reused).
class JwtKeySet {
public:
  ~JwtKeySet();
  JwtKeySet(const JwtKeySet&) = delete;
  JwtKeySet& operator=(const JwtKeySet&) = delete;
  // The usable keys of a fetched JWKS document; the others (a JWK "alg" that does not fit its key
  // included) are described in `skipped`. nullptr and `error` when the document is not a JWKS.
  static std::shared_ptr<const JwtKeySet> fromJwks(absl::string_view json,
                                                   std::vector<std::string>& skipped,
                                                   std::string& error);
  size_t size() const { return keys_.size(); }
  uint64_t id() const { return id_; }

private:
  friend class JwtProvider;
  struct HmacKeys;  // precomputed HMAC inner/outer digest states (jwt.cc)
  struct Key {
    std::string kid;  // empty: tried for every token whatever its kid
    JwkType type = JwkType::Oct;
    bool has_alg = false;  // the JWK named its "alg": only that one
    JwtAlg alg = JwtAlg::HS256;
    std::unique_ptr<HmacKeys> hmac;
    PkeyPtr pkey;
    Key();  // out of line (jwt_keys.cc), where HmacKeys is complete
    ~Key();
  };
  JwtKeySet();
  // Adds `jwk`; false (and `why`) when its "alg" is unknown or does not fit it.
  bool add(Jwk& jwk, std::string& why);

  uint64_t id_;
  std::vector<std::unique_ptr<Key>> keys_;
};

// Where a provider's keys are fetched from (AuthProvider.remote_jwks), resolved.
struct RemoteJwksSettings {
  std::string cluster;
  std::string path;
  int64_t refresh_ms = 300000;
  int64_t min_refresh_ms = 30000;
  int64_t timeout_ms = 5000;
};

// What a successful verify() found. Views point into a thread_local buffer, or the token cache
// slot, of the verifying thread: valid until that thread verifies the next token.
struct VerifiedJwt {
  bool has_exp = false;
  int64_t exp = 0;
  JsonValue sub;  // Null when absent
  // Parallel to JwtProvider::claimSlots(): the claim's value (nested paths resolved), Null when
  // absent. The first claimHeaders().size() are the header claims, then roles, permissions and
  // scope (JwtProvider::kRolesSlot...).
  std::vector<JsonValue> claims;
};

// An auth provider compiled from its proto: keys parsed, algorithms resolved. Immutable and
// shared by every worker; verify() takes no lock. It allocates only when it stores a newly
// verified token in the thread's token cache (a repeated token allocates nothing).
class JwtProvider : public std::enable_shared_from_this<JwtProvider> {
public:
  class TokenCache;  // per thread (jwt.cc)
  ~JwtProvider();
  JwtProvider(const JwtProvider&) = delete;
  JwtProvider& operator=(const JwtProvider&) = delete;

  // nullptr and `errors` filled (fields relative to the provider) when the proto is invalid.
  static std::shared_ptr<const JwtProvider> create(const gateway::v1::AuthProvider& proto,
                                                   std::vector<FieldError>* errors);

  // Verifies a compact JWS at `now` (seconds since the epoch) with `keys` (nullptr: the
  // provider's own; a remote provider has none, so its caller passes the fetched set). A token
  // that verified before on this thread with the same key set is answered from the thread's
  // token cache (token_cache_size): the exact token bytes must match, and exp, nbf and iat are
  // checked against `now` again on every call.
  JwtStatus verify(absl::string_view token, int64_t now, VerifiedJwt& out,
                   const JwtKeySet* keys = nullptr) const;
  // The provider's own keys; nullptr for a remote_jwks provider.
  const JwtKeySet* keySet() const { return keys_.get(); }
  // Set for a remote_jwks provider.
  const RemoteJwksSettings* remote() const { return remote_.get(); }

  // Tokens answered from this thread's token cache so far (all providers).
  static uint64_t cacheHitsOnThisThread();
  // Token caches (one per provider in use) this thread holds.
  static size_t tokenCachesOnThisThread();
  uint32_t tokenCacheSize() const { return cache_size_; }

  const std::string& name() const { return name_; }
  // Unique per process, never reused.
  uint64_t id() const { return id_; }
  // The `iss` every token must carry (empty: not checked).
  const std::string& issuer() const { return issuer_; }
  // Token source: a header (lower-case name, with a case-insensitive `prefix`) or a query param.
  const std::string& header() const { return header_; }
  const std::string& prefix() const { return prefix_; }
  const std::string& queryParam() const { return query_param_; }
  bool forward() const { return forward_; }
  // (claim, lower-case header name), sorted by header name.
  const std::vector<std::pair<std::string, std::string>>& claimHeaders() const {
    return claim_headers_;
  }
  // Every claim verify() extracts, parallel to VerifiedJwt::claims: the header claims (in
  // claimHeaders() order), then the roles, permissions and scope claims.
  const std::vector<ClaimPath>& claimSlots() const { return claim_slots_; }
  size_t rolesSlot() const { return claim_headers_.size(); }
  size_t permissionsSlot() const { return claim_headers_.size() + 1; }
  size_t scopeSlot() const { return claim_headers_.size() + 2; }
  int64_t clockSkewSeconds() const { return skew_; }
  // Verification keys (1 for secret / secret_env / public_key_pem, the keys of `jwks`; 0 for
  // remote_jwks).
  size_t keyCount() const { return keys_ ? keys_->size() : 0; }
  std::string describeAlgorithms() const;

  // Finds the token in a request: the header value after the prefix, or the query parameter.
  // Missing when absent; Malformed when present but not usable (wrong scheme, repeated).
  JwtStatus extract(const std::vector<std::pair<std::string, std::string>>& headers,
                    absl::string_view query, absl::string_view& token) const;

private:
  JwtProvider() = default;
  bool allowed(JwtAlg a) const { return (allowed_mask_ & (1u << static_cast<int>(a))) != 0; }
  static bool checkSignature(const JwtKeySet& ks, JwtAlg alg, size_t key_index,
                             absl::string_view signing_input, absl::string_view signature);
  static EVP_PKEY_CTX* verifyContext(const JwtKeySet& ks, JwtAlg alg, size_t key_index,
                                     const EVP_MD* md);
  // The claims that make a verified token's validity depend on the time (exp is in VerifiedJwt).
  struct TimeClaims {
    bool has_nbf = false, has_iat = false;
    int64_t nbf = 0, iat = 0;
  };
  JwtStatus verifyUncached(const JwtKeySet& ks, absl::string_view token, int64_t now,
                           VerifiedJwt& out, TimeClaims& times, absl::string_view& payload) const;
  JwtStatus checkTimes(const VerifiedJwt& v, const TimeClaims& t, int64_t now) const;
  TokenCache& tokenCache() const;

  std::shared_ptr<JwtKeySet> keys_;
  std::unique_ptr<RemoteJwksSettings> remote_;
  uint64_t id_ = 0;  // unique per process (never reused), for per-thread caches
  std::string name_;
  std::string issuer_;
  std::vector<std::string> audiences_;
  uint32_t allowed_mask_ = 0;
  int64_t skew_ = 60;
  bool require_exp_ = true;
  bool forward_ = false;
  std::string header_ = "authorization";
  std::string prefix_ = "Bearer ";
  std::string query_param_;
  std::vector<std::pair<std::string, std::string>> claim_headers_;
  std::vector<ClaimPath> claim_slots_;
  uint32_t cache_size_ = 256;  // token cache slots per thread, a power of two; 0 = no cache
};

// Seconds since the epoch (wall clock: JWT times are NumericDate).
inline int64_t jwtNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace gw::policy
