#pragma once

// Cache keys. The base key combines the key rules' version, the scheme, host, normalized path
// and sorted query, and the configured headers, cookies and identity parts; a stored response's
// Vary adds the named request headers (vary key). Parts are separated by '\x1f' (no header value
// can hold it). The version is a hash of the key rules, so that entries made under other rules
// (another config, another gateway version) are never read: the Redis tier is shared by nodes
// that may run different configs.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/common/header_map.h"

namespace gw::filters {
struct Identity;
}

namespace gw::filters::cache {

struct KeyRules {
  std::vector<std::string> headers;   // lower-case names
  std::vector<std::string> cookies;
  std::vector<std::string> identity;  // "subject", "provider", "claim:<name>"

  // "k" and 8 hex digits: a hash of the rules above and the key format.
  std::string version() const;
};

// The query with its parameters sorted (byte order, stable for equal names); "" stays "".
std::string sortedQuery(absl::string_view query);
// path, then '?' and the sorted query when there is one: what purge by exact key names.
std::string resourceOf(absl::string_view path, absl::string_view query);

// A normalized header value for a key: the fields of that name joined with ',', list elements
// trimmed, lower-cased.
std::string keyHeaderValue(const HeaderMap& headers, absl::string_view name);

// The base key. `identity` may be null (no identity established: its parts are empty).
std::string baseKey(const KeyRules& rules, absl::string_view version, absl::string_view scheme,
                    absl::string_view host, absl::string_view resource,
                    const HeaderMap& request_headers, const Identity* identity);

// The key of one variant: `base` plus the request's values of the Vary names.
std::string varyKey(absl::string_view base, const std::vector<std::string>& vary,
                    const HeaderMap& request_headers);

// A cookie's value in the request's Cookie fields, or "".
std::string cookieValue(const HeaderMap& request_headers, absl::string_view name);

} // namespace gw::filters::cache
