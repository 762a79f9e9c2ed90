#pragma once

#include "gateway/v1/admin.pb.h"
#include "source/server/runtime_config.h"

namespace gw::server {

// `explain`: what the gateway would do with a request, decided from `config` alone. Nothing is
// sent upstream and no worker state changes. Follows the data path of Stream::start step by step:
// Host, path normalization (rejection -> `rejected`, status 400), Content-Length against the body
// limit (413), RouteTable::match with its trace (no route -> 404), then for the matched route the
// filter chain in order (pre, route, post, error) with each filter's FilterConfig::explain, and
// for a proxied request the cluster, the endpoint a fresh balancer picks for the request's hash
// key (only a hint for round robin / random / least request, which keep per-worker state) and the
// upstream path after rewrites. `status` is the direct response's status or the error's, else 0.
gateway::v1::ExplainResponse explainRequest(const RuntimeConfig& config,
                                            const gateway::v1::ExplainRequest& request);

} // namespace gw::server
