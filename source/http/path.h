#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::http {

struct PathOptions {
  bool reject_encoded_slashes = true;  // %2F, %2f, %5C, %5c -> error
  bool merge_slashes = true;           // "//" -> "/"
};

// Splits a request-target ("origin-form" /a/b?x=1, or "absolute-form" http://h/a?x) into path and
// query, normalizes the path (RFC 3986 section 6.2.2: percent-decoding of unreserved characters,
// upper-casing of remaining percent-escapes, removal of dot segments; optional merging of slashes)
// and returns it. Errors (InvalidArgument) for anything that cannot be normalized safely: empty
// path, not starting with '/', backslash, raw or encoded NUL, bad percent-escape, control chars,
// encoded slash/backslash when rejected, "asterisk-form" except for OPTIONS (caller's business).
// The parts of an absolute-form request-target (RFC 9112 section 3.2.2): for
// "http://user@h:1/p?q" `authority` is "user@h:1" and `tail` is "/p?q" (empty, or starting with
// '/', '?' or '#'). False when `target` does not start with "http://" or "https://" (any case).
struct AbsoluteForm {
  absl::string_view authority;
  absl::string_view tail;
};
bool splitAbsoluteForm(absl::string_view target, AbsoluteForm& out);

struct NormalizedTarget {
  std::string path;
  std::string query;  // without '?'; fragment ('#...') dropped
};
absl::StatusOr<NormalizedTarget> normalizeTarget(absl::string_view target, const PathOptions& opts);

// normalizeTarget without its one-pass shortcut for targets that are already normal (an
// origin-form path with no escape, backslash, fragment, dot segment or, when merged, empty
// segment). The two must agree on every input: test/http/path_test.cc compares them.
absl::StatusOr<NormalizedTarget> normalizeTargetFull(absl::string_view target,
                                                     const PathOptions& opts);

} // namespace gw::http
