#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace gw {

// Value of a hex digit, or -1.
int hexDigitValue(char c);

// Percent-decodes `in` (RFC 3986 2.1); an invalid escape is kept literally. '+' is not decoded.
std::string percentDecode(absl::string_view in);

// Whether the raw (possibly percent-encoded) key of a query parameter names `name`: "%61b"
// names "ab". Every reader of query parameters must agree on this, or a second, encoded copy of
// a parameter could reach the upstream unseen.
bool queryKeyIs(absl::string_view raw_key, absl::string_view name);

} // namespace gw
