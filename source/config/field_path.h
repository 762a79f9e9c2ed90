#pragma once

// Field paths in config errors ("listeners[0].virtual_hosts[1].routes[3].route_filter") and the
// name checks every named resource shares. Internal to source/config.

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/config/config.h"

namespace gw::config {

// "a" + "b" -> "a.b"; either side may be empty.
std::string joinPath(absl::string_view base, absl::string_view sub);

// Splits an error message into its leading field path and the rest. Understands our own form
// ("cluster: unknown cluster 'x'") and protobuf's JSON parser forms ("(a.b[0]) c: Cannot find
// field." and "(a.b): invalid value ..."). Messages without a path come back with path "".
ConfigError splitFieldPath(absl::string_view msg);

// `<base>.name`: "required" (when `required`) or "duplicate <what> name 'x' (also <first>)".
// `names` maps a name to the base path of its first owner. Returns whether the name is present
// and unique.
bool uniqueName(const std::string& name, const std::string& base, absl::string_view what,
                std::map<std::string, std::string>& names, bool required,
                std::vector<ConfigError>* errors);

} // namespace gw::config
