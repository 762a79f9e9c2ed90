// `authz` (pre stage): the route's permission check. Reads the caller's Identity from the filter
// state (jwt_auth, api_key_auth or oauth2_introspection put it there), expands its roles through
// the configured role map, and checks the rule for the request's method:
//   no identity                -> 401 unauthenticated with WWW-Authenticate;
//   a required permission lacks -> 403 permission_denied naming it (details.missing_permissions);
//   no rule for the method     -> 403 method_not_permitted.
// Passing requests carry the user context upstream (x-user-id, x-user-roles, x-user-permissions
// by default); client-sent copies of those headers are removed on every request. The decision,
// with the caller's effective permissions, goes into the filter state (kAuthz) for the access log
// and later filters. The config's permissions are compiled once (permission_matcher.h).
// Stateless: one shared instance serves every request.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/filters/authz/v1/authz.pb.h"
#include "source/filters/authz/authz_decision.h"
#include "source/filters/authz/permission_matcher.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "source/http/http1_codec.h"

namespace gw::filters::authz {
namespace {

const FilterCounter kAllowed{"authz", "allowed", "Requests whose identity held the permissions."};
const FilterCounter kDenied{"authz", "denied",
                            "Requests refused with 403 (a permission missing, or no rule)."};
const FilterCounter kUnauthenticated{"authz", "unauthenticated",
                                     "Requests refused with 401 (no identity)."};

struct Rule {
  std::vector<std::string> methods;  // empty: every method
  std::vector<CompiledPermission> any_of;
  std::vector<CompiledPermission> all_of;
};

// One permission the caller holds: its own (raw text from the credential) or one its roles
// grant (compiled with the config).
struct Granted {
  absl::string_view text;
  const CompiledPermission* compiled;  // null for the identity's own permissions
};

class AuthzConfig;

class AuthzFilter : public Filter {
public:
  explicit AuthzFilter(const AuthzConfig& c) : config_(c) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override;

private:
  const AuthzConfig& config_;
};

class AuthzConfig : public FilterConfig {
public:
  Filter* shared() const override { return &shared_; }
  std::string explain(ExplainContext& ctx) const override;

  // The rule for a method, or nullptr.
  const Rule* ruleFor(absl::string_view method) const;
  // Decides for `id` (which may be null) under `rule`; fills `d`.
  void decide(const Identity* id, absl::string_view method, AuthzDecision& d) const;
  // The caller's permissions: its own, then those its roles grant (in the order of the
  // identity's roles), without repeats.
  void effectivePermissions(const Identity& id, std::vector<Granted>& out) const;

  std::vector<Rule> rules;
  absl::flat_hash_map<std::string, std::vector<CompiledPermission>> roles;
  std::string user_id_header = "x-user-id";
  std::string roles_header = "x-user-roles";
  std::string permissions_header = "x-user-permissions";
  std::string challenge;  // WWW-Authenticate value
  PolicyMode mode = PolicyMode::Enforce;

private:
  mutable AuthzFilter shared_{*this};  // stateless: one instance for every request
};

const Rule* AuthzConfig::ruleFor(absl::string_view method) const {
  for (const Rule& r : rules) {
    if (r.methods.empty()) {
      return &r;
    }
    for (const std::string& m : r.methods) {
      if (m == method) {
        return &r;
      }
    }
  }
  return nullptr;
}

void AuthzConfig::effectivePermissions(const Identity& id, std::vector<Granted>& out) const {
  out.clear();
  auto add = [&out](absl::string_view p, const CompiledPermission* compiled) {
    for (const Granted& have : out) {
      if (have.text == p) {
        return;
      }
    }
    out.push_back(Granted{p, compiled});
  };
  for (const std::string& p : id.permissions) {
    add(p, nullptr);
  }
  for (const std::string& role : id.roles) {
    if (auto it = roles.find(role); it != roles.end()) {
      for (const CompiledPermission& p : it->second) {
        add(p.text(), &p);
      }
    }
  }
}

void AuthzConfig::decide(const Identity* id, absl::string_view method, AuthzDecision& d) const {
  d.missing.clear();
  d.any_of_missing = false;
  d.permissions.clear();
  if (id == nullptr) {
    d.outcome = AuthzDecision::Outcome::Unauthenticated;
    return;
  }
  thread_local std::vector<Granted> granted;
  effectivePermissions(*id, granted);
  d.permissions.reserve(granted.size());
  for (const Granted& g : granted) {
    d.permissions.emplace_back(g.text);
  }
  const Rule* rule = ruleFor(method);
  if (rule == nullptr) {
    d.outcome = AuthzDecision::Outcome::NoRule;
    return;
  }
  auto holds = [&](const CompiledPermission& required) {
    for (const Granted& g : granted) {
      if (g.compiled != nullptr ? required.matches(*g.compiled) : required.matches(g.text)) {
        return true;
      }
    }
    return false;
  };
  for (const CompiledPermission& p : rule->all_of) {
    if (!holds(p)) {
      d.missing.push_back(p.text());
    }
  }
  if (!rule->any_of.empty()) {
    bool any = false;
    for (const CompiledPermission& p : rule->any_of) {
      any = any || holds(p);
    }
    if (!any) {
      d.any_of_missing = true;
      for (const CompiledPermission& p : rule->any_of) {
        d.missing.push_back(p.text());
      }
    }
  }
  d.outcome = d.missing.empty() ? AuthzDecision::Outcome::Allowed
                                : AuthzDecision::Outcome::PermissionDenied;
}

ErrorInfo errorFor(const AuthzDecision& d, absl::string_view method,
                   const std::string& challenge) {
  switch (d.outcome) {
  case AuthzDecision::Outcome::Unauthenticated: {
    ErrorInfo e = ErrorInfo::make(ErrorKind::Unauthenticated,
                                  "this route needs an authenticated caller", "unauthenticated");
    e.headers.emplace_back("www-authenticate", challenge);
    return e;
  }
  case AuthzDecision::Outcome::NoRule:
    return ErrorInfo::make(ErrorKind::Forbidden,
                           absl::StrCat("no permission rule allows method ", method),
                           "method_not_permitted");
  default: {
    const std::string missing = absl::StrJoin(d.missing, ", ");
    ErrorInfo e = ErrorInfo::make(
        ErrorKind::Forbidden,
        absl::StrCat(d.any_of_missing && d.missing.size() > 1 ? "missing one of the permissions "
                     : d.missing.size() > 1                   ? "missing permissions "
                                                              : "missing permission ",
                     missing),
        "permission_denied");
    e.details.emplace_back("missing_permissions", missing);
    return e;
  }
  }
}

// Joins header values, leaving out what cannot be part of a header value.
void joinInto(std::string& out, absl::string_view item) {
  if (item.empty() || item.find(',') != absl::string_view::npos ||
      !http::isValidFieldValue(item)) {
    return;
  }
  if (!out.empty()) {
    out += ',';
  }
  out.append(item.data(), item.size());
}

FilterStatus AuthzFilter::onRequestHeaders(RequestContext& ctx) {
  HeaderMap& headers = ctx.request().headers;
  for (const std::string* h :
       {&config_.user_id_header, &config_.roles_header, &config_.permissions_header}) {
    if (!h->empty()) {
      headers.remove(*h);  // never let a client forge what the gateway asserts
    }
  }
  const Identity* id = ctx.filterState().get(kIdentity);
  AuthzDecision& d = ctx.filterState().emplace(kAuthz);
  config_.decide(id, ctx.request().method, d);
  if (d.outcome != AuthzDecision::Outcome::Allowed) {
    (d.outcome == AuthzDecision::Outcome::Unauthenticated ? kUnauthenticated : kDenied)
        .inc(ctx.worker());
    const FilterStatus st = rejectOrReport(ctx, config_.mode, "authz",
                                           errorFor(d, ctx.request().method, config_.challenge));
    if (st != FilterStatus::Continue || id == nullptr) {
      return st;
    }
  } else {
    kAllowed.inc(ctx.worker());
  }
  if (!config_.user_id_header.empty() && !id->subject.empty() &&
      http::isValidFieldValue(id->subject)) {
    headers.add(config_.user_id_header, id->subject);
  }
  thread_local std::string text;
  if (!config_.roles_header.empty()) {
    text.clear();
    for (const std::string& r : id->roles) {
      joinInto(text, r);
    }
    if (!text.empty()) {
      headers.add(config_.roles_header, text);
    }
  }
  if (!config_.permissions_header.empty()) {
    text.clear();
    for (const std::string& p : d.permissions) {
      joinInto(text, p);
    }
    if (!text.empty()) {
      headers.add(config_.permissions_header, text);
    }
  }
  return FilterStatus::Continue;
}

std::string AuthzConfig::explain(ExplainContext& ctx) const {
  AuthzDecision d;
  decide(ctx.state.get(kIdentity), ctx.head.method, d);
  std::string out;
  if (d.outcome == AuthzDecision::Outcome::Allowed) {
    out = absl::StrCat("allow ", ctx.head.method);
  } else {
    const ErrorInfo e = errorFor(d, ctx.head.method, challenge);
    out = absl::StrCat(e.status, " ", e.code, ": ", e.message);
  }
  if (mode == PolicyMode::Report && d.outcome != AuthzDecision::Outcome::Allowed) {
    absl::StrAppend(&out, " (mode: report, the request passes)");
  }
  return out;
}

absl::Status parseRules(const gateway::filters::authz::v1::Authz& proto, AuthzConfig& c) {
  auto checkList = [](const google::protobuf::RepeatedPtrField<std::string>& list,
                      absl::string_view field,
                      std::vector<CompiledPermission>& out) -> absl::Status {
    for (int i = 0; i < list.size(); i++) {
      auto p = CompiledPermission::compile(list[i]);
      if (!p.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, "[", i, "]: ", p.status().message()));
      }
      out.push_back(*std::move(p));
    }
    return absl::OkStatus();
  };
  // A rule that can never decide is a config mistake: one after a rule without methods (which
  // takes every method), or a method an earlier rule already lists.
  int catch_all = -1;
  absl::flat_hash_map<std::string, int> method_rule;
  if (proto.rules().empty()) {
    return absl::InvalidArgumentError("rules: at least one rule is required");
  }
  for (int i = 0; i < proto.rules_size(); i++) {
    const auto& r = proto.rules(i);
    const std::string at = absl::StrCat("rules[", i, "]");
    Rule rule;
    for (int m = 0; m < r.methods_size(); m++) {
      const std::string& method = r.methods(m);
      bool token = !method.empty();
      for (char ch : method) {
        token = token && ch >= 'A' && ch <= 'Z';
      }
      if (!token) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".methods[", m, "]: '", method, "' is not an upper-case method name"));
      }
      if (catch_all >= 0) {
        break;  // reported below
      }
      if (auto [it, fresh] = method_rule.try_emplace(method, i); !fresh) {
        return absl::InvalidArgumentError(
            it->second == i
                ? absl::StrCat(at, ".methods[", m, "]: ", method, " is listed twice")
                : absl::StrCat(at, ".methods[", m, "]: ", method, " is already decided by rules[",
                               it->second, "]; the first rule listing a method decides it"));
      }
      rule.methods.push_back(method);
    }
    if (auto st = checkList(r.any_of(), absl::StrCat(at, ".any_of"), rule.any_of); !st.ok()) {
      return st;
    }
    if (auto st = checkList(r.all_of(), absl::StrCat(at, ".all_of"), rule.all_of); !st.ok()) {
      return st;
    }
    if (catch_all >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": unreachable, rules[", catch_all,
                       "] lists no methods and decides every method; put the default rule last"));
    }
    if (rule.methods.empty()) {
      catch_all = i;
    }
    c.rules.push_back(std::move(rule));
  }
  // In name order, so that the first problem reported does not depend on the map's order.
  std::vector<const std::string*> names;
  for (const auto& entry : proto.roles()) {
    names.push_back(&entry.first);
  }
  std::sort(names.begin(), names.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  for (const std::string* name : names) {
    const std::string& role = *name;
    const google::protobuf::ListValue& list = proto.roles().at(role);
    if (role.empty()) {
      return absl::InvalidArgumentError("roles: a role name must not be empty");
    }
    std::vector<CompiledPermission>& perms = c.roles[role];
    for (int i = 0; i < list.values_size(); i++) {
      const auto& v = list.values(i);
      // The YAML path of the item: roles.support[1].
      const std::string at = absl::StrCat("roles.", role, "[", i, "]");
      if (v.kind_case() != google::protobuf::Value::kStringValue) {
        return absl::InvalidArgumentError(absl::StrCat(at, ": a permission must be a string"));
      }
      auto p = CompiledPermission::compile(v.string_value());
      if (!p.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(at, ": ", p.status().message()));
      }
      perms.push_back(*std::move(p));
    }
  }
  return absl::OkStatus();
}

absl::Status parseHeaders(const gateway::filters::authz::v1::Authz::UserHeaders& h,
                          AuthzConfig& c) {
  struct Field {
    bool has;
    const std::string& value;
    const char* name;
    std::string& out;
  };
  for (const Field& f : {Field{h.has_user_id(), h.user_id(), "user_id", c.user_id_header},
                         Field{h.has_roles(), h.roles(), "roles", c.roles_header},
                         Field{h.has_permissions(), h.permissions(), "permissions",
                               c.permissions_header}}) {
    if (!f.has) {
      continue;
    }
    std::string lower = absl::AsciiStrToLower(f.value);
    bool ok = true;
    for (char ch : lower) {
      ok = ok && isTokenChar(ch);
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("user_headers.", f.name, ": '", f.value, "' is not a header name"));
    }
    // The filter removes these names from every request: never framing, routing or
    // hop-by-hop headers, nor the credentials the authentication filters read.
    for (absl::string_view reserved :
         {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
          "proxy-connection", "te", "trailer", "upgrade", "expect", "authorization",
          "proxy-authorization", "cookie", "x-request-id"}) {
      if (lower == reserved) {
        return absl::InvalidArgumentError(absl::StrCat(
            "user_headers.", f.name, ": '", f.value,
            "' is reserved (the filter removes its user headers from every request)"));
      }
    }
    f.out = std::move(lower);
  }
  struct Named {
    const char* name;
    const std::string& header;
  };
  const Named all[] = {{"user_id", c.user_id_header},
                       {"roles", c.roles_header},
                       {"permissions", c.permissions_header}};
  for (size_t i = 0; i < 3; i++) {
    for (size_t j = 0; j < i; j++) {
      if (!all[i].header.empty() && all[i].header == all[j].header) {
        return absl::InvalidArgumentError(
            absl::StrCat("user_headers.", all[i].name, ": '", all[i].header,
                         "' is already user_headers.", all[j].name));
      }
    }
  }
  return absl::OkStatus();
}

class AuthzFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "authz"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::authz::v1::Authz::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::authz::v1::Authz proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto c = std::make_shared<AuthzConfig>();
    if (auto st = parseRules(proto, *c); !st.ok()) {
      return st;
    }
    if (auto st = parseHeaders(proto.user_headers(), *c); !st.ok()) {
      return st;
    }
    if (auto st = parsePolicyMode(proto.mode(), &c->mode); !st.ok()) {
      return st;
    }
    const std::string& realm = proto.realm().empty() ? "gateway" : proto.realm();
    if (realm.find('"') != std::string::npos || realm.find('\\') != std::string::npos ||
        !http::isValidFieldValue(realm)) {
      return absl::InvalidArgumentError("realm: must be printable text without quotes");
    }
    c->challenge = absl::StrCat("Bearer realm=\"", realm, "\"");
    return FilterConfigConstSharedPtr(std::move(c));
  }
};

const Register<AuthzFactory> kRegister;

} // namespace
} // namespace gw::filters::authz
