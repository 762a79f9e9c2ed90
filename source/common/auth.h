#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw {

// True when `authorization` is "Bearer <token>" (scheme case-insensitive) with exactly `token`,
// compared in constant time over the token's content. An empty `token` never matches.
bool bearerTokenMatches(absl::string_view authorization, absl::string_view token);

// Whether a listen address ("host:port", "[v6]:port", "unix:...") is reachable only from this
// machine: every address the host resolves to must be loopback. An empty host (all interfaces)
// is not. Errors when the address cannot be parsed or resolved.
absl::StatusOr<bool> isLoopbackListenAddress(absl::string_view address);

} // namespace gw
