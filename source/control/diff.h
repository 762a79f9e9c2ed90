#pragma once

#include <string>

#include "gateway/v1/admin.pb.h"
#include "gateway/v1/config.pb.h"

namespace gw::control {

// What changes when `to` replaces `from`, resource by resource, in this order:
//   listeners (by name)   fields: the Listener fields that differ; `virtual_hosts` only when a
//                         virtual host was added, removed, renamed, reordered or got other
//                         domains (route changes are reported as routes, not here)
//   routes                name "<listener>/<virtual host>/<route name>", or ".../#<index>" for an
//                         unnamed route (so unnamed routes shift when one is inserted: name them);
//                         fields: the Route fields that differ, plus "order" when the route moved
//                         relative to the routes both configs have (first match wins, so order is
//                         behaviour)
//   clusters (by name)    fields: the Cluster fields that differ
//   ... auth providers, rate-limit policies, redis servers, usage plans, api keys, then
//   secrets (by name)     fields only (certificate_chain, private_key): never a value
// Within a type: ADDED and CHANGED in `to`'s order, then REMOVED in `from`'s order.
// Config.version is ignored. from_version is left 0 for the caller.
gateway::v1::Diff diffConfigs(const gateway::v1::Config& from, const gateway::v1::Config& to);

// True when the two configs are the same apart from `version` (maps compared as maps).
bool sameConfig(const gateway::v1::Config& a, const gateway::v1::Config& b);

// One line per change, e.g. "+ route edge/api/users", "~ cluster users (endpoints)".
std::string formatDiff(const gateway::v1::Diff& diff);

} // namespace gw::control
