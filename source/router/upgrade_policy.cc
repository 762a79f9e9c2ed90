#include "source/router/upgrade_policy.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/common/header_map.h"

namespace gw::router {

bool UpgradePolicy::allows(absl::string_view type) const {
  for (const std::string& t : allowed_types) {
    if (absl::EqualsIgnoreCase(t, type)) {
      return true;
    }
  }
  return false;
}

namespace {

// A Duration field that must not be negative, in milliseconds (a sub-millisecond positive value
// counts as 1 ms, not as "disabled").
absl::StatusOr<std::chrono::milliseconds> durationMs(const google::protobuf::Duration& d,
                                                     const std::string& path) {
  if (d.seconds() < 0 || d.nanos() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": must not be negative"));
  }
  int64_t ms = d.seconds() * 1000 + d.nanos() / 1000000;
  if (ms == 0 && d.nanos() > 0) {
    ms = 1;
  }
  return std::chrono::milliseconds(ms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<UpgradePolicy>> compileUpgradePolicy(
    const gateway::v1::UpgradeOptions& options, const std::string& base) {
  const std::string ubase = base + ".upgrade";
  auto p = std::make_unique<UpgradePolicy>();
  if (options.allowed_types().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ubase, ".allowed_types: at least one upgrade type is required (e.g. "
                            "websocket)"));
  }
  for (int i = 0; i < options.allowed_types().size(); i++) {
    const std::string& t = options.allowed_types(i);
    const std::string path = absl::StrCat(ubase, ".allowed_types[", i, "]");
    if (t.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": must not be empty"));
    }
    // An Upgrade protocol name is a token (RFC 9110 7.8), optionally "/version".
    for (char c : t) {
      if (!isTokenChar(c) && c != '/') {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": '", t, "' is not a protocol token (e.g. websocket)"));
      }
    }
    if (absl::EqualsIgnoreCase(t, "h2c")) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": h2c cannot be tunnelled (an h2c upgrade is served as HTTP/1.1; use the "
                "listener's http2 options for h2c)"));
    }
    if (p->allows(t)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": duplicate type '", t, "'"));
    }
    p->allowed_types.push_back(absl::AsciiStrToLower(t));
  }
  if (options.has_idle_timeout()) {
    auto ms = durationMs(options.idle_timeout(), ubase + ".idle_timeout");
    if (!ms.ok()) {
      return ms.status();
    }
    p->idle_timeout = *ms;
  }
  if (options.has_max_duration()) {
    auto ms = durationMs(options.max_duration(), ubase + ".max_duration");
    if (!ms.ok()) {
      return ms.status();
    }
    p->max_duration = *ms;
  }
  if (options.has_drain_timeout()) {
    auto ms = durationMs(options.drain_timeout(), ubase + ".drain_timeout");
    if (!ms.ok()) {
      return ms.status();
    }
    p->drain_timeout = *ms;
  }
  return p;
}

} // namespace gw::router
