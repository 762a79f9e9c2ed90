#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "source/filters/filter_state.h"

namespace gw::filters::authz {

// What the `authz` filter decided for a request, in the filter state under kAuthz for later
// filters, the access log ("filter_state": {"authz": "denied: missing orders:write"}) and
// explain. In mode: report a request passes with a decision other than Allowed.
struct AuthzDecision : FilterStateObject {
  enum class Outcome { Allowed, Unauthenticated, PermissionDenied, NoRule };
  Outcome outcome = Outcome::Allowed;
  // The required permissions the identity lacks: views into the filter's config, which the
  // request's pinned config keeps alive.
  std::vector<absl::string_view> missing;
  bool any_of_missing = false;  // `missing` holds an any_of list: one of them would do

  std::string describe() const override {
    switch (outcome) {
    case Outcome::Allowed: return "allowed";
    case Outcome::Unauthenticated: return "denied: no identity";
    case Outcome::NoRule: return "denied: no rule for the method";
    case Outcome::PermissionDenied: break;
    }
    return absl::StrCat("denied: missing ", any_of_missing ? "one of " : "",
                        absl::StrJoin(missing, ","));
  }
};
inline constexpr FilterStateKey<AuthzDecision> kAuthz{"authz"};

} // namespace gw::filters::authz
