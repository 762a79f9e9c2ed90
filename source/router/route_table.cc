#include "source/router/route_table.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/common/percent.h"
#include "source/router/path_template.h"
#include "re2/re2.h"

namespace gw::router {
namespace {

using gateway::v1::Route;
using gateway::v1::RouteMatch;
using gateway::v1::StringMatcher;

constexpr std::chrono::milliseconds kDefaultRouteTimeout{15000};

re2::StringPiece toPiece(absl::string_view s) { return re2::StringPiece(s.data(), s.size()); }

// Compiles `pattern`; the error names `field`.
absl::StatusOr<std::unique_ptr<RE2>> compileRegex(const std::string& pattern,
                                                  const std::string& field) {
  auto re = std::make_unique<RE2>(pattern, RE2::Quiet);
  if (!re->ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": invalid RE2: ", re->error()));
  }
  return re;
}

// For trace lines: quoted, with control and non-ASCII bytes escaped.
std::string quote(absl::string_view s) { return absl::StrCat("'", absl::CHexEscape(s), "'"); }

// A compiled StringMatcher. An unset matcher means "present".
class ValueMatcher {
public:
  static absl::StatusOr<ValueMatcher> compile(const StringMatcher& m, const std::string& field) {
    ValueMatcher v;
    v.invert_ = m.invert();
    switch (m.match_case()) {
    case StringMatcher::kExact:
      v.kind_ = Kind::Exact;
      v.value_ = m.exact();
      break;
    case StringMatcher::kPrefix:
      v.kind_ = Kind::Prefix;
      v.value_ = m.prefix();
      break;
    case StringMatcher::kRegex: {
      v.kind_ = Kind::Regex;
      v.value_ = m.regex();
      auto re = compileRegex(m.regex(), field + ".regex");
      if (!re.ok()) {
        return re.status();
      }
      v.regex_ = std::shared_ptr<const RE2>(std::move(*re));
      break;
    }
    case StringMatcher::kPresent:
      v.kind_ = Kind::Present;
      v.want_present_ = m.present();
      break;
    case StringMatcher::MATCH_NOT_SET:
      v.kind_ = Kind::Present;
      v.want_present_ = true;
      break;
    }
    return v;
  }

  // `value` is nullptr when the header / parameter is absent. Absent values match only `present:
  // false`; `invert` negates the whole result (so an inverted exact matcher matches an absent
  // value).
  bool matches(const absl::string_view* value) const {
    bool r = false;
    if (kind_ == Kind::Present) {
      r = (value != nullptr) == want_present_;
    } else if (value != nullptr) {
      switch (kind_) {
      case Kind::Exact: r = *value == value_; break;
      case Kind::Prefix: r = absl::StartsWith(*value, value_); break;
      case Kind::Regex: r = RE2::FullMatch(toPiece(*value), *regex_); break;
      case Kind::Present: break;
      }
    }
    return r != invert_;
  }

  std::string describe() const {
    std::string d;
    switch (kind_) {
    case Kind::Exact: d = absl::StrCat("exact ", quote(value_)); break;
    case Kind::Prefix: d = absl::StrCat("prefix ", quote(value_)); break;
    case Kind::Regex: d = absl::StrCat("regex ", quote(value_)); break;
    case Kind::Present: d = want_present_ ? "present" : "absent"; break;
    }
    return invert_ ? absl::StrCat("not ", d) : d;
  }

private:
  enum class Kind { Exact, Prefix, Regex, Present };
  Kind kind_ = Kind::Present;
  bool want_present_ = true;
  bool invert_ = false;
  std::string value_;
  std::shared_ptr<const RE2> regex_;
};

struct KeyMatcher {
  std::string name;
  ValueMatcher value;
};

class RouteEntryImpl : public RouteEntry {
public:
  static absl::StatusOr<std::unique_ptr<RouteEntryImpl>> compile(const Route& route,
                                                                 const std::string& base,
                                                                 int index);

  const std::string& name() const override { return name_; }
  uint64_t maxRequestBodyBytes() const override { return max_request_body_bytes_; }
  std::chrono::milliseconds timeout() const override { return timeout_; }
  const UpgradePolicy* upgrade() const override { return upgrade_.get(); }

  bool rewrites() const override { return !prefix_rewrite_.empty() || rewrite_regex_ != nullptr; }
  std::string rewritePath(absl::string_view path) const override {
    std::string out;
    if (!prefix_rewrite_.empty() && absl::StartsWith(path, path_value_)) {
      out = absl::StrCat(prefix_rewrite_, path.substr(path_value_.size()));
    } else if (rewrite_regex_ != nullptr) {
      out = std::string(path);
      RE2::GlobalReplace(&out, *rewrite_regex_, rewrite_substitution_);
    } else {
      return std::string(path);
    }
    // The upstream must get an origin-form path.
    if (out.empty() || out[0] != '/') {
      out.insert(out.begin(), '/');
    }
    return out;
  }

  // Tries this route. On a match returns true and fills result.captures (templates only). When
  // `why` is non-null it receives the reason for a mismatch.
  bool tryMatch(const http::RequestHead& head, MatchResult& result, std::string* why) const;

  const std::string& label() const { return label_; }

  // The first path segment every request this route can match must have ("api" for prefix
  // "/api/", exact "/api" or template "/api/{id}"), or false when the path spec does not pin it
  // (prefix "/ap", a regex, a template starting with a wildcard).
  bool firstSegment(std::string* out) const;

private:
  enum class PathKind { Exact, Prefix, Template, Regex };

  bool pathMatches(absl::string_view path, MatchResult& result) const;

  // Only what the data path reads: a 10,000-route snapshot would otherwise hold a third copy
  // of every Route message (the snapshot and the listener config hold the others).
  std::string name_;
  uint64_t max_request_body_bytes_ = 0;
  std::string label_;  // "route 'orders' (prefix /api/orders/)", for trace lines
  PathKind path_kind_ = PathKind::Prefix;
  std::string path_value_;  // exact path, prefix, template or regex text
  std::vector<TemplateSegment> segments_;
  std::unique_ptr<RE2> path_regex_;
  std::vector<std::string> methods_;
  std::vector<KeyMatcher> headers_;
  std::vector<KeyMatcher> query_params_;
  std::string prefix_rewrite_;
  std::unique_ptr<RE2> rewrite_regex_;
  std::string rewrite_substitution_;
  std::chrono::milliseconds timeout_ = kDefaultRouteTimeout;
  std::unique_ptr<UpgradePolicy> upgrade_;  // Route.upgrade; null when unset
};

absl::StatusOr<std::unique_ptr<RouteEntryImpl>> RouteEntryImpl::compile(const Route& route,
                                                                        const std::string& base,
                                                                        int index) {
  auto e = std::make_unique<RouteEntryImpl>();
  e->name_ = route.name();
  e->max_request_body_bytes_ = route.max_request_body_bytes();
  const RouteMatch& m = route.match();
  const std::string mbase = base + ".match";
  absl::string_view kind;
  switch (m.path_specifier_case()) {
  case RouteMatch::kPath:
    e->path_kind_ = PathKind::Exact;
    e->path_value_ = m.path();
    kind = "path";
    if (m.path().empty() || m.path()[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(mbase, ".path: must start with '/'"));
    }
    break;
  case RouteMatch::kPrefix:
    e->path_kind_ = PathKind::Prefix;
    e->path_value_ = m.prefix();
    kind = "prefix";
    if (m.prefix().empty() || m.prefix()[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(mbase, ".prefix: must start with '/'"));
    }
    break;
  case RouteMatch::kPathTemplate: {
    e->path_kind_ = PathKind::Template;
    e->path_value_ = m.path_template();
    kind = "template";
    auto segs = parseTemplate(m.path_template(), mbase + ".path_template");
    if (!segs.ok()) {
      return segs.status();
    }
    e->segments_ = std::move(*segs);
    break;
  }
  case RouteMatch::kRegex: {
    e->path_kind_ = PathKind::Regex;
    e->path_value_ = m.regex();
    kind = "regex";
    auto re = compileRegex(m.regex(), mbase + ".regex");
    if (!re.ok()) {
      return re.status();
    }
    e->path_regex_ = std::move(*re);
    break;
  }
  case RouteMatch::PATH_SPECIFIER_NOT_SET:
    return absl::InvalidArgumentError(
        absl::StrCat(mbase, ": one of path, prefix, path_template or regex is required"));
  }
  e->label_ = absl::StrCat(route.name().empty() ? absl::StrCat("unnamed route #", index)
                                                : absl::StrCat("route '", route.name(), "'"),
                           " (", kind, " ", e->path_value_, ")");

  for (int i = 0; i < m.methods_size(); i++) {
    std::string method = absl::AsciiStrToUpper(m.methods(i));
    if (method.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(mbase, ".methods[", i, "]: must not be empty"));
    }
    e->methods_.push_back(std::move(method));
  }
  for (int i = 0; i < m.headers_size(); i++) {
    const std::string field = absl::StrCat(mbase, ".headers[", i, "]");
    if (m.headers(i).name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".name: must not be empty"));
    }
    auto v = ValueMatcher::compile(m.headers(i).value(), field + ".value");
    if (!v.ok()) {
      return v.status();
    }
    e->headers_.push_back({absl::AsciiStrToLower(m.headers(i).name()), std::move(*v)});
  }
  for (int i = 0; i < m.query_params_size(); i++) {
    const std::string field = absl::StrCat(mbase, ".query_params[", i, "]");
    if (m.query_params(i).name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".name: must not be empty"));
    }
    auto v = ValueMatcher::compile(m.query_params(i).value(), field + ".value");
    if (!v.ok()) {
      return v.status();
    }
    e->query_params_.push_back({m.query_params(i).name(), std::move(*v)});
  }

  if (!route.prefix_rewrite().empty()) {
    if (e->path_kind_ != PathKind::Prefix) {
      return absl::InvalidArgumentError(
          absl::StrCat(base, ".prefix_rewrite: only allowed with match.prefix"));
    }
    if (route.prefix_rewrite()[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(base, ".prefix_rewrite: must start with '/'"));
    }
    e->prefix_rewrite_ = route.prefix_rewrite();
  }
  if (route.has_regex_rewrite()) {
    const auto& rr = route.regex_rewrite();
    if (!e->prefix_rewrite_.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(base, ".regex_rewrite: cannot be combined with prefix_rewrite"));
    }
    if (rr.pattern().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(base, ".regex_rewrite.pattern: must not be empty"));
    }
    auto re = compileRegex(rr.pattern(), base + ".regex_rewrite.pattern");
    if (!re.ok()) {
      return re.status();
    }
    std::string err;
    if (!(*re)->CheckRewriteString(rr.substitution(), &err)) {
      return absl::InvalidArgumentError(absl::StrCat(base, ".regex_rewrite.substitution: ", err));
    }
    e->rewrite_regex_ = std::move(*re);
    e->rewrite_substitution_ = rr.substitution();
  }

  if (route.has_timeout()) {
    const int64_t s = route.timeout().seconds();
    const int32_t n = route.timeout().nanos();
    if (s < 0 || n < 0) {
      return absl::InvalidArgumentError(absl::StrCat(base, ".timeout: must not be negative"));
    }
    int64_t ms = s * 1000 + n / 1000000;
    if (ms == 0 && n > 0) {
      ms = 1;  // a sub-millisecond timeout is not "disabled"
    }
    e->timeout_ = std::chrono::milliseconds(ms);
  }
  if (route.has_upgrade()) {
    auto up = compileUpgradePolicy(route.upgrade(), base);
    if (!up.ok()) {
      return up.status();
    }
    e->upgrade_ = std::move(*up);
  }
  return e;
}

bool RouteEntryImpl::firstSegment(std::string* out) const {
  switch (path_kind_) {
  case PathKind::Exact: {
    const absl::string_view p = absl::string_view(path_value_).substr(1);
    *out = std::string(p.substr(0, p.find('/')));
    return true;
  }
  case PathKind::Prefix: {
    const absl::string_view p = absl::string_view(path_value_).substr(1);
    const size_t slash = p.find('/');
    if (slash == absl::string_view::npos) {
      return false;  // "/api" also matches "/apis/x"
    }
    *out = std::string(p.substr(0, slash));
    return true;
  }
  case PathKind::Template:
    if (segments_.empty() || segments_[0].kind != TemplateSegment::Kind::Literal) {
      return false;
    }
    *out = segments_[0].text;
    return true;
  case PathKind::Regex: return false;
  }
  return false;
}

// The first segment of a request path ("/api/users" -> "api", "/" -> ""); false if the path is
// not origin-form.
bool requestFirstSegment(absl::string_view path, absl::string_view* out) {
  if (path.empty() || path[0] != '/') {
    return false;
  }
  path.remove_prefix(1);
  *out = path.substr(0, path.find('/'));
  return true;
}

bool RouteEntryImpl::pathMatches(absl::string_view path, MatchResult& result) const {
  switch (path_kind_) {
  case PathKind::Exact: return path == path_value_;
  case PathKind::Prefix: return absl::StartsWith(path, path_value_);
  case PathKind::Template: return matchTemplate(segments_, path, &result.captures);
  case PathKind::Regex: return RE2::FullMatch(toPiece(path), *path_regex_);
  }
  return false;
}

// The value of header `name` for matching: the first field, or all fields joined with ',' (RFC 9110
// section 5.3) when it is repeated. `storage` is used only in the repeated case.
const std::string* headerValue(const HeaderMap& headers, absl::string_view name,
                               std::string& storage) {
  const std::string* first = nullptr;
  bool joined = false;
  for (const auto& [k, v] : headers.entries()) {
    if (k != name) {
      continue;
    }
    if (first == nullptr) {
      first = &v;
    } else {
      if (!joined) {
        storage = *first;
        joined = true;
      }
      storage.push_back(',');
      storage.append(v);
    }
  }
  return joined ? &storage : first;
}

// Finds the first `name` parameter of a raw query string ("a=1&b=%20x"). Keys and values are
// compared / returned percent-decoded; `storage` is used only when the value has an escape.
bool queryValue(absl::string_view query, absl::string_view name, absl::string_view& value,
                std::string& storage) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == absl::string_view::npos) {
      amp = query.size();
    }
    const absl::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) {
      continue;
    }
    const size_t eq = pair.find('=');
    const absl::string_view key = pair.substr(0, eq);
    if (!queryKeyIs(key, name)) {
      continue;
    }
    const absl::string_view raw =
        eq == absl::string_view::npos ? absl::string_view() : pair.substr(eq + 1);
    if (raw.find('%') == absl::string_view::npos) {
      value = raw;
    } else {
      storage = percentDecode(raw);
      value = storage;
    }
    return true;
  }
  return false;
}

bool RouteEntryImpl::tryMatch(const http::RequestHead& head, MatchResult& result,
                              std::string* why) const {
  result.captures.clear();
  if (!pathMatches(head.path, result)) {
    if (why != nullptr) {
      *why = absl::StrCat("path ", quote(head.path), " does not match");
    }
    result.captures.clear();
    return false;
  }
  if (!methods_.empty() &&
      std::find(methods_.begin(), methods_.end(), head.method) == methods_.end()) {
    if (why != nullptr) {
      *why = absl::StrCat("method ", quote(head.method), " not in [", absl::StrJoin(methods_, ", "),
                          "]");
    }
    result.captures.clear();
    return false;
  }
  std::string storage;
  for (const KeyMatcher& h : headers_) {
    const std::string* v = headerValue(head.headers, h.name, storage);
    absl::string_view sv = v != nullptr ? absl::string_view(*v) : absl::string_view();
    if (!h.value.matches(v != nullptr ? &sv : nullptr)) {
      if (why != nullptr) {
        *why = absl::StrCat("header ", quote(h.name),
                            v != nullptr ? absl::StrCat(" = ", quote(*v)) : " (absent)",
                            " does not satisfy ", h.value.describe());
      }
      result.captures.clear();
      return false;
    }
  }
  for (const KeyMatcher& q : query_params_) {
    absl::string_view v;
    const bool present = queryValue(head.query, q.name, v, storage);
    if (!q.value.matches(present ? &v : nullptr)) {
      if (why != nullptr) {
        *why = absl::StrCat("query parameter ", quote(q.name),
                            present ? absl::StrCat(" = ", quote(v)) : " (absent)",
                            " does not satisfy ", q.value.describe());
      }
      result.captures.clear();
      return false;
    }
  }
  return true;
}

struct VirtualHostImpl {
  std::string name;
  std::vector<std::unique_ptr<RouteEntryImpl>> routes;

  // First-match order over many routes without trying each: routes whose path spec pins the
  // request's first path segment are bucketed by it; the others (`unpinned`) are candidates for
  // every request. A request tries its bucket and `unpinned` merged in declaration order, so the
  // first match is the same route a linear scan finds. Built only for large route lists.
  static constexpr size_t kIndexThreshold = 16;
  bool indexed = false;
  absl::flat_hash_map<std::string, std::vector<uint32_t>> by_first_segment;
  std::vector<uint32_t> unpinned;

  void buildIndex() {
    if (routes.size() < kIndexThreshold) {
      return;
    }
    indexed = true;
    std::string seg;
    for (uint32_t i = 0; i < routes.size(); i++) {
      if (routes[i]->firstSegment(&seg)) {
        by_first_segment[seg].push_back(i);
      } else {
        unpinned.push_back(i);
      }
    }
  }

  const RouteEntryImpl* match(const http::RequestHead& head, MatchResult& result) const {
    absl::string_view first;
    if (!indexed || !requestFirstSegment(head.path, &first)) {
      for (const auto& route : routes) {
        if (route->tryMatch(head, result, nullptr)) {
          return route.get();
        }
      }
      return nullptr;
    }
    static const std::vector<uint32_t> kNone;
    auto it = by_first_segment.find(first);
    const std::vector<uint32_t>& bucket = it == by_first_segment.end() ? kNone : it->second;
    size_t a = 0;
    size_t b = 0;
    while (a < bucket.size() || b < unpinned.size()) {
      const uint32_t i = (b >= unpinned.size() || (a < bucket.size() && bucket[a] < unpinned[b]))
                             ? bucket[a++]
                             : unpinned[b++];
      if (routes[i]->tryMatch(head, result, nullptr)) {
        return routes[i].get();
      }
    }
    return nullptr;
  }
};

// "host:port" -> "host", "[v6]:port" -> "[v6]".
absl::string_view stripPort(absl::string_view host) {
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    return close == absl::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  if (colon == absl::string_view::npos) {
    return host;
  }
  const absl::string_view port = host.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return host;
  }
  return host.substr(0, colon);
}

} // namespace

struct RouteTable::Impl {
  std::vector<VirtualHostImpl> vhosts;
  absl::flat_hash_map<std::string, size_t> exact;
  std::vector<std::pair<std::string, size_t>> suffixes;  // "*.example.com" -> ".example.com"
  int wildcard = -1;

  // Index of the virtual host for `host` (lower-case, no port), or -1. `how` (when non-null)
  // receives the domain that matched.
  int selectVirtualHost(absl::string_view host, std::string* how) const {
    if (auto it = exact.find(host); it != exact.end()) {
      if (how != nullptr) {
        *how = absl::StrCat("exact domain ", quote(it->first));
      }
      return static_cast<int>(it->second);
    }
    for (const auto& [suffix, idx] : suffixes) {
      if (host.size() > suffix.size() && absl::EndsWith(host, suffix)) {
        if (how != nullptr) {
          *how = absl::StrCat("domain ", quote(absl::StrCat("*", suffix)));
        }
        return static_cast<int>(idx);
      }
    }
    if (wildcard >= 0 && how != nullptr) {
      *how = "domain '*'";
    }
    return wildcard;
  }
};

RouteTable::~RouteTable() = default;

absl::StatusOr<std::unique_ptr<RouteTable>> RouteTable::create(
    const gateway::v1::Listener& listener, std::vector<std::string>* all_errors) {
  auto impl = std::make_unique<Impl>();
  // The first error, returned; with `all_errors` every error is collected and the walk goes on
  // (past a bad domain or route: the table is then only good for its errors).
  absl::Status first;
  auto problem = [&](std::string message) {
    if (first.ok()) {
      first = absl::InvalidArgumentError(message);
    }
    if (all_errors != nullptr) {
      all_errors->push_back(std::move(message));
    }
    return all_errors == nullptr;  // stop at the first unless collecting
  };
  // Domain -> field path of its first declaration, to report duplicates.
  absl::flat_hash_map<std::string, std::string> seen;
  impl->vhosts.reserve(listener.virtual_hosts_size());
  for (int vi = 0; vi < listener.virtual_hosts_size(); vi++) {
    const auto& vh = listener.virtual_hosts(vi);
    const std::string vbase = absl::StrCat("virtual_hosts[", vi, "]");
    VirtualHostImpl compiled;
    compiled.name = vh.name();
    if (vh.domains_size() == 0 &&
        problem(absl::StrCat(vbase, ".domains: at least one domain is required (\"*\" for any)"))) {
      return first;
    }
    for (int di = 0; di < vh.domains_size(); di++) {
      const std::string field = absl::StrCat(vbase, ".domains[", di, "]");
      const std::string domain = absl::AsciiStrToLower(vh.domains(di));
      if (domain.empty()) {
        if (problem(absl::StrCat(field, ": must not be empty"))) {
          return first;
        }
        continue;
      }
      if (domain.find('*', 1) != std::string::npos) {
        if (problem(absl::StrCat(
                field, ": '*' is only allowed as the whole domain or as a leading wildcard"))) {
          return first;
        }
        continue;
      }
      if (auto [it, inserted] = seen.emplace(domain, field); !inserted) {
        if (problem(absl::StrCat(field, ": duplicate domain ", quote(domain), " (also ",
                                 it->second, ")"))) {
          return first;
        }
        continue;
      }
      if (domain == "*") {
        impl->wildcard = vi;
      } else if (domain[0] == '*') {
        impl->suffixes.emplace_back(domain.substr(1), vi);
      } else {
        impl->exact.emplace(domain, vi);
      }
    }
    for (int ri = 0; ri < vh.routes_size(); ri++) {
      auto route =
          RouteEntryImpl::compile(vh.routes(ri), absl::StrCat(vbase, ".routes[", ri, "]"), ri);
      if (!route.ok()) {
        if (problem(std::string(route.status().message()))) {
          return first;
        }
        continue;
      }
      compiled.routes.push_back(std::move(*route));
    }
    compiled.buildIndex();
    impl->vhosts.push_back(std::move(compiled));
  }
  if (!first.ok()) {
    return first;
  }
  std::stable_sort(impl->suffixes.begin(), impl->suffixes.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  auto table = std::unique_ptr<RouteTable>(new RouteTable());
  table->impl_ = std::move(impl);
  return table;
}

MatchResult RouteTable::match(const http::RequestHead& head, MatchTrace* trace) const {
  MatchResult result;
  absl::string_view host = stripPort(head.host);
  std::string lowered;  // only when the host is not already lower-case (the codec lower-cases it)
  if (std::any_of(host.begin(), host.end(), [](char c) { return absl::ascii_isupper(c); })) {
    lowered = absl::AsciiStrToLower(host);
    host = lowered;
  }
  std::string how;
  const int vi = impl_->selectVirtualHost(host, trace != nullptr ? &how : nullptr);
  if (vi < 0) {
    if (trace != nullptr) {
      trace->virtual_host.clear();
      trace->lines.push_back(absl::StrCat("host ", quote(host), ": no virtual host matches"));
    }
    return result;
  }
  const VirtualHostImpl& vh = impl_->vhosts[vi];
  if (trace == nullptr) {
    result.route = vh.match(head, result);
    return result;
  }

  trace->virtual_host = vh.name;
  trace->lines.push_back(
      absl::StrCat("host ", quote(host), " -> virtual host ", quote(vh.name), " (", how, ")"));
  std::string why;
  for (const auto& route : vh.routes) {
    if (!route->tryMatch(head, result, &why)) {
      trace->lines.push_back(absl::StrCat(route->label(), ": ", why));
      continue;
    }
    std::string line = absl::StrCat(route->label(), ": matched");
    if (!result.captures.empty()) {
      std::vector<std::string> caps;
      for (const auto& [k, v] : result.captures) {
        caps.push_back(absl::StrCat(k, "=", quote(v)));
      }
      absl::StrAppend(&line, " {", absl::StrJoin(caps, ", "), "}");
    }
    const std::string upstream = route->rewritePath(head.path);
    if (upstream != head.path) {
      absl::StrAppend(&line, ", upstream path ", quote(upstream));
    }
    trace->lines.push_back(std::move(line));
    result.route = route.get();
    return result;
  }
  trace->lines.push_back(absl::StrCat("no route of virtual host ", quote(vh.name), " matches"));
  return result;
}

std::vector<RouteEntry*> RouteTable::allRoutes() {
  std::vector<RouteEntry*> out;
  for (auto& vh : impl_->vhosts) {
    for (auto& r : vh.routes) {
      out.push_back(r.get());
    }
  }
  return out;
}

} // namespace gw::router
