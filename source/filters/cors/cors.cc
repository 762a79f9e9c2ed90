// `cors` (pre stage; sees responses): Cross-Origin Resource Sharing at the gateway.
//
// - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here: 204
//   with Access-Control-Allow-Origin / -Methods / -Headers / -Max-Age (and -Credentials), or 403
//   with a typed error (cors_origin_not_allowed, cors_method_not_allowed,
//   cors_header_not_allowed). Either way nothing reaches the upstream.
// - Any other request with an Origin is a cross-origin request: from an allowed origin it passes
//   and its response (proxied, local or an error) gets Access-Control-Allow-Origin (the origin,
//   or '*' with allow_origins ["*"]), -Credentials and -Expose-Headers; from an origin not
//   allowed it passes without them (the browser then refuses the response to the page), or gets
//   403 cors_origin_not_allowed with reject_disallowed_origins.
// - On every request with an Origin, the upstream's own Access-Control-Allow-*,
//   Access-Control-Expose-Headers and Access-Control-Max-Age are removed first: the gateway's
//   policy replaces them (as Envoy's filter does), so they are never duplicated or contradicted.
// - Every response on the route gets `Vary: Origin`, merged into an existing Vary, since its
//   CORS headers depend on the Origin (no Origin and `null` get none even with '*').
//
// The request stage's decision for a cross-origin request is kept in the filter state (kCors) for
// the response stage: requests without Origin make nothing. One shared instance serves every
// request.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/filters/cors/v1/cors.pb.h"
#include "source/filters/cors/origin_matcher.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

using cors::OriginMatcher;

const FilterCounter kPreflightAllowed{"cors", "preflight_allowed",
                                      "Preflights answered 204 by the gateway."};
const FilterCounter kPreflightDenied{
    "cors", "preflight_denied",
    "Preflights answered 403 (origin, method or a requested header not allowed)."};
const FilterCounter kActualAllowed{"cors", "actual_allowed",
                                   "Cross-origin requests from an allowed origin, passed on."};
const FilterCounter kActualDenied{
    "cors", "actual_denied",
    "Cross-origin requests answered 403 because their origin is not allowed "
    "(reject_disallowed_origins)."};
const FilterCounter kOriginNotAllowed{
    "cors", "origin_not_allowed",
    "Preflights and cross-origin requests whose origin is not allowed."};

constexpr uint32_t kDefaultMaxAge = 600;
constexpr uint32_t kMaxMaxAge = 86400;
constexpr char kPreflightVary[] =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

// The request stage's decision for a cross-origin request, read by the response stage.
struct CorsDecision : FilterStateObject {
  bool allowed = false;
  std::string origin;  // the request's Origin, as sent
  std::string describe() const override {
    return absl::StrCat(allowed ? "allowed " : "not allowed ", origin);
  }
};
inline constexpr FilterStateKey<CorsDecision> kCors{"cors"};

// Adds `Origin` to the response's Vary: appended to the first Vary field, unless a Vary already
// names it (any case) or is '*'.
void mergeVaryOrigin(HeaderMap& h) {
  HeaderMap::Entry* first = nullptr;
  for (auto& e : h.entries()) {
    if (e.first != "vary") {
      continue;
    }
    bool covered = false;
    forEachListToken(e.second, [&covered](absl::string_view t) {
      covered = covered || t == "*" || equalsLowerAscii(t, "origin");
    });
    if (covered) {
      return;
    }
    if (first == nullptr) {
      first = &e;
    }
  }
  if (first == nullptr) {
    h.add("vary", "Origin");
    return;
  }
  absl::string_view v = first->second;
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == ',')) {
    v.remove_suffix(1);
  }
  first->second = v.empty() ? std::string("Origin") : absl::StrCat(v, ", Origin");
}

// Removes the upstream's own CORS response headers (one pass).
void stripUpstreamCors(HeaderMap& h) {
  auto& e = h.entries();
  e.erase(std::remove_if(e.begin(), e.end(),
                         [](const HeaderMap::Entry& x) {
                           return absl::StartsWith(x.first, "access-control-allow-") ||
                                  x.first == "access-control-expose-headers" ||
                                  x.first == "access-control-max-age";
                         }),
          e.end());
}

// Why a preflight is refused: the error code and message. Empty code: allowed.
struct PreflightVerdict {
  const char* code = nullptr;
  std::string message;
};

std::string quote(absl::string_view s) { return absl::StrCat("'", absl::CHexEscape(s), "'"); }

class CorsConfig;

class CorsFilter : public Filter {
public:
  explicit CorsFilter(const CorsConfig& c) : config_(c) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override;
  FilterStatus onResponseHeaders(RequestContext& ctx) override;
  FilterStatus onError(RequestContext& ctx) override { return onResponseHeaders(ctx); }

private:
  void preflight(RequestContext& ctx, const std::string& origin,
                 const OriginMatcher::Rule* rule) const;
  const CorsConfig& config_;
};

class CorsConfig : public FilterConfig {
public:
  Filter* shared() const override { return &shared_; }
  bool seesResponse() const override { return true; }
  std::string explain(ExplainContext& ctx) const override;

  // Checks a preflight from an allowed origin: its requested method and headers.
  PreflightVerdict checkPreflight(const http::RequestHead& head) const;
  bool methodAllowed(absl::string_view m) const;
  bool headerAllowed(absl::string_view name) const;
  // The Origin header, or nullptr when absent. Two or more Origin fields make it "" (nothing
  // matches it).
  static const std::string* originOf(const http::RequestHead& head);
  // The Access-Control-Allow-Origin value for an allowed origin.
  absl::string_view allowOriginFor(absl::string_view origin) const {
    return matcher->allowAll() ? absl::string_view("*") : origin;
  }

  std::shared_ptr<const OriginMatcher> matcher;
  std::vector<std::string> methods;   // as configured (case-sensitive)
  std::vector<std::string> headers;   // lower-cased
  bool any_method = false;            // "*"
  bool any_header = false;            // "*"
  bool credentials = false;
  bool reject_disallowed = false;
  std::string methods_text;           // Access-Control-Allow-Methods
  std::string headers_text;           // Access-Control-Allow-Headers (empty: not sent)
  std::string expose_text;            // Access-Control-Expose-Headers (empty: not sent)
  std::string max_age_text;           // Access-Control-Max-Age

private:
  mutable CorsFilter shared_{*this};  // stateless: the decision lives in the filter state
};

const std::string* CorsConfig::originOf(const http::RequestHead& head) {
  static const std::string kInvalid;
  const std::string* origin = head.headers.get("origin");
  if (origin != nullptr && head.headers.count("origin") > 1) {
    return &kInvalid;
  }
  return origin;
}

bool CorsConfig::methodAllowed(absl::string_view m) const {
  // The CORS-safelisted methods pass whatever the list says: browsers never check them against
  // Access-Control-Allow-Methods.
  if (any_method || m == "GET" || m == "HEAD" || m == "POST") {
    return true;
  }
  for (const auto& allowed : methods) {
    if (m == allowed) {
      return true;
    }
  }
  return false;
}

bool CorsConfig::headerAllowed(absl::string_view name) const {
  for (const auto& allowed : headers) {
    if (equalsLowerAscii(name, allowed)) {
      return true;
    }
  }
  // '*' covers every name but Authorization, which must be listed by name (Fetch standard).
  return any_header && !equalsLowerAscii(name, "authorization");
}

PreflightVerdict CorsConfig::checkPreflight(const http::RequestHead& head) const {
  PreflightVerdict v;
  const std::string& method = *head.headers.get("access-control-request-method");
  if (head.headers.count("access-control-request-method") > 1 || !isToken(method) ||
      !methodAllowed(method)) {
    v.code = "cors_method_not_allowed";
    v.message = absl::StrCat("method ", quote(method), " is not allowed (allowed: ",
                             any_method ? "any" : methods_text, ")");
    return v;
  }
  for (const auto& [name, value] : head.headers.entries()) {
    if (name != "access-control-request-headers") {
      continue;
    }
    forEachListToken(value, [&](absl::string_view h) {
      if (v.code == nullptr && (!isToken(h) || !headerAllowed(h))) {
        v.code = "cors_header_not_allowed";
        v.message = absl::StrCat("request header ", quote(h), " is not allowed");
      }
    });
    if (v.code != nullptr) {
      return v;
    }
  }
  return v;
}

void CorsFilter::preflight(RequestContext& ctx, const std::string& origin,
                           const OriginMatcher::Rule* rule) const {
  const CorsConfig& c = config_;
  PreflightVerdict v;
  if (rule == nullptr) {
    kOriginNotAllowed.inc(ctx.worker());
    v.code = "cors_origin_not_allowed";
    v.message = absl::StrCat("origin ", quote(origin), " is not allowed");
  } else {
    v = c.checkPreflight(ctx.request());
  }
  if (v.code != nullptr) {
    kPreflightDenied.inc(ctx.worker());
    ErrorInfo e = ErrorInfo::make(ErrorKind::Forbidden, std::move(v.message), v.code);
    e.headers.emplace_back("vary", kPreflightVary);
    ctx.fail(std::move(e));
    return;
  }
  kPreflightAllowed.inc(ctx.worker());
  const HeaderMap& req = ctx.request().headers;
  http::ResponseHead head;
  head.status = 204;
  HeaderMap& h = head.headers;
  h.add("access-control-allow-origin", c.allowOriginFor(origin));
  if (c.credentials) {
    h.add("access-control-allow-credentials", "true");
  }
  // '*' lists answer with what was asked (checked above): it works in every browser, also
  // those that take '*' literally.
  h.add("access-control-allow-methods",
        c.any_method ? absl::string_view(*req.get("access-control-request-method"))
                     : absl::string_view(c.methods_text));
  if (c.any_header) {
    std::string asked;
    for (const auto& [name, value] : req.entries()) {
      if (name == "access-control-request-headers") {
        forEachListToken(value, [&asked](absl::string_view t) {
          absl::StrAppend(&asked, asked.empty() ? "" : ", ", t);
        });
      }
    }
    if (!asked.empty()) {
      h.add("access-control-allow-headers", asked);
    }
  } else if (!c.headers_text.empty()) {
    h.add("access-control-allow-headers", c.headers_text);
  }
  h.add("access-control-max-age", c.max_age_text);
  h.add("vary", kPreflightVary);
  ctx.respond(std::move(head), std::string());
}

FilterStatus CorsFilter::onRequestHeaders(RequestContext& ctx) {
  const http::RequestHead& head = ctx.request();
  const std::string* origin = CorsConfig::originOf(head);
  if (origin == nullptr) {
    return FilterStatus::Continue;  // not a CORS request: only Vary, in the response stage
  }
  const OriginMatcher::Rule* rule = config_.matcher->match(*origin);
  if (head.method == "OPTIONS" && head.headers.has("access-control-request-method")) {
    preflight(ctx, *origin, rule);
    return FilterStatus::StopAndRespond;
  }
  if (rule == nullptr) {
    kOriginNotAllowed.inc(ctx.worker());
    if (config_.reject_disallowed) {
      kActualDenied.inc(ctx.worker());
      ErrorInfo e = ErrorInfo::make(ErrorKind::Forbidden,
                                    absl::StrCat("origin ", quote(*origin), " is not allowed"),
                                    "cors_origin_not_allowed");
      e.headers.emplace_back("vary", "Origin");
      ctx.fail(std::move(e));
      return FilterStatus::StopAndRespond;
    }
  } else {
    kActualAllowed.inc(ctx.worker());
  }
  CorsDecision& d = ctx.filterState().emplace(kCors);
  d.allowed = rule != nullptr;
  d.origin = *origin;
  return FilterStatus::Continue;
}

FilterStatus CorsFilter::onResponseHeaders(RequestContext& ctx) {
  HeaderMap& h = ctx.response().headers;
  mergeVaryOrigin(h);
  const CorsDecision* d = ctx.filterState().get(kCors);
  if (d == nullptr) {
    return FilterStatus::Continue;  // no Origin: the response is left as it is
  }
  stripUpstreamCors(h);
  if (!d->allowed) {
    return FilterStatus::Continue;
  }
  h.add("access-control-allow-origin", config_.allowOriginFor(d->origin));
  if (config_.credentials) {
    h.add("access-control-allow-credentials", "true");
  }
  if (!config_.expose_text.empty()) {
    h.add("access-control-expose-headers", config_.expose_text);
  }
  return FilterStatus::Continue;
}

std::string CorsConfig::explain(ExplainContext& ctx) const {
  const http::RequestHead& head = ctx.head;
  const std::string* origin = originOf(head);
  if (origin == nullptr) {
    return "not a CORS request (no Origin): passes; responses get Vary: Origin";
  }
  const OriginMatcher::Rule* rule = matcher->match(*origin);
  const std::string from = absl::StrCat(" from ", quote(*origin));
  const std::string by =
      rule == nullptr ? std::string() : absl::StrCat(" (allowed by ", rule->describe(), ")");
  if (head.method == "OPTIONS" && head.headers.has("access-control-request-method")) {
    if (rule == nullptr) {
      return absl::StrCat("preflight", from,
                          ": 403 cors_origin_not_allowed (origin not allowed; not sent upstream)");
    }
    PreflightVerdict v = checkPreflight(head);
    if (v.code != nullptr) {
      return absl::StrCat("preflight", from, by, ": 403 ", v.code, ": ", v.message);
    }
    std::string out = absl::StrCat("preflight", from, by, ": answer 204 (allow-methods ",
                                   any_method ? "as requested" : methods_text);
    if (any_header) {
      absl::StrAppend(&out, "; allow-headers as requested");
    } else if (!headers_text.empty()) {
      absl::StrAppend(&out, "; allow-headers ", headers_text);
    }
    absl::StrAppend(&out, "; max-age ", max_age_text, credentials ? "; credentials" : "",
                    "; not sent upstream)");
    return out;
  }
  if (rule == nullptr) {
    if (reject_disallowed) {
      return absl::StrCat("cross-origin request", from,
                          ": 403 cors_origin_not_allowed (origin not allowed; "
                          "reject_disallowed_origins)");
    }
    ctx.state.emplace(kCors).origin = *origin;
    return absl::StrCat("cross-origin request", from,
                        ": origin not allowed: passes without CORS headers (the browser keeps "
                        "the response from the page); responses get Vary: Origin");
  }
  CorsDecision& d = ctx.state.emplace(kCors);
  d.allowed = true;
  d.origin = *origin;
  std::string out = absl::StrCat("cross-origin request", from, by,
                                 ": passes; responses get Access-Control-Allow-Origin: ",
                                 allowOriginFor(*origin));
  if (credentials) {
    absl::StrAppend(&out, ", Access-Control-Allow-Credentials: true");
  }
  if (!expose_text.empty()) {
    absl::StrAppend(&out, ", Access-Control-Expose-Headers: ", expose_text);
  }
  absl::StrAppend(&out, ", Vary: Origin");
  return out;
}

// Checks a list of header names (allow_headers, expose_headers): tokens, '*' only without
// credentials. Appends them to `out` (lower-cased when `lower`) and sets `any` for '*'.
absl::Status headerList(absl::string_view field,
                        const google::protobuf::RepeatedPtrField<std::string>& list,
                        bool credentials, bool lower, std::vector<std::string>& out, bool& any) {
  for (int i = 0; i < list.size(); i++) {
    std::string name = list[i];
    if (name == "*") {
      if (credentials) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, "[", i, "]: '*' cannot be used with allow_credentials: true (browsers take it "
            "literally with credentials); list the header names"));
      }
      any = true;
      continue;
    }
    if (!isToken(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: invalid header name ", quote(name)));
    }
    if (lower) {
      absl::AsciiStrToLower(&name);
    }
    out.push_back(std::move(name));
  }
  return absl::OkStatus();
}

class CorsFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "cors"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::cors::v1::Cors::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::cors::v1::Cors proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto c = std::make_shared<CorsConfig>();
    c->credentials = proto.allow_credentials();
    c->reject_disallowed = proto.reject_disallowed_origins();
    auto matcher = OriginMatcher::create(proto.allow_origins(), proto.allow_origin_regexes(),
                                         c->credentials);
    if (!matcher.ok()) {
      return matcher.status();
    }
    c->matcher = *std::move(matcher);

    for (int i = 0; i < proto.allow_methods().size(); i++) {
      const std::string& m = proto.allow_methods(i);
      const std::string field = absl::StrCat("allow_methods[", i, "]");
      if (m == "*") {
        if (c->credentials) {
          return absl::InvalidArgumentError(absl::StrCat(
              field, ": '*' cannot be used with allow_credentials: true (browsers take it "
              "literally with credentials); list the methods"));
        }
        c->any_method = true;
        continue;
      }
      if (!isToken(m)) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": invalid method ", quote(m)));
      }
      // Browsers upper-case these six before sending them (Fetch "normalize a method"); a
      // lower-case entry would never match. Other methods are sent as written ("PATCH" and
      // "patch" differ).
      const std::string upper = absl::AsciiStrToUpper(m);
      for (const char* n : {"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"}) {
        if (upper == n && m != n) {
          return absl::InvalidArgumentError(absl::StrCat(
              field, ": ", quote(m), " never matches: browsers send ", quote(n),
              " (methods are case-sensitive)"));
        }
      }
      c->methods.push_back(m);
    }
    c->methods_text = c->methods.empty() ? std::string("GET, HEAD, POST")
                                         : absl::StrJoin(c->methods, ", ");

    if (auto st = headerList("allow_headers", proto.allow_headers(), c->credentials, true,
                             c->headers, c->any_header);
        !st.ok()) {
      return st;
    }
    c->headers_text = absl::StrJoin(c->headers, ", ");
    std::vector<std::string> expose;
    bool expose_any = false;
    if (auto st = headerList("expose_headers", proto.expose_headers(), c->credentials, false,
                             expose, expose_any);
        !st.ok()) {
      return st;
    }
    if (expose_any) {
      expose.insert(expose.begin(), "*");
    }
    c->expose_text = absl::StrJoin(expose, ", ");

    uint32_t max_age = proto.has_max_age_seconds() ? proto.max_age_seconds() : kDefaultMaxAge;
    if (max_age > kMaxMaxAge) {
      return absl::InvalidArgumentError(absl::StrCat(
          "max_age_seconds: must be at most ", kMaxMaxAge, " (24 h; browsers cap it lower)"));
    }
    c->max_age_text = absl::StrCat(max_age);
    return FilterConfigConstSharedPtr(std::move(c));
  }
};

const Register<CorsFactory> kRegister;

} // namespace
} // namespace gw::filters
