// `oauth2_introspection` (pre stage): validates an opaque bearer token by POSTing it to an OAuth
// 2.0 token introspection endpoint (RFC 7662) with the worker's HTTP client, client credentials in
// HTTP basic auth.
//   no or malformed Authorization: Bearer  -> 401 oauth2_token_missing / oauth2_token_malformed
//   `active: false` (or past its exp)       -> 401 oauth2_token_inactive (error="invalid_token")
//   a required scope missing                -> 403 oauth2_insufficient_scope (RFC 6750 3.1)
//   endpoint down, non-200, non-JSON, slow  -> failure_mode: 503 introspection_unavailable, or pass
//   active with the scopes                  -> Identity (method "oauth2") in the filter state,
//                                              claim_headers set, Authorization stripped
// Results are cached per worker (TokenCache, keyed by the token's SHA-256): active ones until the
// token's exp or cache_ttl_seconds, whichever is sooner; inactive ones negative_cache_ttl_seconds.
// The call's timeout is enforced by the client and by a request timer; onDestroy cancels a call
// still in flight. The client secret is read once when the config is built and never appears in
// errors, logs or explain.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/filters/oauth2_introspection/v1/oauth2_introspection.pb.h"
#include "source/common/header_map.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/oauth2_introspection/token_cache.h"
#include "source/filters/report_only.h"
#include "source/http/http1_codec.h"
#include "source/policy/json_scan.h"

namespace gw::filters {
namespace {

using oauth2::IntrospectionResult;
using oauth2::TokenCache;

const char kName[] = "oauth2_introspection";
const FilterCounter kActive{kName, "active", "Requests allowed with an active token."};
const FilterCounter kInactive{kName, "inactive",
                              "Requests refused with 401: token missing, malformed or inactive."};
const FilterCounter kInsufficientScope{kName, "insufficient_scope",
                                       "Requests refused with 403: a required scope missing."};
const FilterCounter kCacheHits{kName, "cache_hits", "Decisions taken from the worker's cache."};
const FilterCounter kCalls{kName, "calls", "Introspection calls made."};
const FilterCounter kErrors{kName, "errors",
                            "Introspection calls failed (down, timeout, non-200, not JSON)."};
const FilterCounter kFailOpen{kName, "fail_open",
                              "Requests let through without identity after a failed call "
                              "(failure_mode: allow)."};
const FilterCounter kCancelled{kName, "cancelled",
                               "Requests that ended with an introspection call in flight."};

// Worker slots for the per-worker caches; a worker of a higher index runs without a cache.
constexpr size_t kMaxWorkers = 256;

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// application/x-www-form-urlencoded (unreserved characters kept, the rest %XX).
void appendFormEncoded(absl::string_view s, std::string& out) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

// RFC 6750 2.1 b64token.
bool isB64Token(absl::string_view t) {
  if (t.empty()) {
    return false;
  }
  size_t i = 0;
  for (; i < t.size(); i++) {
    const unsigned char c = t[i];
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
          c == '/')) {
      break;
    }
  }
  if (i == 0) {
    return false;
  }
  for (; i < t.size(); i++) {
    if (t[i] != '=') {
      return false;
    }
  }
  return true;
}

struct Settings {
  std::string cluster, path, client_id;
  std::string basic_auth;  // "Basic base64(id:secret)": holds the secret; never printed
  std::vector<std::string> required_scopes;
  std::string required_scopes_text;  // space-separated, for WWW-Authenticate
  std::chrono::milliseconds timeout{1000};
  bool fail_open = false;
  int64_t cache_ttl_ms = 300000;
  int64_t negative_ttl_ms = 5000;
  uint32_t cache_max_entries = 10000;
  std::vector<std::pair<std::string, std::string>> claim_headers;  // claim, header
  bool forward_token = false;
  PolicyMode mode = PolicyMode::Enforce;
};

// Parses an introspection response body; false when it is not a JSON object with a boolean
// `active`.
bool parseResult(const Settings& s, absl::string_view body, IntrospectionResult& r) {
  bool has_active = false;
  r.claims.assign(s.claim_headers.size(), std::string());
  r.has_claim.assign(s.claim_headers.size(), false);
  bool ok = policy::scanJsonObject(body, [&](absl::string_view key, const policy::JsonValue& v) {
    if (key == "active") {
      if (v.type != policy::JsonType::True && v.type != policy::JsonType::False) {
        return false;
      }
      has_active = true;
      r.active = v.type == policy::JsonType::True;
    } else if (key == "exp" && v.type == policy::JsonType::Number) {
      double d = 0;
      if (absl::SimpleAtod(v.raw, &d) && d > 0 && d < 1e15) {
        r.exp = static_cast<int64_t>(d);
      }
    } else if (key == "sub") {
      policy::jsonScalarText(v, r.sub);
    } else if (key == "scope") {
      policy::jsonScalarText(v, r.scope);
    } else if (key == "client_id") {
      policy::jsonScalarText(v, r.client_id);
    } else if (key == "username") {
      policy::jsonScalarText(v, r.username);
    }
    for (size_t i = 0; i < s.claim_headers.size(); i++) {
      if (s.claim_headers[i].first == key && policy::jsonScalarText(v, r.claims[i])) {
        r.has_claim[i] = true;
      }
    }
    return true;
  });
  return ok && has_active;
}

class IntrospectionConfig;

// One per request: it holds the call in flight.
class IntrospectionFilter : public Filter {
public:
  explicit IntrospectionFilter(const IntrospectionConfig& c);
  FilterStatus onRequestHeaders(RequestContext& ctx) override;
  void onDestroy(RequestContext& ctx) override;

private:
  FilterStatus decide(RequestContext& ctx, const IntrospectionResult& r);
  void onResult(RequestContext& ctx, HttpResult&& result);
  void onFailure(RequestContext& ctx, absl::string_view why);

  const IntrospectionConfig& config_;
  const Settings& s_;
  HttpClient* http_ = nullptr;
  uint64_t call_id_ = 0;
  std::string key_;  // the token's SHA-256
};

class IntrospectionConfig : public FilterConfig {
public:
  explicit IntrospectionConfig(Settings s)
      : s_(std::move(s)), caches_(kMaxWorkers) {}
  FilterPtr create() const override { return std::make_unique<IntrospectionFilter>(*this); }
  std::string explain(ExplainContext& ctx) const override;
  const Settings& settings() const { return s_; }

  // The worker's own cache (made on first use, on that worker), or nullptr when caching is off.
  TokenCache* cache(WorkerContext& worker) const {
    const int i = worker.index();
    if (s_.cache_max_entries == 0 || i < 0 || static_cast<size_t>(i) >= caches_.size()) {
      return nullptr;
    }
    auto& slot = caches_[static_cast<size_t>(i)];  // only worker i touches slot i
    if (slot == nullptr) {
      slot = std::make_unique<TokenCache>(s_.cache_max_entries);
    }
    return slot.get();
  }

private:
  const Settings s_;
  mutable std::vector<std::unique_ptr<TokenCache>> caches_;  // sized once, never resized
};

IntrospectionFilter::IntrospectionFilter(const IntrospectionConfig& c)
    : config_(c), s_(c.settings()) {}

ErrorInfo unauthenticated(absl::string_view message, absl::string_view code,
                          absl::string_view challenge) {
  ErrorInfo e = ErrorInfo::make(ErrorKind::Unauthenticated, std::string(message), code);
  e.headers.emplace_back("www-authenticate", std::string(challenge));
  return e;
}

FilterStatus IntrospectionFilter::onRequestHeaders(RequestContext& ctx) {
  HeaderMap& headers = ctx.request().headers;
  for (const auto& ch : s_.claim_headers) {
    headers.remove(ch.second);  // never let a client forge what the gateway asserts
  }
  const std::string* auth = headers.get("authorization");
  if (auth == nullptr) {
    kInactive.inc(ctx.worker());
    return rejectOrReport(ctx, s_.mode, kName,
                          unauthenticated("no bearer token in the authorization header",
                                          "oauth2_token_missing", "Bearer"));
  }
  absl::string_view v = absl::StripAsciiWhitespace(*auth);
  absl::string_view token;
  if (v.size() > 7 && absl::EqualsIgnoreCase(v.substr(0, 7), "bearer ")) {
    token = absl::StripLeadingAsciiWhitespace(v.substr(7));
  }
  if (!isB64Token(token)) {
    kInactive.inc(ctx.worker());
    return rejectOrReport(ctx, s_.mode, kName,
                          unauthenticated("the authorization header is not 'Bearer <token>'",
                                          "oauth2_token_malformed", "Bearer"));
  }
  key_ = TokenCache::keyOf(token);
  if (TokenCache* cache = config_.cache(ctx.worker())) {
    if (const IntrospectionResult* r = cache->find(key_, nowMs())) {
      kCacheHits.inc(ctx.worker());
      return decide(ctx, *r);
    }
  }
  HttpRequest call;
  call.method = "POST";
  call.path = s_.path;
  call.timeout = s_.timeout;
  call.max_response_bytes = 64 * 1024;
  call.headers.add("content-type", "application/x-www-form-urlencoded");
  call.headers.add("accept", "application/json");
  call.headers.add("authorization", s_.basic_auth);
  call.body.reserve(token.size() + 48);
  call.body.append("token=");
  appendFormEncoded(token, call.body);
  call.body.append("&token_type_hint=access_token");
  kCalls.inc(ctx.worker());
  http_ = &ctx.worker().httpClient();
  RequestHandle h = ctx.handle();
  call_id_ = http_->send(s_.cluster, std::move(call), [this, h](HttpResult&& r) {
    if (RequestContext* c = h.context()) {
      call_id_ = 0;
      onResult(*c, std::move(r));
    }
  });
  // The client enforces the same timeout; this timer makes sure the request never waits longer
  // whatever the client does.
  ctx.runAfter(s_.timeout + std::chrono::milliseconds(50), [this, h] {
    RequestContext* c = h.context();
    if (c == nullptr || call_id_ == 0) {
      return;
    }
    http_->cancel(call_id_);
    call_id_ = 0;
    onFailure(*c, "timed out");
  });
  return FilterStatus::Pause;
}

void IntrospectionFilter::onResult(RequestContext& ctx, HttpResult&& r) {
  if (!r.ok()) {
    onFailure(ctx, r.error.kind == ErrorKind::UpstreamTimeout
                       ? absl::string_view("timed out")
                       : absl::string_view(r.error.code));
    return;
  }
  if (r.response.head.status != 200) {
    onFailure(ctx, absl::StrCat("status ", r.response.head.status));
    return;
  }
  IntrospectionResult result;
  if (!parseResult(s_, r.response.body, result)) {
    onFailure(ctx, "the response is not a JSON object with a boolean 'active'");
    return;
  }
  if (TokenCache* cache = config_.cache(ctx.worker())) {
    const int64_t now = nowMs();
    int64_t until = now + (result.active ? s_.cache_ttl_ms : s_.negative_ttl_ms);
    if (result.active && result.exp > 0) {
      until = std::min(until, result.exp * 1000);
    }
    cache->put(key_, result, until, now);
  }
  if (decide(ctx, result) == FilterStatus::Continue) {
    ctx.resume();
  }
}

void IntrospectionFilter::onFailure(RequestContext& ctx, absl::string_view why) {
  kErrors.inc(ctx.worker());
  if (s_.fail_open) {
    kFailOpen.inc(ctx.worker());
    ctx.resume();
    return;
  }
  ErrorInfo e = ErrorInfo::make(
      ErrorKind::Unavailable,
      absl::StrCat("token introspection at cluster '", s_.cluster, "' failed: ", why),
      "introspection_unavailable");
  if (rejectOrReport(ctx, s_.mode, kName, std::move(e)) == FilterStatus::Continue) {
    ctx.resume();
  }
}

FilterStatus IntrospectionFilter::decide(RequestContext& ctx, const IntrospectionResult& r) {
  if (!r.active || (r.exp > 0 && r.exp * 1000 <= nowMs())) {
    kInactive.inc(ctx.worker());
    return rejectOrReport(ctx, s_.mode, kName,
                          unauthenticated("the token is not active", "oauth2_token_inactive",
                                          "Bearer error=\"invalid_token\""));
  }
  std::vector<absl::string_view> words =
      absl::StrSplit(r.scope, ' ', absl::SkipEmpty());
  for (const std::string& need : s_.required_scopes) {
    if (std::find(words.begin(), words.end(), need) == words.end()) {
      kInsufficientScope.inc(ctx.worker());
      ErrorInfo e = ErrorInfo::make(ErrorKind::Forbidden,
                                    absl::StrCat("the token lacks the scope '", need, "'"),
                                    "oauth2_insufficient_scope");
      e.headers.emplace_back("www-authenticate",
                             absl::StrCat("Bearer error=\"insufficient_scope\", scope=\"",
                                          s_.required_scopes_text, "\""));
      e.details.emplace_back("missing_scope", need);
      return rejectOrReport(ctx, s_.mode, kName, std::move(e));
    }
  }
  kActive.inc(ctx.worker());
  Identity& id = ctx.filterState().emplace(kIdentity);
  id.method = "oauth2";
  id.provider = s_.cluster;
  // Client-credentials tokens have no `sub`: the user name, else the client, is who calls.
  id.subject = !r.sub.empty() ? r.sub : !r.username.empty() ? r.username : r.client_id;
  for (absl::string_view w : words) {
    id.permissions.emplace_back(w);
  }
  const std::pair<const char*, const std::string*> standard[] = {
      {"sub", &r.sub}, {"scope", &r.scope}, {"client_id", &r.client_id},
      {"username", &r.username}};
  for (const auto& [name, value] : standard) {
    if (!value->empty()) {
      id.claims.emplace_back(name, *value);
    }
  }
  HeaderMap& headers = ctx.request().headers;
  for (size_t i = 0; i < s_.claim_headers.size() && i < r.claims.size(); i++) {
    if (r.has_claim[i] && http::isValidFieldValue(r.claims[i])) {
      headers.add(s_.claim_headers[i].second, r.claims[i]);
    }
  }
  if (!s_.forward_token) {
    headers.remove("authorization");
  }
  return FilterStatus::Continue;
}

void IntrospectionFilter::onDestroy(RequestContext& ctx) {
  if (call_id_ != 0) {
    kCancelled.inc(ctx.worker());
    http_->cancel(call_id_);
    call_id_ = 0;
  }
}

std::string IntrospectionConfig::explain(ExplainContext& ctx) const {
  const std::string* auth = ctx.head.headers.get("authorization");
  std::string out;
  if (auth == nullptr) {
    out = "401 oauth2_token_missing: no bearer token in the authorization header";
    if (s_.mode == PolicyMode::Report) {
      absl::StrAppend(&out, " (mode: report, the request passes)");
    }
    return out;
  }
  out = absl::StrCat("POST the bearer token to cluster '", s_.cluster, "' ", s_.path,
                     " (timeout ", s_.timeout.count(), " ms, on failure ",
                     s_.fail_open ? "pass" : "503 introspection_unavailable", ")");
  if (!s_.required_scopes.empty()) {
    absl::StrAppend(&out, "; requires scope ", s_.required_scopes_text);
  }
  if (s_.mode == PolicyMode::Report) {
    absl::StrAppend(&out, " (mode: report)");
  }
  return out;
}

absl::Status invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

class IntrospectionFactory : public FilterFactory {
public:
  absl::string_view name() const override { return kName; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::oauth2_introspection::v1::OAuth2IntrospectionConfig::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::oauth2_introspection::v1::OAuth2IntrospectionConfig proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    Settings s;
    if (proto.cluster().empty()) {
      return invalid("cluster", "required (the cluster of the introspection endpoint)");
    }
    if (!ctx.cluster_names.contains(proto.cluster())) {
      return invalid("cluster", absl::StrCat("unknown cluster '", proto.cluster(), "'"));
    }
    s.cluster = proto.cluster();
    if (proto.path().empty() || proto.path()[0] != '/') {
      return invalid("path", "required, starting with '/'");
    }
    for (unsigned char c : proto.path()) {
      if (c <= ' ' || c >= 0x7f) {
        return invalid("path", "must be printable ASCII without spaces");
      }
    }
    s.path = proto.path();
    if (proto.client_id().empty()) {
      return invalid("client_id", "required");
    }
    s.client_id = proto.client_id();
    std::string secret;
    const bool has_env = !proto.client_secret_env().empty();
    const bool has_file = !proto.client_secret_file().empty();
    if (has_env == has_file) {
      return invalid("client_secret_env",
                     "exactly one of client_secret_env and client_secret_file is required");
    }
    if (has_env) {
      const char* v = std::getenv(proto.client_secret_env().c_str());
      if (v == nullptr || *v == '\0') {
        return invalid("client_secret_env", absl::StrCat("environment variable '",
                                                         proto.client_secret_env(),
                                                         "' is not set or empty"));
      }
      secret = v;
    } else {
      std::ifstream in(proto.client_secret_file(), std::ios::binary);
      std::stringstream buf;
      if (in) {
        buf << in.rdbuf();
      }
      if (!in) {
        return invalid("client_secret_file",
                       absl::StrCat("cannot read '", proto.client_secret_file(), "'"));
      }
      secret = std::string(absl::StripTrailingAsciiWhitespace(buf.str()));
      if (secret.empty()) {
        return invalid("client_secret_file",
                       absl::StrCat("'", proto.client_secret_file(), "' is empty"));
      }
    }
    std::string userpass;
    appendFormEncoded(s.client_id, userpass);
    userpass.push_back(':');
    appendFormEncoded(secret, userpass);
    s.basic_auth = absl::StrCat("Basic ", absl::Base64Escape(userpass));
    for (int i = 0; i < proto.required_scopes_size(); i++) {
      const std::string& sc = proto.required_scopes(i);
      if (sc.empty() || sc.find_first_of(" \"\\") != std::string::npos) {
        return invalid(absl::StrCat("required_scopes[", i, "]"),
                       "must be one scope word (no spaces, quotes or backslashes)");
      }
      s.required_scopes.push_back(sc);
    }
    s.required_scopes_text = absl::StrJoin(s.required_scopes, " ");
    if (proto.timeout_ms() != 0) {
      if (proto.timeout_ms() > 60000) {
        return invalid("timeout_ms", "must be at most 60000");
      }
      s.timeout = std::chrono::milliseconds(proto.timeout_ms());
    }
    if (proto.failure_mode() == "allow") {
      s.fail_open = true;
    } else if (!proto.failure_mode().empty() && proto.failure_mode() != "deny") {
      return invalid("failure_mode",
                     absl::StrCat("must be 'deny' or 'allow', not '", proto.failure_mode(), "'"));
    }
    if (proto.cache_ttl_seconds() != 0) {
      s.cache_ttl_ms = int64_t{proto.cache_ttl_seconds()} * 1000;
    }
    if (proto.has_negative_cache_ttl_seconds()) {
      s.negative_ttl_ms = int64_t{proto.negative_cache_ttl_seconds()} * 1000;
    }
    if (proto.has_cache_max_entries()) {
      if (proto.cache_max_entries() > 10000000) {
        return invalid("cache_max_entries", "must be at most 10000000");
      }
      s.cache_max_entries = proto.cache_max_entries();
    }
    for (int i = 0; i < proto.claim_headers_size(); i++) {
      const auto& ch = proto.claim_headers(i);
      const std::string field = absl::StrCat("claim_headers[", i, "]");
      if (ch.claim().empty()) {
        return invalid(absl::StrCat(field, ".claim"), "required");
      }
      if (!isLowerToken(ch.header())) {
        return invalid(absl::StrCat(field, ".header"), "must be a lower-case header name");
      }
      if (ch.header() == "authorization" || ch.header() == "host") {
        return invalid(absl::StrCat(field, ".header"),
                       absl::StrCat("'", ch.header(), "' cannot be set from a claim"));
      }
      s.claim_headers.emplace_back(ch.claim(), ch.header());
    }
    s.forward_token = proto.forward_token();
    if (auto st = parsePolicyMode(proto.mode(), &s.mode); !st.ok()) {
      return st;
    }
    return FilterConfigConstSharedPtr(std::make_shared<IntrospectionConfig>(std::move(s)));
  }
};

const Register<IntrospectionFactory> kRegister;

} // namespace
} // namespace gw::filters
