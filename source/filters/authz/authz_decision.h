#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "source/filters/filter_state.h"

namespace gw::filters::authz {

// What the `authz` filter decided for a request, in the filter state under kAuthz for later
// filters, the access log ("filter_state": {"authz": "denied: missing orders:write
// (permissions: orders:read)"}) and explain. In mode: report a request passes with a decision
// other than Allowed.
struct AuthzDecision : FilterStateObject {
  enum class Outcome { Allowed, Unauthenticated, PermissionDenied, NoRule };
  Outcome outcome = Outcome::Allowed;
  // The required permissions the identity lacks: views into the filter's config, which the
  // request's pinned config keeps alive.
  std::vector<absl::string_view> missing;
  bool any_of_missing = false;  // `missing` holds an any_of list: one of them would do
  // The caller's effective permissions: the identity's own, then those its roles grant through
  // the role map, without repeats (what X-User-Permissions carries, before header-unsafe entries
  // are left out). Empty without an identity. Copies, so they outlive a later filter replacing
  // the Identity.
  std::vector<std::string> permissions;

  std::string describe() const override {
    std::string out;
    switch (outcome) {
    case Outcome::Allowed: out = "allowed"; break;
    case Outcome::Unauthenticated: return "denied: no identity";
    case Outcome::NoRule: out = "denied: no rule for the method"; break;
    case Outcome::PermissionDenied:
      out = absl::StrCat("denied: missing ", any_of_missing ? "one of " : "",
                         absl::StrJoin(missing, ","));
      break;
    }
    absl::StrAppend(&out, " (permissions: ",
                    permissions.empty() ? "none" : absl::StrJoin(permissions, ","), ")");
    return out;
  }
};
inline constexpr FilterStateKey<AuthzDecision> kAuthz{"authz"};

} // namespace gw::filters::authz
