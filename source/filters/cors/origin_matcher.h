#pragma once

// The `cors` filter's origin rules: parsing serialized origins ("https://app.example.com:8443")
// and matching a request's Origin against the configured exact origins, subdomain wildcards,
// the literal `null`, `*` and RE2 patterns. Built once per config, immutable, shared by every
// worker (RE2 matching on a const object is thread-safe).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_field.h"

namespace re2 {
class RE2;
}

namespace gw::filters::cors {

// A serialized origin split into its parts (views into the parsed text). `port` is the digits
// without ':', empty when the origin has none.
struct OriginParts {
  absl::string_view scheme;
  absl::string_view host;
  absl::string_view port;
};

// Parses "scheme://host[:port]" as browsers serialize origins (RFC 6454): a scheme
// ([A-Za-z][A-Za-z0-9+.-]*), a host that is either dot-separated non-empty labels of
// [A-Za-z0-9_-] or a bracketed IPv6 literal, and an optional port of 1..5 digits up to 65535
// (no leading zero). Anything else (a path, a trailing '/', userinfo, a query, a trailing dot,
// non-ASCII, "null") is not an origin: false.
bool parseOrigin(absl::string_view text, OriginParts& out);

class OriginMatcher {
public:
  // One configured rule.
  struct Rule {
    enum class Kind { Exact, Subdomain, Null, Regex, Any };
    Kind kind = Kind::Exact;
    std::string text;    // as configured (explain, errors)
    std::string scheme;  // lower-case (Exact, Subdomain)
    std::string host;    // lower-case; Subdomain: the suffix with its leading dot (".example.com")
    std::string port;    // digits or empty (Exact, Subdomain)
    std::shared_ptr<const re2::RE2> regex;  // Regex

    // "exact 'https://app.example.com'", "wildcard 'https://*.example.com'", "regex '...'",
    // "'null'", "'*'".
    std::string describe() const;
  };

  // Compiles `allow_origins` and `allow_origin_regexes`. Errors are InvalidArgument and start
  // with the field path ("allow_origins[1]: ..."). With `credentials`, '*' is refused, and so is
  // a regex that matches origins nobody configures on purpose (see kRegexProbes in the .cc).
  static absl::StatusOr<std::shared_ptr<const OriginMatcher>>
  create(const google::protobuf::RepeatedPtrField<std::string>& origins,
         const google::protobuf::RepeatedPtrField<std::string>& regexes, bool credentials);

  // The rule that allows `origin` (the Origin header's value), or nullptr. Scheme and host are
  // compared without regard to ASCII case, the port exactly. "null" is allowed only by a `null`
  // rule (never by '*', a wildcard or a regex); a value that is not an origin by parseOrigin is
  // allowed by nothing. With '*', every other origin is allowed by the '*' rule.
  const Rule* match(absl::string_view origin) const;

  // The config is `allow_origins: ["*"]`.
  bool allowAll() const { return allow_all_; }
  const std::vector<Rule>& rules() const { return rules_; }

private:
  std::vector<Rule> rules_;
  bool allow_all_ = false;
  Rule all_rule_;  // what match() returns for '*'
};

} // namespace gw::filters::cors
