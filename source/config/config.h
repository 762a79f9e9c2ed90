#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"

namespace gw::config {

// One problem in a config, with the protobuf field path in JSON-name form, e.g.
// "listeners[0].virtual_hosts[1].routes[3].route_filter.config.cluster".
struct ConfigError {
  std::string path;
  std::string message;
  std::string toString() const { return path.empty() ? message : path + ": " + message; }
};

// Parses YAML or JSON text (the protobuf JSON mapping of gateway.v1.Config). YAML is converted to
// JSON first. Unknown fields are errors. On error: InvalidArgument naming the location.
absl::StatusOr<gateway::v1::Config> parseConfig(absl::string_view text);
absl::StatusOr<gateway::v1::Config> loadConfigFile(const std::string& path);

// Every semantic problem of a config (all of them, not just the first): duplicate names, unknown
// cluster references, unknown filters or filters in the wrong stage, invalid filter configs,
// invalid regexes / templates, bad addresses, missing route_filter, hash policy missing for hash
// LBs, empty clusters, negative durations. Used by gatewayd --validate, by the proxy before it
// applies a config, and (later) by the control plane: one library.
std::vector<ConfigError> validateConfig(const gateway::v1::Config& config);

} // namespace gw::config
