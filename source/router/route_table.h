#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"
#include "source/http/message.h"
#include "source/router/upgrade_policy.h"

namespace gw::router {

// A compiled route: the match (compiled once: RE2 objects, template segments) plus the parts of
// the Route proto the data path needs. Immutable after construction; shared by every worker.
class RouteEntry {
public:
  virtual ~RouteEntry() = default;
  virtual const std::string& name() const = 0;
  // Route.max_request_body_bytes: 0 = the listener's limit applies.
  virtual uint64_t maxRequestBodyBytes() const = 0;
  // Path to send upstream after prefix_rewrite / regex_rewrite (or `path` unchanged).
  virtual std::string rewritePath(absl::string_view path) const = 0;
  // False when rewritePath() returns the path unchanged (the data path then skips the copy).
  virtual bool rewrites() const = 0;
  // 0 = no timeout.
  virtual std::chrono::milliseconds timeout() const = 0;
  // Route.upgrade compiled; nullptr: the route tunnels no Upgrade.
  virtual const UpgradePolicy* upgrade() const { return nullptr; }
  // Opaque per-route data attached by the config compiler (the compiled filter chain).
  void setAttachment(std::shared_ptr<const void> a) { attachment_ = std::move(a); }
  const void* attachment() const { return attachment_.get(); }

private:
  std::shared_ptr<const void> attachment_;
};

// Why a route did or did not match; filled only when explain is asked for.
struct MatchTrace {
  std::string virtual_host;          // name of the selected virtual host ("" if none)
  std::vector<std::string> lines;    // e.g. "route 'users' skipped: path prefix /api/users/ ..."
};

struct MatchResult {
  const RouteEntry* route = nullptr;
  // Named template captures, e.g. {"id", "42"} for /api/users/{id}.
  std::vector<std::pair<std::string, std::string>> captures;
};

// Virtual hosts + ordered routes of one listener.
// Virtual host selection: exact domain, then the longest `*.suffix` match, then "*".
// Host is compared case-insensitively and without its port.
// Within a virtual host, routes are tried in declaration order; first match wins. A route matches
// when its path specifier, method set, every header matcher and every query matcher match.
class RouteTable {
public:
  // Compiles the listener's virtual hosts. Errors name the field path, e.g.
  // "virtual_hosts[0].routes[2].match.regex: invalid RE2: missing )". The first error is
  // returned; with `all_errors`, every one is also appended there (the walk goes on past them).
  static absl::StatusOr<std::unique_ptr<RouteTable>> create(
      const gateway::v1::Listener& listener, std::vector<std::string>* all_errors = nullptr);

  // `head.path` must be the normalized path and `head.query` the raw query; `head.host` the host.
  MatchResult match(const http::RequestHead& head, MatchTrace* trace = nullptr) const;

  // All routes, in order, for attaching filter chains.
  std::vector<RouteEntry*> allRoutes();

  ~RouteTable();

private:
  RouteTable() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace gw::router
