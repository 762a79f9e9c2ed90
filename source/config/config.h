#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"
#include "source/filters/filter.h"
#include "source/policy/jwt.h"

namespace gw::config {

// One problem in a config, with the field path in proto field-name form, e.g.
// "listeners[0].virtual_hosts[1].routes[3].route_filter.config.cluster".
struct ConfigError {
  std::string path;
  std::string message;
  std::string toString() const { return path.empty() ? message : path + ": " + message; }
};

// Parses YAML or JSON text (the protobuf JSON mapping of gateway.v1.Config). Text starting with '{'
// is JSON; anything else YAML 1.2, converted to JSON guided by the schema (string fields always get
// strings, bool fields only true/false, merge keys supported, duplicate keys rejected). Unknown
// fields are errors. On error: InvalidArgument naming the location ("line 3, column 5: " for YAML)
// and the field path. loadConfigFile's errors start with the file path.
absl::StatusOr<gateway::v1::Config> parseConfig(absl::string_view text);
absl::StatusOr<gateway::v1::Config> loadConfigFile(const std::string& path);

// Every semantic problem of a config (all of them, not just the first): duplicate names, unknown
// cluster references, unknown filters or filters in the wrong stage, invalid filter configs,
// invalid regexes / templates, bad addresses, missing route_filter, hash policy missing for hash
// LBs, empty clusters, negative durations. Used by gatewayd --validate, by the proxy before it
// applies a config, and (later) by the control plane: one library.
std::vector<ConfigError> validateConfig(const gateway::v1::Config& config);

// The checks of validateConfig except those that compile routes and the routes' filter configs
// (route tables, each filter factory's createConfig); a listener's default filters are compiled
// (compileConfig compiles them only into the routes that inherit them). For compileConfig,
// which compiles the rest anyway:
// it runs this, compiles, and only when either fails runs validateConfig for the full list. A
// 10,000-route snapshot then compiles its routes once instead of three times.
std::vector<ConfigError> validateConfigWithoutCompiling(const gateway::v1::Config& config);

// Fills `ctx` with what filter configs may reference: cluster names and the compiled policy
// resources (auth_providers, rate_limit_policies; an invalid one maps to nullptr). Returns the
// resources' problems with their field paths ("auth_providers[0].public_key_pem: ..."). With
// `serving`, rate-limit policies identical to ones alive in this process reuse them (and their
// bucket state) and new ones get their buckets; without it (validation, the control plane's
// checks) no bucket table is allocated.
std::vector<ConfigError> buildValidationContext(const gateway::v1::Config& config,
                                                filters::ValidationContext* ctx, bool serving);

// Replaces secret values (auth_providers[].secret) with "<redacted>": for everything that shows a
// config (/config_dump, gatewayctl get, the proxy admin's config).
void redactSecrets(gateway::v1::Config* config);
constexpr const char* kRedacted = policy::kRedactedSecret;

} // namespace gw::config
