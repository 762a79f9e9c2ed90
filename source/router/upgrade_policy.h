#pragma once

// A route's compiled Route.upgrade (gateway.v1.UpgradeOptions): which HTTP/1.1 Upgrade protocols
// it tunnels and the limits of a tunnel. Immutable once compiled; shared by every worker.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"

namespace gw::router {

struct UpgradePolicy {
  static constexpr std::chrono::milliseconds kDefaultIdleTimeout{300000};
  static constexpr std::chrono::milliseconds kDefaultDrainTimeout{5000};

  std::vector<std::string> allowed_types;  // lower-case
  std::chrono::milliseconds idle_timeout = kDefaultIdleTimeout;    // 0: none
  std::chrono::milliseconds max_duration{0};                       // 0: none
  std::chrono::milliseconds drain_timeout = kDefaultDrainTimeout;  // 0: at once

  // Whether `type` (an Upgrade header's first protocol, any case) is allowed.
  bool allows(absl::string_view type) const;
};

// Compiles Route.upgrade. `base` is the route's path ("virtual_hosts[0].routes[1]"); an error
// names the field, e.g. "virtual_hosts[0].routes[1].upgrade.allowed_types[0]: ...".
absl::StatusOr<std::unique_ptr<UpgradePolicy>> compileUpgradePolicy(
    const gateway::v1::UpgradeOptions& options, const std::string& base);

} // namespace gw::router
