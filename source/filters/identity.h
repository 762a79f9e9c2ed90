#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "source/filters/filter_state.h"

namespace gw::filters {

// Who the caller is, as an authentication filter established it (jwt_auth; API keys and OAuth2
// introspection fill the same fields). Later filters (authorization, per-user rate limits and
// caching), the access log and `explain` read it from the filter state under kIdentity.
struct Identity : FilterStateObject {
  std::string subject;  // `sub`, the API key's consumer, ...
  // How the caller proved it: "jwt", "api_key", "oauth2".
  absl::string_view method;
  // What the credential grants: roles (a token's `roles` claim, an API key consumer's roles) and
  // permissions (a token's `permissions` claim and the words of its `scope`). `authz` expands
  // roles through its role map and checks the required permissions against both.
  std::vector<std::string> roles;
  std::vector<std::string> permissions;
  // The auth provider (or key set) that vouched for it, and the issuer it requires (may be
  // empty). Views into the provider, which the request's pinned config keeps alive.
  absl::string_view provider;
  absl::string_view issuer;
  // Claims the provider maps (claim name -> text), in the provider's order.
  std::vector<std::pair<std::string, std::string>> claims;

  std::string describe() const override {
    return absl::StrCat(subject.empty() ? "-" : subject, " (", provider, ")");
  }
};
inline constexpr FilterStateKey<Identity> kIdentity{"identity"};

} // namespace gw::filters
