#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gw::filters::authz {

// Permissions are `:`-separated segments, e.g. `orders:read`, `orders:items:write`, `*`.
//
// Grammar (docs/security.md, "Permission grammar"):
//   permission = segment *( ":" segment )        at most 8 segments, at most 256 bytes
//   segment    = "*" / 1*( ALPHA / DIGIT / "-" / "_" / "." / "/" )
//
// Matching is case-sensitive and segment by segment; a segment is never split, so `orders:*`
// does not match `orders-admin:read`. `*` is a whole segment only (`ord*` is not valid):
//   - `*` as the LAST segment matches one or more remaining segments (`orders:*` matches
//     `orders:read` and `orders:items:read`; `*` alone matches every permission);
//   - `*` elsewhere matches exactly one segment (`*:read` matches `orders:read`, not
//     `orders:items:read` and not `read`).
// Either side may hold wildcards: a granted and a required permission match when some concrete
// permission is matched by both (granted `orders:*` satisfies `orders:read`; granted
// `orders:read` satisfies a requirement `orders:*`, "some access to orders").

// OK, or an error naming what is wrong ("segment 2 is empty", ...).
absl::Status validatePermission(absl::string_view permission);

// Whether a granted and a required permission match, as above. Allocation-free. Text that does
// not follow the grammar (a token's claim may hold anything) is compared literally: a segment
// is a wildcard only when it is exactly `*`.
bool permissionMatches(absl::string_view granted, absl::string_view required);

} // namespace gw::filters::authz
