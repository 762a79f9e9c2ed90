#include "source/server/explain.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/http/http1_codec.h"
#include "source/http/path.h"
#include "source/server/request_preparation.h"
#include "source/upstream/load_balancer.h"

namespace gw::server {

namespace {
// What answers a request whose breaker is open (the route's fallback).
std::string fallbackDescription(const filters::ProxyPolicy* policy) {
  if (policy == nullptr || policy->fallback.kind == filters::Fallback::Kind::Error) {
    return "503 circuit_open with Retry-After";
  }
  if (policy->fallback.kind == filters::Fallback::Kind::DirectResponse) {
    return absl::StrCat("the fallback response ", policy->fallback.status);
  }
  return absl::StrCat("the fallback cluster '", policy->fallback.cluster, "'");
}
} // namespace
namespace {

using gateway::v1::ExplainRequest;
using gateway::v1::ExplainResponse;

std::string quote(absl::string_view s) { return absl::StrCat("'", absl::CHexEscape(s), "'"); }

// The authority of an absolute-form URL ("http://user@h:1/p" -> "h:1"); nullopt for origin-form.
// Error for another scheme.
absl::StatusOr<std::optional<std::string>> authorityOf(absl::string_view url) {
  http::AbsoluteForm parts;
  if (!http::splitAbsoluteForm(url, parts)) {
    if (absl::StartsWith(url, "/") || url == "*") {
      return std::optional<std::string>();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("url ", quote(url), ": expected http://host/path or /path"));
  }
  absl::string_view authority = parts.authority;
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("url ", quote(url), ": no host"));
  }
  return std::optional<std::string>(std::string(authority));
}

std::string policyName(gateway::v1::Cluster::LbPolicy p) {
  return absl::AsciiStrToLower(gateway::v1::Cluster::LbPolicy_Name(p));
}

// "header x-user 'alice'", "cookie session (absent)", ...
std::string hashKeyDescription(const gateway::v1::HashPolicy& policy,
                               const http::RequestHead& head, absl::string_view client_ip) {
  switch (policy.source_case()) {
  case gateway::v1::HashPolicy::kHeader: {
    const std::string name = absl::AsciiStrToLower(policy.header());
    const std::string* v = head.headers.get(name);
    return v == nullptr ? absl::StrCat("header ", name, " absent")
                        : absl::StrCat("header ", name, " ", quote(*v));
  }
  case gateway::v1::HashPolicy::kCookie:
    return absl::StrCat("cookie ", policy.cookie());
  case gateway::v1::HashPolicy::kSourceIp:
    return absl::StrCat("client address ", client_ip);
  default:
    return "no hash policy";
  }
}

void addFilters(ExplainResponse& out, const char* stage,
                const std::vector<filters::FilterConfigConstSharedPtr>& configs,
                const std::vector<std::string>& names, filters::ExplainContext& ctx) {
  for (size_t i = 0; i < configs.size(); i++) {
    auto* d = out.add_filters();
    d->set_stage(stage);
    d->set_name(i < names.size() ? names[i] : "");
    d->set_decision(configs[i]->explain(ctx));
  }
}

// The endpoint a fresh balancer over the cluster's endpoints would pick for `head`.
void explainUpstream(const ClusterConfig& cluster, const http::RequestHead& head,
                     absl::string_view client_ip, ExplainResponse& out) {
  const std::string policy = policyName(cluster.proto.lb_policy());
  const std::string what = absl::StrCat("cluster ", quote(cluster.name), " (", policy, ", ",
                                        cluster.endpoints.size(), " endpoint",
                                        cluster.endpoints.size() == 1 ? "" : "s", ")");
  if (cluster.endpoints.empty()) {
    out.set_status(503);
    out.add_trace(absl::StrCat(what, ": no endpoint, the request would get 503"));
    return;
  }
  std::vector<upstream::Host> hosts(cluster.endpoints.size());
  std::vector<upstream::Host*> ptrs;
  for (size_t i = 0; i < cluster.endpoints.size(); i++) {
    hosts[i].address = cluster.endpoints[i].address;
    hosts[i].sockaddr = cluster.endpoints[i].addr;
    hosts[i].sockaddr_len = cluster.endpoints[i].addr_len;
    hosts[i].weight = cluster.endpoints[i].weight;
    hosts[i].index = static_cast<uint32_t>(i);
    if (cluster.runtime != nullptr) {
      hosts[i].shared = &cluster.runtime->health(i);  // the process's view of its health
    }
    ptrs.push_back(&hosts[i]);
  }
  auto lb = upstream::LoadBalancer::create(cluster.proto.lb_policy(), std::move(ptrs), 0);
  upstream::LbContext ctx;
  ctx.all_hosts = cluster.runtime != nullptr && cluster.runtime->panic();
  const bool hashing = cluster.proto.lb_policy() == gateway::v1::Cluster::RING_HASH ||
                       cluster.proto.lb_policy() == gateway::v1::Cluster::MAGLEV;
  if (cluster.proto.has_hash_policy()) {
    ctx.hash = upstream::computeHash(cluster.proto.hash_policy(), head, client_ip);
  }
  const upstream::Host* host = lb->pick(ctx);
  if (host == nullptr) {
    out.set_status(503);
    out.add_trace(absl::StrCat(what, ": no healthy endpoint, the request would get 503"));
    return;
  }
  out.set_endpoint(host->address);
  if (hashing && ctx.hash.has_value()) {
    out.add_trace(absl::StrCat(what, ": ",
                               hashKeyDescription(cluster.proto.hash_policy(), head, client_ip),
                               " -> ", host->address));
  } else if (hashing) {
    out.add_trace(absl::StrCat(what, ": no hash key (",
                               hashKeyDescription(cluster.proto.hash_policy(), head, client_ip),
                               "), any endpoint may serve it; e.g. ", host->address));
  } else {
    out.add_trace(absl::StrCat(what, ": each worker keeps its own balancer state; a fresh one "
                               "picks ", host->address));
  }
}

} // namespace

ExplainResponse explainRequest(const RuntimeConfig& config, const ExplainRequest& request) {
  ExplainResponse out;
  auto reject = [&out](int status, std::string why) {
    out.set_status(status);
    out.set_rejected(std::move(why));
    return out;
  };

  // Listener.
  const ListenerConfig* listener = nullptr;
  std::vector<std::string> names;
  for (const auto& l : config.listeners) {
    names.push_back(l->name);
    if (request.listener().empty() ? listener == nullptr : l->name == request.listener()) {
      listener = l.get();
    }
  }
  if (listener == nullptr) {
    out.set_listener(request.listener());
    return reject(0, config.listeners.empty()
                         ? std::string("no listener is configured")
                         : absl::StrCat("no listener named ", quote(request.listener()),
                                        " (listeners: ", absl::StrJoin(names, ", "), ")"));
  }
  out.set_listener(listener->name);

  // Request head, as the codec would have parsed it.
  http::RequestHead head;
  head.method = request.method().empty() ? "GET" : absl::AsciiStrToUpper(request.method());
  for (unsigned char c : head.method) {
    if (!isTokenChar(c)) {
      return reject(400, absl::StrCat("invalid method ", quote(request.method())));
    }
  }
  head.target = request.url().empty() ? "/" : request.url();
  const std::string client_ip =
      request.client_address().empty() ? "127.0.0.1" : request.client_address();
  // Sorted, so the header order (and a trace built from it) does not depend on the map.
  std::map<std::string, std::string> sorted(request.headers().begin(), request.headers().end());
  for (const auto& [name, value] : sorted) {
    std::string lower = absl::AsciiStrToLower(name);
    if (!isToken(lower)) {
      return reject(400, absl::StrCat("invalid header name ", quote(name)));
    }
    if (!http::isValidFieldValue(value)) {
      return reject(400, absl::StrCat("header ", lower, ": invalid value ", quote(value)));
    }
    head.headers.add(lower, value);
  }
  auto authority = authorityOf(head.target);
  if (!authority.ok()) {
    return reject(400, std::string(authority.status().message()));
  }
  if (head.headers.get("host") == nullptr) {
    if (!authority->has_value()) {
      return reject(400, "missing Host header (give an absolute URL or -H 'host: ...')");
    }
    head.headers.add("host", **authority);  // as a client sending that URL would
  }
  // The stream's own preparation: Host and absolute-form authority, CONNECT, path
  // normalization, header names with underscores, routing, the body limit.
  RequestFraming framing;
  if (const std::string* cl = head.headers.get("content-length")) {
    framing.has_content_length = absl::SimpleAtoi(*cl, &framing.content_length);
  }
  router::MatchTrace trace;
  PreparedRequest p = prepareRequest(*listener, head, framing, &trace);
  out.set_virtual_host(trace.virtual_host);
  for (auto& line : trace.lines) {
    out.add_trace(std::move(line));
  }
  if (!p.ok && p.route == nullptr) {
    if (p.error->kind == filters::ErrorKind::NoRoute) {
      out.set_normalized_path(head.path);
      out.set_status(404);
      return out;
    }
    return reject(p.error->status, p.error->kind == filters::ErrorKind::InvalidPath
                                      ? absl::StrCat("invalid path: ", p.error->message)
                                      : p.error->message);
  }
  out.set_normalized_path(head.path);
  const router::RouteEntry& route = *p.route;
  out.set_route(route.name());
  const FilterChain& chain = filterChainOf(route);
  filters::FilterState state;
  filters::ExplainContext ctx{head, state};
  auto recordState = [&out, &state] {
    for (const auto& [name, object] : state.entries()) {
      std::string d = object->describe();
      if (!d.empty()) {
        (*out.mutable_filter_state())[std::string(name)] = std::move(d);
      }
    }
  };
  if (!p.ok) {
    // Refused before any pre filter runs (a Content-Length over the body limit).
    addFilters(out, "error", chain.error, chain.error_names, ctx);
    return reject(p.error->status, p.error->message);
  }

  addFilters(out, "pre", chain.pre, chain.pre_names, ctx);
  auto* d = out.add_filters();
  d->set_stage("route");
  d->set_name(chain.route_name);
  d->set_decision(chain.route->explain(ctx));
  addFilters(out, "post", chain.post, chain.post_names, ctx);
  addFilters(out, "error", chain.error, chain.error_names, ctx);
  recordState();

  const filters::StaticRoute* action = chain.route->staticRoute();
  if (action == nullptr) {
    return out;
  }
  if (action->kind == filters::StaticRoute::Kind::DirectResponse) {
    out.set_status(static_cast<uint32_t>(action->status));
    return out;
  }
  out.set_cluster(action->cluster);
  std::string upstream_path = route.rewritePath(head.path);
  if (!head.query.empty()) {
    absl::StrAppend(&upstream_path, "?", head.query);
  }
  out.set_upstream_path(std::move(upstream_path));
  const ClusterConfig* cluster = config.cluster(action->cluster);
  if (cluster == nullptr) {
    out.set_status(503);
    out.add_trace(absl::StrCat("cluster ", quote(action->cluster), " is not configured"));
    return out;
  }
  // The breakers: the cluster's, then the route's own. Open: the fallback answers.
  const int64_t now = upstream::monotonicNowNs();
  auto breakerTrace = [&](const upstream::CircuitBreaker& b, absl::string_view what) {
    const upstream::CircuitBreaker::State st = b.state(now);
    std::string line = absl::StrCat(what, " circuit breaker ", quote(b.name()), ": ",
                                    upstream::CircuitBreaker::stateName(st));
    if (st == upstream::CircuitBreaker::State::Open) {
      absl::StrAppend(&line, ", ", b.openRemainingNs(now) / 1000000,
                      " ms left; the request would not reach the cluster: ",
                      fallbackDescription(action->policy));
    } else if (st == upstream::CircuitBreaker::State::HalfOpen) {
      absl::StrAppend(&line, ": the next request is a probe");
    }
    out.add_trace(std::move(line));
    return st == upstream::CircuitBreaker::State::Open;
  };
  bool open = false;
  if (cluster->runtime != nullptr && cluster->runtime->breaker() != nullptr) {
    open = breakerTrace(*cluster->runtime->breaker(), "cluster");
  }
  if (!open && action->policy != nullptr && action->policy->breaker != nullptr) {
    open = breakerTrace(*action->policy->breaker, "route");
  }
  if (open) {
    out.set_status(action->policy != nullptr &&
                           action->policy->fallback.kind == filters::Fallback::Kind::DirectResponse
                       ? static_cast<uint32_t>(action->policy->fallback.status)
                       : 503);
    return out;
  }
  explainUpstream(*cluster, head, client_ip, out);
  return out;
}

} // namespace gw::server
