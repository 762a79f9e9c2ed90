#pragma once

#include <string>

#include "gateway/v1/admin.pb.h"
#include "gateway/v1/config.pb.h"
#include "gateway/v1/discovery.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "source/ctl/output.h"

// Human-readable renderings of the admin protocol's messages, and the JSON/YAML documents of the
// `get` views. Pure functions of their inputs (no clock, no I/O), so tests build protos by hand.
namespace gw::ctl {

// "2024-05-01T12:00:00Z"; "-" when unset.
std::string formatTimestamp(const google::protobuf::Timestamp& ts);

// "all nodes", or e.g. "nodes a,b labels env=prod,zone=1".
std::string formatTarget(const gateway::v1::Target& target);

// "k=v,k2=v2" sorted by key; "-" when empty.
std::string formatLabels(const google::protobuf::Map<std::string, std::string>& labels);

// One line per change: "+ route public/demo/users", "~ cluster users (endpoints, lb_policy)",
// "- listener old". "no changes" when the diff is empty.
std::string renderChange(const gateway::v1::ResourceChange& change);
std::string renderDiff(const gateway::v1::Diff& diff);

// Every error of a refusal, one "path: message" line each.
std::string renderFieldErrors(
    const google::protobuf::RepeatedPtrField<gateway::v1::FieldError>& errors);

// Route pieces as the routes table shows them.
std::string describeMatch(const gateway::v1::RouteMatch& match);
std::string describeRouteFilter(const gateway::v1::Route& route);  // "router -> users", ...
std::string lbPolicyName(gateway::v1::Cluster::LbPolicy policy);   // "round_robin", ...

// `get` views: a table, and the document -o json / -o yaml print.
std::string renderRoutesTable(const gateway::v1::Config& config);
std::string renderClustersTable(const gateway::v1::Config& config);
std::string renderListenersTable(const gateway::v1::Config& config);
std::string renderPoliciesTable(const gateway::v1::Config& config);
Doc routesDoc(const gateway::v1::Config& config);     // [{listener, virtual_host, route}]
Doc clustersDoc(const gateway::v1::Config& config);   // [Cluster]
Doc listenersDoc(const gateway::v1::Config& config);  // [Listener]
Doc policiesDoc(const gateway::v1::Config& config);   // [{type, ...policy}]
// Metadata lines, then the listeners, routes and clusters tables.
std::string renderSnapshot(const gateway::v1::StoredSnapshot& snapshot);

std::string renderHistory(const gateway::v1::HistoryResponse& history);

// "in-sync" (runs its desired version), "NACKed" (refused its desired version), else "pending".
std::string nodeState(const gateway::v1::NodeStatus& node);
// The last NACK in one line: "v7: listeners[0].address: bad port (+2 more)"; "" when none.
std::string lastErrorLine(const gateway::v1::NodeStatus& node);
std::string renderStatus(const gateway::v1::StatusResponse& status);
Doc statusDoc(const gateway::v1::StatusResponse& status);  // the response plus each node's state

std::string renderExplain(const gateway::v1::ExplainRequest& request,
                          const gateway::v1::ExplainResponse& response);
// A request the proxy would not route (rejected before routing, or no route).
bool explainNotRouted(const gateway::v1::ExplainResponse& response);

std::string renderProxyClusters(const gateway::v1::ProxyClustersResponse& clusters);
std::string renderProxyConfig(const gateway::v1::ProxyConfigResponse& config);

} // namespace gw::ctl
