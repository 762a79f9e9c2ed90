#include "source/filters/cors/origin_matcher.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "source/common/header_map.h"

namespace gw::filters::cors {
namespace {

// Origins no configuration allows on purpose (.invalid is reserved, RFC 6761). A regex that
// matches one of them, with credentials, would let any site read credentialed responses.
constexpr const char* kRegexProbes[] = {
    "https://cors-probe.invalid",
    "http://cors-probe.invalid",
    "https://cors-probe.invalid:8443",
    "https://a.b.cors-probe.invalid",
};
// Appended to the smallest string a regex can match (RE2::PossibleMatchRange): a regex that
// still matches is open-ended after its host ("https://app\.example\.com.*").
constexpr const char kSuffixProbe[] = ".cors-probe.invalid";

bool isLabelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

bool parseHost(absl::string_view host) {
  if (host.empty()) {
    return false;
  }
  if (host.front() == '[') {  // IPv6 literal
    if (host.size() < 3 || host.back() != ']') {
      return false;
    }
    for (char c : host.substr(1, host.size() - 2)) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return false;
      }
    }
    return true;
  }
  size_t label = 0;  // length of the current label
  for (char c : host) {
    if (c == '.') {
      if (label == 0) {
        return false;  // empty label: leading, doubled or trailing dot
      }
      label = 0;
    } else if (isLabelChar(c)) {
      label++;
    } else {
      return false;
    }
  }
  return label > 0;
}

std::string quote(absl::string_view s) { return absl::StrCat("'", absl::CHexEscape(s), "'"); }

absl::Status error(absl::string_view field, int i, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]: ", what));
}

} // namespace

bool parseOrigin(absl::string_view t, OriginParts& out) {
  const size_t sep = t.find("://");
  if (sep == absl::string_view::npos || sep == 0) {
    return false;
  }
  const absl::string_view scheme = t.substr(0, sep);
  if (!absl::ascii_isalpha(static_cast<unsigned char>(scheme[0]))) {
    return false;
  }
  for (char c : scheme) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' &&
        c != '.') {
      return false;
    }
  }
  const absl::string_view rest = t.substr(sep + 3);
  size_t host_end;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    host_end = close == absl::string_view::npos ? rest.size() : close + 1;
  } else {
    host_end = std::min(rest.find(':'), rest.size());
  }
  const absl::string_view host = rest.substr(0, host_end);
  if (!parseHost(host)) {
    return false;
  }
  absl::string_view port;
  if (host_end < rest.size()) {
    if (rest[host_end] != ':') {
      return false;
    }
    port = rest.substr(host_end + 1);
    if (port.empty() || port.size() > 5 || port[0] < '1' || port[0] > '9') {
      return false;
    }
    uint32_t v = 0;
    for (char c : port) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        return false;
      }
      v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v > 65535) {
      return false;
    }
  }
  out.scheme = scheme;
  out.host = host;
  out.port = port;
  return true;
}

std::string OriginMatcher::Rule::describe() const {
  switch (kind) {
  case Kind::Exact: return absl::StrCat("exact ", quote(text));
  case Kind::Subdomain: return absl::StrCat("wildcard ", quote(text));
  case Kind::Null: return "'null'";
  case Kind::Regex: return absl::StrCat("regex ", quote(text));
  case Kind::Any: return "'*'";
  }
  return quote(text);
}

absl::StatusOr<std::shared_ptr<const OriginMatcher>>
OriginMatcher::create(const google::protobuf::RepeatedPtrField<std::string>& origins,
                      const google::protobuf::RepeatedPtrField<std::string>& regexes,
                      bool credentials) {
  auto m = std::make_shared<OriginMatcher>();
  if (origins.empty() && regexes.empty()) {
    return absl::InvalidArgumentError(
        "allow_origins: required (at least one origin, or allow_origin_regexes)");
  }
  for (int i = 0; i < origins.size(); i++) {
    const std::string& o = origins[i];
    if (o.empty()) {
      return error("allow_origins", i, "must not be empty");
    }
    if (o == "*") {
      if (credentials) {
        return error("allow_origins", i,
                     "'*' cannot be used with allow_credentials: true (browsers refuse "
                     "'Access-Control-Allow-Origin: *' with credentials); list the origins");
      }
      if (origins.size() > 1) {
        return error("allow_origins", i,
                     "'*' allows every origin and cannot be combined with other entries");
      }
      if (!regexes.empty()) {
        return absl::InvalidArgumentError(
            "allow_origin_regexes: cannot be combined with allow_origins '*'");
      }
      m->allow_all_ = true;
      m->all_rule_.text = "*";
      m->all_rule_.kind = Rule::Kind::Any;
      continue;
    }
    Rule r;
    r.text = o;
    if (absl::AsciiStrToLower(o) == "null") {
      r.kind = Rule::Kind::Null;
    } else {
      absl::string_view text = o;
      std::string unstarred;
      const size_t star = text.find('*');
      if (star != absl::string_view::npos) {
        const size_t sep = text.find("://");
        if (sep == absl::string_view::npos || star != sep + 3 ||
            text.substr(star, 2) != "*." ||
            text.find('*', star + 1) != absl::string_view::npos) {
          return error("allow_origins", i,
                       absl::StrCat(quote(o),
                                    ": '*' may only be a whole leftmost host label followed "
                                    "by '.', as in 'https://*.example.com'"));
        }
        unstarred = absl::StrCat(text.substr(0, star), text.substr(star + 2));
        text = unstarred;
        r.kind = Rule::Kind::Subdomain;
      }
      OriginParts p;
      if (!parseOrigin(text, p)) {
        return error("allow_origins", i,
                     absl::StrCat(quote(o),
                                  " is not an origin: write scheme://host[:port] without a "
                                  "path, query or trailing '/' (e.g. 'https://app.example.com')"));
      }
      r.scheme = absl::AsciiStrToLower(p.scheme);
      r.host = absl::AsciiStrToLower(p.host);
      r.port = std::string(p.port);
      if (r.kind == Rule::Kind::Subdomain) {
        if (r.host.front() == '[' || r.host.find('.') == std::string::npos) {
          return error("allow_origins", i,
                       absl::StrCat(quote(o),
                                    " would allow every host under a top-level domain; a "
                                    "wildcard needs at least two labels after '*.'"));
        }
        r.host.insert(0, ".");
      }
    }
    for (size_t k = 0; k < m->rules_.size(); k++) {
      const Rule& e = m->rules_[k];
      if (e.kind == r.kind && e.scheme == r.scheme && e.host == r.host && e.port == r.port) {
        return error("allow_origins", i, absl::StrCat(quote(o), " repeats allow_origins[", k, "]"));
      }
    }
    m->rules_.push_back(std::move(r));
  }
  for (int i = 0; i < regexes.size(); i++) {
    const std::string& pattern = regexes[i];
    if (pattern.empty()) {
      return error("allow_origin_regexes", i, "must not be empty");
    }
    RE2::Options opts(RE2::Quiet);
    opts.set_case_sensitive(false);
    auto re = std::make_shared<RE2>(pattern, opts);
    if (!re->ok()) {
      return error("allow_origin_regexes", i, absl::StrCat("invalid RE2: ", re->error()));
    }
    if (credentials) {
      std::vector<std::string> probes(std::begin(kRegexProbes), std::end(kRegexProbes));
      std::string min, max;
      if (re->PossibleMatchRange(&min, &max, 256) && !min.empty()) {
        probes.push_back(absl::AsciiStrToLower(min) + kSuffixProbe);
      }
      for (const std::string& probe : probes) {
        if (RE2::FullMatch(probe, *re)) {
          return error(
              "allow_origin_regexes", i,
              absl::StrCat("matches ", quote(probe),
                           ", an origin nobody allows on purpose: with allow_credentials: true "
                           "any site could make credentialed requests; anchor the pattern to "
                           "your hosts (e.g. 'https://[a-z0-9-]+\\.example\\.com')"));
        }
      }
    }
    Rule r;
    r.kind = Rule::Kind::Regex;
    r.text = pattern;
    r.regex = std::move(re);
    m->rules_.push_back(std::move(r));
  }
  return std::shared_ptr<const OriginMatcher>(std::move(m));
}

const OriginMatcher::Rule* OriginMatcher::match(absl::string_view origin) const {
  if (equalsLowerAscii(origin, "null")) {
    for (const Rule& r : rules_) {
      if (r.kind == Rule::Kind::Null) {
        return &r;
      }
    }
    return nullptr;
  }
  OriginParts p;
  if (!parseOrigin(origin, p)) {
    return nullptr;
  }
  if (allow_all_) {
    return &all_rule_;
  }
  for (const Rule& r : rules_) {
    switch (r.kind) {
    case Rule::Kind::Exact:
      if (p.port == r.port && equalsLowerAscii(p.scheme, r.scheme) &&
          equalsLowerAscii(p.host, r.host)) {
        return &r;
      }
      break;
    case Rule::Kind::Subdomain:
      // r.host is ".example.com": the request's host ends with it after at least one label.
      if (p.port == r.port && p.host.size() > r.host.size() &&
          equalsLowerAscii(p.scheme, r.scheme) &&
          equalsLowerAscii(p.host.substr(p.host.size() - r.host.size()), r.host)) {
        return &r;
      }
      break;
    case Rule::Kind::Null:
    case Rule::Kind::Any:
      break;
    case Rule::Kind::Regex:
      if (RE2::FullMatch(re2::StringPiece(origin.data(), origin.size()), *r.regex)) {
        return &r;
      }
      break;
    }
  }
  return nullptr;
}

} // namespace gw::filters::cors
