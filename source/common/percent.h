#pragma once

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace gw {

// Value of a hex digit, or -1.
int hexDigitValue(char c);

// Percent-decodes `in` (RFC 3986 2.1); an invalid escape is kept literally. '+' is not decoded.
std::string percentDecode(absl::string_view in);

// Percent-encodes every byte of `in` but RFC 3986's unreserved characters (ALPHA DIGIT - . _ ~),
// and '/' too when `keep_slash`; upper-case hex (the form AWS SigV4 requires).
std::string percentEncode(absl::string_view in, bool keep_slash = false);

// Whether the raw (possibly percent-encoded) key of a query parameter names `name`: "%61b"
// names "ab". Every reader of query parameters must agree on this, or a second, encoded copy of
// a parameter could reach the upstream unseen.
bool queryKeyIs(absl::string_view raw_key, absl::string_view name);

// Calls fn(pair, raw_key, raw_value) for each '&'-separated pair of a raw query string ("a=1&b"
// gives ("a=1", "a", "1") and ("b", "b", "")), in order; fn returns false to stop.
void forEachQueryPair(
    absl::string_view query,
    absl::FunctionRef<bool(absl::string_view pair, absl::string_view key, absl::string_view value)>
        fn);

} // namespace gw
