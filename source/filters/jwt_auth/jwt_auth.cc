// `jwt_auth` (pre stage): verifies the request's JWT with a named auth provider
// (Config.auth_providers). Missing or invalid -> 401 with a typed code (jwt_missing,
// jwt_bad_signature, ...) and WWW-Authenticate. Valid -> the caller's Identity goes into the
// filter state (kIdentity: subject, roles, permissions, provider, mapped claims) for later
// filters (authz), the access log and explain; the token header is stripped (unless the
// provider forwards it) and claim_headers are set from the claims. Client-sent copies of the
// claim headers are always removed first, whatever the outcome. In mode: report a missing or
// invalid token lets the request pass without an identity (the would-be 401 counted and logged).
// Stateless: one shared instance serves every request. A provider with remote_jwks verifies with
// the key set its worker fetched (remote_jwks.h): a request with a token waits (Pause) for a
// fetch in flight when there are no keys yet, or when its kid is not in the set (which starts a
// rate-limited refetch); what the fetch brings decides (503 jwks_unavailable without any key,
// 401 jwt_unknown_kid when the kid is still unknown).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/filters/jwt_auth/v1/jwt_auth.pb.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/jwt_auth/remote_jwks.h"
#include "source/filters/report_only.h"
#include "source/http/http1_codec.h"
#include "source/policy/jwt.h"

namespace gw::filters {
namespace {

const FilterCounter kAllowed{"jwt_auth", "allowed", "Requests with a valid token."};
const FilterCounter kAnonymous{"jwt_auth", "anonymous",
                               "Requests without a token let through (allow_missing)."};
const FilterCounter kDenied{"jwt_auth", "denied",
                            "Requests refused with 401 (token missing or invalid)."};

class JwtAuthConfig;

class JwtAuthFilter : public Filter {
public:
  explicit JwtAuthFilter(const JwtAuthConfig& c) : config_(c) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override;

private:
  // Verifies the request's token. With `may_wait`, a request whose token needs keys that a
  // remote_jwks fetch in flight may bring waits for it (Pause) and is decided when it ends.
  FilterStatus check(RequestContext& ctx, bool may_wait);
  // Parks the request on the fetch in flight; false when there is none.
  bool waitForKeys(RequestContext& ctx, RemoteJwks& remote);

  const JwtAuthConfig& config_;
};

class JwtAuthConfig : public FilterConfig {
public:
  JwtAuthConfig(std::shared_ptr<const policy::JwtProvider> p, bool allow_missing,
                PolicyMode mode)
      : provider(std::move(p)), allow_missing(allow_missing), mode(mode) {}
  Filter* shared() const override { return &shared_; }
  std::string explain(ExplainContext& ctx) const override;

  const std::shared_ptr<const policy::JwtProvider> provider;
  const bool allow_missing;
  const PolicyMode mode;

private:
  mutable JwtAuthFilter shared_{*this};  // stateless: one instance for every request
};

std::string tokenWhere(const policy::JwtProvider& p) {
  return p.queryParam().empty() ? absl::StrCat(p.header(), " header")
                                : absl::StrCat("query parameter '", p.queryParam(), "'");
}

// The identity a verified token establishes.
void setIdentity(const policy::JwtProvider& p, const policy::VerifiedJwt& v, FilterState& state) {
  Identity& id = state.emplace(kIdentity);
  id.method = "jwt";
  id.provider = p.name();
  id.issuer = p.issuer();
  policy::jsonScalarText(v.sub, id.subject);
  std::string text;
  for (size_t i = 0; i < p.claimHeaders().size(); i++) {
    if (policy::claimText(v.claims[i], text)) {
      id.claims.emplace_back(p.claimHeaders()[i].first, text);
    }
  }
  policy::forEachClaimWord(v.claims[p.rolesSlot()],
                           [&id](absl::string_view w) { id.roles.emplace_back(w); });
  for (size_t slot : {p.permissionsSlot(), p.scopeSlot()}) {
    policy::forEachClaimWord(v.claims[slot],
                             [&id](absl::string_view w) { id.permissions.emplace_back(w); });
  }
}

FilterStatus JwtAuthFilter::onRequestHeaders(RequestContext& ctx) {
  for (const auto& ch : config_.provider->claimHeaders()) {
    ctx.request().headers.remove(ch.second);  // never let a client forge what the gateway asserts
  }
  return check(ctx, /*may_wait=*/true);
}

bool JwtAuthFilter::waitForKeys(RequestContext& ctx, RemoteJwks& remote) {
  // The filter instance is shared and outlives the request's config; the handle tells whether
  // the request is still there when the fetch ends.
  RequestHandle h = ctx.handle();
  return remote.whenFetched([this, h] {
    RequestContext* c = h.context();
    if (c != nullptr && check(*c, /*may_wait=*/false) == FilterStatus::Continue) {
      c->resume();
    }
  });
}

FilterStatus JwtAuthFilter::check(RequestContext& ctx, bool may_wait) {
  const policy::JwtProvider& p = *config_.provider;
  HeaderMap& headers = ctx.request().headers;
  RemoteJwks* remote = nullptr;
  if (p.remote() != nullptr) {
    remote = &RemoteJwks::of(p, ctx.worker());
    remote->maybeRefresh();
  }
  absl::string_view token;
  policy::JwtStatus st = p.extract(headers.entries(), ctx.request().query, token);
  if (st == policy::JwtStatus::Missing && config_.allow_missing) {
    kAnonymous.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  if (st == policy::JwtStatus::Ok && remote != nullptr && remote->keys() == nullptr) {
    // No key set fetched on this worker yet: wait for the first fetch, or it failed.
    if (may_wait && waitForKeys(ctx, *remote)) {
      return FilterStatus::Pause;
    }
    if (config_.mode == PolicyMode::Enforce) {
      kDenied.inc(ctx.worker());
    }
    return rejectOrReport(
        ctx, config_.mode, "jwt_auth",
        ErrorInfo::make(ErrorKind::Unavailable,
                        "the auth provider's signing keys are not available yet",
                        "jwks_unavailable"));
  }
  thread_local policy::VerifiedJwt verified;
  if (st == policy::JwtStatus::Ok) {
    st = p.verify(token, policy::jwtNow(), verified, remote ? remote->keys() : nullptr);
    if (st == policy::JwtStatus::UnknownKey && remote != nullptr) {
      // A key the IdP may have just rotated in: refetch (rate-limited) and wait for it.
      remote->refreshForUnknownKid();
      if (may_wait && waitForKeys(ctx, *remote)) {
        return FilterStatus::Pause;
      }
    }
  }
  if (st != policy::JwtStatus::Ok) {
    if (config_.mode == PolicyMode::Enforce) {
      kDenied.inc(ctx.worker());
    }
    ErrorInfo e = ErrorInfo::make(ErrorKind::Unauthenticated, policy::jwtStatusMessage(st),
                                  policy::jwtStatusCode(st));
    e.headers.emplace_back("www-authenticate", st == policy::JwtStatus::Missing
                                                   ? "Bearer"
                                                   : "Bearer error=\"invalid_token\"");
    return rejectOrReport(ctx, config_.mode, "jwt_auth", std::move(e));
  }
  kAllowed.inc(ctx.worker());
  setIdentity(p, verified, ctx.filterState());
  if (!p.forward() && p.queryParam().empty()) {
    headers.remove(p.header());
  }
  thread_local std::string text;
  for (size_t i = 0; i < p.claimHeaders().size(); i++) {
    // Strings, numbers, booleans and arrays of them (joined with ','); a value that cannot be a
    // header value is not set.
    if (policy::claimText(verified.claims[i], text) && http::isValidFieldValue(text)) {
      headers.add(p.claimHeaders()[i].second, text);
    }
  }
  return FilterStatus::Continue;
}

std::string JwtAuthConfig::explain(ExplainContext& ctx) const {
  const policy::JwtProvider& p = *provider;
  const http::RequestHead& head = ctx.head;
  absl::string_view token;
  policy::JwtStatus st = p.extract(head.headers.entries(), head.query, token);
  const std::string who = absl::StrCat("provider '", p.name(), "': ");
  if (st == policy::JwtStatus::Missing) {
    if (allow_missing) {
      return absl::StrCat(who, "pass without identity: no token in the ", tokenWhere(p),
                          " (allow_missing)");
    }
    return absl::StrCat(who, "401 jwt_missing: no token in the ", tokenWhere(p),
                        mode == PolicyMode::Report ? " (mode: report, the request passes)" : "");
  }
  if (p.remote() != nullptr) {
    return absl::StrCat(who, "token present; verified on the worker with the key set fetched from "
                             "cluster '", p.remote()->cluster, "' ", p.remote()->path,
                        " (explain does not fetch keys)");
  }
  policy::VerifiedJwt v;
  const int64_t now = policy::jwtNow();
  if (st == policy::JwtStatus::Ok) {
    st = p.verify(token, now, v);
  }
  if (st != policy::JwtStatus::Ok) {
    return absl::StrCat(who, "401 ", policy::jwtStatusCode(st), ": ",
                        policy::jwtStatusMessage(st),
                        mode == PolicyMode::Report ? " (mode: report, the request passes)" : "");
  }
  setIdentity(p, v, ctx.state);
  std::string sub;
  if (!policy::jsonScalarText(v.sub, sub)) {
    sub = "-";
  }
  std::string out = absl::StrCat(who, "token valid for sub=", sub);
  if (v.has_exp) {
    absl::StrAppend(&out, " (not expiring for ", v.exp - now, " s)");
  }
  std::vector<std::string> sets;
  std::string text;
  for (size_t i = 0; i < p.claimHeaders().size(); i++) {
    if (policy::claimText(v.claims[i], text)) {
      sets.push_back(absl::StrCat(p.claimHeaders()[i].second, ": ", text));
    }
  }
  if (!sets.empty()) {
    absl::StrAppend(&out, "; sets ", absl::StrJoin(sets, ", "));
  }
  if (!p.forward() && p.queryParam().empty()) {
    absl::StrAppend(&out, "; strips ", p.header());
  }
  return out;
}

class JwtAuthFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "jwt_auth"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::jwt_auth::v1::JwtAuthConfig::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::jwt_auth::v1::JwtAuthConfig proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto provider = findNamedResource(ctx.auth_providers, proto.provider(), "provider",
                                      "auth provider", "an");
    if (!provider.ok()) {
      return provider.status();
    }
    PolicyMode mode;
    if (auto st = parsePolicyMode(proto.mode(), &mode); !st.ok()) {
      return st;
    }
    return FilterConfigConstSharedPtr(
        std::make_shared<JwtAuthConfig>(*std::move(provider), proto.allow_missing(), mode));
  }
};

const Register<JwtAuthFactory> kRegister;

} // namespace
} // namespace gw::filters
