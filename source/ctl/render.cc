#include "source/ctl/render.h"

#include <ctime>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace gw::ctl {
namespace {

using gateway::v1::Cluster;
using gateway::v1::Config;
using gateway::v1::ResourceChange;
using gateway::v1::Route;
using gateway::v1::StringMatcher;

std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string describeStringMatcher(const std::string& name, const StringMatcher& m) {
  std::string s;
  switch (m.match_case()) {
  case StringMatcher::kExact:
    s = absl::StrCat(name, "=", m.exact());
    break;
  case StringMatcher::kPrefix:
    s = absl::StrCat(name, "=", m.prefix(), "*");
    break;
  case StringMatcher::kRegex:
    s = absl::StrCat(name, "~", m.regex());
    break;
  case StringMatcher::kPresent:
    s = m.present() ? absl::StrCat(name, " present") : absl::StrCat(name, " absent");
    break;
  case StringMatcher::MATCH_NOT_SET:
    s = absl::StrCat(name, " present");
    break;
  }
  return m.invert() ? absl::StrCat("not ", s) : s;
}

// Reads a string field of a filter's Struct config ("" when absent or not a string).
std::string structString(const gateway::v1::Filter& filter, const std::string& key) {
  auto it = filter.config().fields().find(key);
  if (it == filter.config().fields().end()) {
    return "";
  }
  if (it->second.has_string_value()) {
    return it->second.string_value();
  }
  if (it->second.has_number_value()) {
    return absl::StrCat(it->second.number_value());
  }
  return "";
}

std::string filterNames(const google::protobuf::RepeatedPtrField<gateway::v1::Filter>& filters) {
  std::vector<std::string> names;
  for (const auto& f : filters) {
    names.push_back(f.name());
  }
  return absl::StrJoin(names, ",");
}

std::string endpointsLine(const Cluster& c) {
  std::vector<std::string> eps;
  for (const auto& e : c.endpoints()) {
    eps.push_back(e.weight() > 1 ? absl::StrCat(e.address(), " (w", e.weight(), ")") : e.address());
  }
  return eps.empty() ? "-" : absl::StrJoin(eps, ", ");
}

std::string lbLine(const Cluster& c) {
  std::string lb = lbPolicyName(c.lb_policy());
  if (c.has_hash_policy()) {
    const auto& h = c.hash_policy();
    switch (h.source_case()) {
    case gateway::v1::HashPolicy::kHeader:
      absl::StrAppend(&lb, " by header ", h.header());
      break;
    case gateway::v1::HashPolicy::kCookie:
      absl::StrAppend(&lb, " by cookie ", h.cookie());
      break;
    case gateway::v1::HashPolicy::kSourceIp:
      absl::StrAppend(&lb, " by source ip");
      break;
    case gateway::v1::HashPolicy::SOURCE_NOT_SET:
      break;
    }
  }
  return lb;
}

// The policy resources of the model: repeated message fields of Config other than listeners and
// clusters (auth_providers, rate_limit_policies), picked up by reflection. Callers redact secrets
// (config::redactSecrets) before rendering.
std::vector<const google::protobuf::FieldDescriptor*> policyFields() {
  std::vector<const google::protobuf::FieldDescriptor*> out;
  const auto* d = Config::descriptor();
  for (int i = 0; i < d->field_count(); i++) {
    const auto* f = d->field(i);
    if (f->is_repeated() && !f->is_map() &&
        f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
        f->name() != "listeners" && f->name() != "clusters") {
      out.push_back(f);
    }
  }
  return out;
}

std::string messageName(const google::protobuf::Message& m) {
  const auto* f = m.GetDescriptor()->FindFieldByName("name");
  if (f == nullptr || f->is_repeated() ||
      f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
    return "-";
  }
  return orDash(m.GetReflection()->GetString(m, f));
}

} // namespace

std::string formatTimestamp(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) {
    return "-";
  }
  time_t t = static_cast<time_t>(ts.seconds());
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string formatLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) {
    parts.push_back(absl::StrCat(k, "=", v));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

std::string formatTarget(const gateway::v1::Target& target) {
  if (target.node_ids().empty() && target.labels().empty()) {
    return "all nodes";
  }
  std::vector<std::string> parts;
  if (!target.node_ids().empty()) {
    parts.push_back(absl::StrCat("nodes ", absl::StrJoin(target.node_ids(), ",")));
  }
  if (!target.labels().empty()) {
    parts.push_back(absl::StrCat("labels ", formatLabels(target.labels())));
  }
  return absl::StrJoin(parts, " ");
}

std::string renderChange(const ResourceChange& change) {
  switch (change.kind()) {
  case ResourceChange::ADDED:
    return absl::StrCat("+ ", change.resource_type(), " ", change.name());
  case ResourceChange::REMOVED:
    return absl::StrCat("- ", change.resource_type(), " ", change.name());
  default:
    return absl::StrCat("~ ", change.resource_type(), " ", change.name(),
                        change.fields().empty()
                            ? ""
                            : absl::StrCat(" (", absl::StrJoin(change.fields(), ", "), ")"));
  }
}

std::string renderDiff(const gateway::v1::Diff& diff) {
  if (diff.changes().empty()) {
    return "no changes\n";
  }
  std::string out;
  for (const auto& c : diff.changes()) {
    absl::StrAppend(&out, renderChange(c), "\n");
  }
  return out;
}

std::string renderFieldErrors(
    const google::protobuf::RepeatedPtrField<gateway::v1::FieldError>& errors) {
  std::string out;
  for (const auto& e : errors) {
    absl::StrAppend(
        &out, e.path().empty() ? e.message() : absl::StrCat(e.path(), ": ", e.message()), "\n");
  }
  return out;
}

std::string describeMatch(const gateway::v1::RouteMatch& m) {
  std::vector<std::string> parts;
  switch (m.path_specifier_case()) {
  case gateway::v1::RouteMatch::kPath:
    parts.push_back(absl::StrCat("path ", m.path()));
    break;
  case gateway::v1::RouteMatch::kPrefix:
    parts.push_back(absl::StrCat("prefix ", m.prefix()));
    break;
  case gateway::v1::RouteMatch::kPathTemplate:
    parts.push_back(absl::StrCat("template ", m.path_template()));
    break;
  case gateway::v1::RouteMatch::kRegex:
    parts.push_back(absl::StrCat("regex ", m.regex()));
    break;
  case gateway::v1::RouteMatch::PATH_SPECIFIER_NOT_SET:
    parts.push_back("any path");
    break;
  }
  if (!m.methods().empty()) {
    parts.push_back(absl::StrJoin(m.methods(), "|"));
  }
  for (const auto& h : m.headers()) {
    parts.push_back(absl::StrCat("header ", describeStringMatcher(h.name(), h.value())));
  }
  for (const auto& q : m.query_params()) {
    parts.push_back(absl::StrCat("query ", describeStringMatcher(q.name(), q.value())));
  }
  return absl::StrJoin(parts, " ");
}

std::string describeRouteFilter(const Route& route) {
  if (!route.has_route_filter() || route.route_filter().name().empty()) {
    return "-";
  }
  const auto& f = route.route_filter();
  if (f.name() == "router") {
    std::string cluster = structString(f, "cluster");
    return cluster.empty() ? "router" : absl::StrCat("router -> ", cluster);
  }
  if (f.name() == "direct_response") {
    std::string status = structString(f, "status");
    return status.empty() ? "direct_response" : absl::StrCat("direct_response ", status);
  }
  return f.name();
}

std::string lbPolicyName(Cluster::LbPolicy policy) {
  return absl::AsciiStrToLower(Cluster::LbPolicy_Name(policy));
}

std::string renderRoutesTable(const Config& config) {
  Table t({"LISTENER", "VHOST", "ROUTE", "MATCH", "ROUTE FILTER"});
  for (const auto& l : config.listeners()) {
    for (const auto& vh : l.virtual_hosts()) {
      for (const auto& r : vh.routes()) {
        t.addRow({l.name(), vh.name(), orDash(r.name()), describeMatch(r.match()),
                  describeRouteFilter(r)});
      }
    }
  }
  return t.rows() == 0 ? "no routes defined\n" : t.render();
}

std::string renderClustersTable(const Config& config) {
  Table t({"NAME", "LB", "ENDPOINTS"});
  for (const auto& c : config.clusters()) {
    t.addRow({c.name(), lbLine(c), endpointsLine(c)});
  }
  return t.rows() == 0 ? "no clusters defined\n" : t.render();
}

std::string renderListenersTable(const Config& config) {
  Table t({"NAME", "ADDRESS", "VHOSTS", "ROUTES", "DEFAULT FILTERS"});
  for (const auto& l : config.listeners()) {
    int routes = 0;
    std::vector<std::string> vhosts;
    for (const auto& vh : l.virtual_hosts()) {
      routes += vh.routes_size();
      vhosts.push_back(absl::StrCat(vh.name(), " (", absl::StrJoin(vh.domains(), ","), ")"));
    }
    std::vector<std::string> stages;
    if (!l.pre_filters().empty()) {
      stages.push_back(absl::StrCat("pre: ", filterNames(l.pre_filters())));
    }
    if (!l.post_filters().empty()) {
      stages.push_back(absl::StrCat("post: ", filterNames(l.post_filters())));
    }
    if (!l.error_filters().empty()) {
      stages.push_back(absl::StrCat("error: ", filterNames(l.error_filters())));
    }
    t.addRow({l.name(), l.address(), vhosts.empty() ? "-" : absl::StrJoin(vhosts, " "),
              absl::StrCat(routes), stages.empty() ? "-" : absl::StrJoin(stages, " ")});
  }
  return t.rows() == 0 ? "no listeners defined\n" : t.render();
}

std::string renderPoliciesTable(const Config& config) {
  Table t({"TYPE", "NAME"});
  const auto* refl = config.GetReflection();
  for (const auto* f : policyFields()) {
    for (int i = 0; i < refl->FieldSize(config, f); i++) {
      t.addRow({f->name(), messageName(refl->GetRepeatedMessage(config, f, i))});
    }
  }
  return t.rows() == 0 ? "no policies defined\n" : t.render();
}

Doc routesDoc(const Config& config) {
  Doc list = Doc::list();
  for (const auto& l : config.listeners()) {
    for (const auto& vh : l.virtual_hosts()) {
      for (const auto& r : vh.routes()) {
        Doc d = Doc::map();
        d.set("listener", Doc::string(l.name()));
        d.set("virtual_host", Doc::string(vh.name()));
        d.set("route", Doc::fromMessage(r, false));
        list.push(std::move(d));
      }
    }
  }
  return list;
}

Doc clustersDoc(const Config& config) {
  Doc list = Doc::list();
  for (const auto& c : config.clusters()) {
    list.push(Doc::fromMessage(c, false));
  }
  return list;
}

Doc listenersDoc(const Config& config) {
  Doc list = Doc::list();
  for (const auto& l : config.listeners()) {
    list.push(Doc::fromMessage(l, false));
  }
  return list;
}

Doc policiesDoc(const Config& config) {
  Doc list = Doc::list();
  const auto* refl = config.GetReflection();
  for (const auto* f : policyFields()) {
    for (int i = 0; i < refl->FieldSize(config, f); i++) {
      Doc d = Doc::map();
      d.set("type", Doc::string(f->name()));
      Doc body = Doc::fromMessage(refl->GetRepeatedMessage(config, f, i), false);
      for (const auto& [k, v] : body.fields()) {
        d.set(k, v);
      }
      list.push(std::move(d));
    }
  }
  return list;
}

std::string renderSnapshot(const gateway::v1::StoredSnapshot& s) {
  std::string out = absl::StrCat("version      ", s.version(), "\n", "applied at   ",
                                 formatTimestamp(s.applied_at()), "\n", "author       ",
                                 orDash(s.author()), "\n", "message      ", orDash(s.message()),
                                 "\n", "target       ", formatTarget(s.target()), "\n");
  if (s.rolled_back_from() != 0) {
    absl::StrAppend(&out, "rollback of  version ", s.rolled_back_from(), "\n");
  }
  absl::StrAppend(&out, "\nListeners:\n", renderListenersTable(s.config()), "\nRoutes:\n",
                  renderRoutesTable(s.config()), "\nClusters:\n", renderClustersTable(s.config()));
  if (!policyFields().empty()) {
    absl::StrAppend(&out, "\nPolicies:\n", renderPoliciesTable(s.config()));
  }
  return out;
}

std::string renderHistory(const gateway::v1::HistoryResponse& history) {
  if (history.snapshots().empty()) {
    return "no snapshots applied yet\n";
  }
  Table t({"VERSION", "TIME", "AUTHOR", "MESSAGE", "TARGET", "ROLLED BACK FROM"});
  for (const auto& s : history.snapshots()) {
    t.addRow({absl::StrCat(s.version()), formatTimestamp(s.applied_at()), orDash(s.author()),
              orDash(s.message()), formatTarget(s.target()),
              s.rolled_back_from() == 0 ? "-" : absl::StrCat(s.rolled_back_from())});
  }
  return t.render();
}

std::string nodeState(const gateway::v1::NodeStatus& n) {
  if (!n.desired_version().empty() && n.acked_version() == n.desired_version()) {
    return "in-sync";
  }
  if (!n.desired_version().empty() && n.nacked_version() == n.desired_version()) {
    return "NACKed";
  }
  return "pending";
}

std::string lastErrorLine(const gateway::v1::NodeStatus& n) {
  if (n.nacked_version().empty() && !n.has_last_nack()) {
    return "";
  }
  const auto& nack = n.last_nack();
  std::string what;
  if (!nack.errors().empty()) {
    const auto& e = nack.errors(0);
    what = e.path().empty() ? e.message() : absl::StrCat(e.path(), ": ", e.message());
    if (nack.errors_size() > 1) {
      absl::StrAppend(&what, " (+", nack.errors_size() - 1, " more)");
    }
  } else {
    what = nack.message();
  }
  return absl::StrCat("v", orDash(n.nacked_version()), ": ", what.empty() ? "refused" : what);
}

std::string renderStatus(const gateway::v1::StatusResponse& status) {
  std::string out = absl::StrCat("latest version ", status.latest_version(), "\n");
  if (status.nodes().empty()) {
    absl::StrAppend(&out, "no nodes have connected\n");
    return out;
  }
  Table t({"NODE", "LABELS", "CONNECTED", "RUNNING", "DESIRED", "STATE", "LAST ERROR"});
  for (const auto& n : status.nodes()) {
    t.addRow({n.node().id(), formatLabels(n.node().labels()), n.connected() ? "yes" : "no",
              orDash(n.acked_version()), orDash(n.desired_version()), nodeState(n),
              orDash(lastErrorLine(n))});
  }
  absl::StrAppend(&out, t.render());
  return out;
}

Doc statusDoc(const gateway::v1::StatusResponse& status) {
  Doc d = Doc::fromMessage(status, true);
  Doc nodes = Doc::list();
  for (const auto& n : status.nodes()) {
    Doc nd = Doc::fromMessage(n, true);
    nd.set("state", Doc::string(nodeState(n)));
    nodes.push(std::move(nd));
  }
  d.set("nodes", std::move(nodes));
  return d;
}

bool explainNotRouted(const gateway::v1::ExplainResponse& r) {
  return !r.rejected().empty() || r.route().empty();
}

std::string renderExplain(const gateway::v1::ExplainRequest& req,
                          const gateway::v1::ExplainResponse& r) {
  std::string out;
  auto line = [&out](const std::string& label, const std::string& value) {
    absl::StrAppend(&out, label, std::string(label.size() < 16 ? 16 - label.size() : 1, ' '), value,
                    "\n");
  };
  std::string request = absl::StrCat(req.method(), " ", req.url());
  std::map<std::string, std::string> headers(req.headers().begin(), req.headers().end());
  line("request", request);
  for (const auto& [k, v] : headers) {
    line("", absl::StrCat(k, ": ", v));
  }
  line("listener", orDash(r.listener()));
  if (!r.rejected().empty()) {
    line("rejected", r.rejected());
    if (r.status() != 0) {
      line("status", absl::StrCat(r.status()));
    }
    absl::StrAppend(&out, "\nthe request would be refused before routing; nothing goes upstream\n");
    return out;
  }
  line("normalized path", orDash(r.normalized_path()));
  line("virtual host", r.virtual_host().empty() ? "none matches the Host" : r.virtual_host());
  if (!r.trace().empty()) {
    // Why the virtual host was chosen and why each route before the match did not match.
    absl::StrAppend(&out, "trace:\n");
    for (const auto& t : r.trace()) {
      absl::StrAppend(&out, "  ", t, "\n");
    }
  }
  if (r.route().empty()) {
    line("matched route", "none");
    line("status", absl::StrCat(r.status() != 0 ? r.status() : 404));
    absl::StrAppend(&out, "\nno route matches: the gateway answers ",
                    r.status() != 0 ? r.status() : 404, " and sends nothing upstream\n");
    return out;
  }
  line("matched route", r.route());
  if (!r.filters().empty()) {
    absl::StrAppend(&out, "filter chain:\n");
    Table t({"", "", "", ""});
    int i = 1;
    for (const auto& f : r.filters()) {
      t.addRow({absl::StrCat("  ", i++, "."), f.stage(), f.name(), f.decision()});
    }
    std::string rendered = t.render();
    // Drop the empty header line.
    absl::StrAppend(&out, rendered.substr(rendered.find('\n') + 1));
  }
  if (!r.filter_state().empty()) {
    absl::StrAppend(&out, "filter state:\n");
    std::map<std::string, std::string> state(r.filter_state().begin(), r.filter_state().end());
    for (const auto& [k, v] : state) {
      absl::StrAppend(&out, "  ", k, ": ", v, "\n");
    }
  }
  if (!r.cluster().empty()) {
    line("cluster", r.cluster());
    line("endpoint",
         r.endpoint().empty() ? "none available (the gateway would answer 503)" : r.endpoint());
    line("upstream path", orDash(r.upstream_path()));
  }
  if (r.status() != 0) {
    line("status", absl::StrCat(r.status()));
  }
  return out;
}

// "yes", or "no" with the reasons: "no (active_check)", "no (outlier, 12.5s left, ejected 2x)".
static std::string endpointHealth(const gateway::v1::EndpointStatus& e) {
  if (e.healthy()) {
    return "yes";
  }
  std::vector<std::string> why(e.unhealthy_reasons().begin(), e.unhealthy_reasons().end());
  if (e.ejected_remaining_ms() > 0) {
    why.push_back(absl::StrCat(absl::StrFormat("%.1f", e.ejected_remaining_ms() / 1000.0),
                               "s left"));
  }
  if (e.outlier_ejections() > 0) {
    why.push_back(absl::StrCat("ejected ", e.outlier_ejections(), "x"));
  }
  return why.empty() ? "no" : absl::StrCat("no (", absl::StrJoin(why, ", "), ")");
}

std::string renderProxyClusters(const gateway::v1::ProxyClustersResponse& clusters) {
  if (clusters.clusters().empty()) {
    return "no clusters\n";
  }
  Table t({"CLUSTER", "LB", "CIRCUIT", "ENDPOINT", "WEIGHT", "HEALTHY", "ACTIVE", "TOTAL",
           "CONNECTIONS"});
  std::string notes;
  for (const auto& c : clusters.clusters()) {
    // "open (4.2s left)" while open; "-" without a breaker.
    std::string circuit = orDash(c.circuit_state());
    if (c.circuit_state() == "open") {
      absl::StrAppend(&circuit, " (", c.circuit_open_remaining_ms() / 1000, ".",
                      c.circuit_open_remaining_ms() % 1000 / 100, "s left)");
    }
    if (c.endpoints().empty()) {
      t.addRow({c.name(), orDash(c.lb_policy()), circuit, "-", "", "", "", "", ""});
    }
    for (const auto& e : c.endpoints()) {
      t.addRow({c.name(), orDash(c.lb_policy()), circuit, e.address(), absl::StrCat(e.weight()),
                endpointHealth(e), absl::StrCat(e.active_requests()),
                absl::StrCat(e.total_requests()), absl::StrCat(e.connections())});
    }
    if (c.panic()) {
      absl::StrAppend(&notes, "cluster ", c.name(),
                      ": panic mode (too few healthy endpoints): balancing across all of them\n");
    }
  }
  return t.render() + notes;
}

std::string renderProxyConfig(const gateway::v1::ProxyConfigResponse& c) {
  std::string out = absl::StrCat("running version ", orDash(c.version()), "\n");
  if (!c.bound_listeners().empty()) {
    absl::StrAppend(&out, "\nBound listeners:\n");
    Table t({"LISTENER", "BOUND TO"});
    std::map<std::string, std::string> sorted(c.bound_listeners().begin(),
                                              c.bound_listeners().end());
    for (const auto& [k, v] : sorted) {
      t.addRow({k, v});
    }
    absl::StrAppend(&out, t.render());
  }
  absl::StrAppend(&out, "\nListeners:\n", renderListenersTable(c.config()), "\nRoutes:\n",
                  renderRoutesTable(c.config()), "\nClusters:\n", renderClustersTable(c.config()));
  return out;
}

} // namespace gw::ctl
