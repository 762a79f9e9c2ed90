#pragma once

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "source/policy/json_scan.h"

namespace gw::policy {

// A claim a provider reads: by its full name ("https://example.com/roles", "sub"), or, when the
// token has no member of that name, by a dotted path into nested objects ("realm_access.roles":
// the member "roles" of the object "realm_access").
struct ClaimPath {
  std::string full;  // the name as configured
  std::string top;   // the part before the first '.' ("" when there is no '.')
  std::string rest;  // the part after it
  explicit ClaimPath(std::string name);
};

// The member at `rest` (dot-separated) inside the object `v`; false when a step is missing or
// not an object.
bool resolveClaimPath(const JsonValue& v, absl::string_view rest, JsonValue& out);

// The text of a claim for a header: a string, number or boolean as itself; an array of those
// joined with ',' (`roles: ["a", "b"]` -> "a,b"). False for objects, nulls, empty arrays and
// arrays holding anything else.
bool claimText(const JsonValue& v, std::string& out);

// Calls fn for each word of a claim: each string of an array of strings, or each
// space-separated word of a string (OAuth2 `scope`). Other values give no words.
void forEachClaimWord(const JsonValue& v, absl::FunctionRef<void(absl::string_view)> fn);

} // namespace gw::policy
