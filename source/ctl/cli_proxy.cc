// gatewayctl's commands on proxies (their admin gRPC service): proxy config, clusters, stats,
// drain and explain, and the response cache's purge and stats.
#include "source/ctl/cli_session.h"

namespace gw::ctl::detail {

int Cli::proxyConfig() {
  gateway::v1::ProxyConfigResponse resp;
  auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::GetConfig,
                 gateway::v1::ProxyConfigRequest(), &resp, rpcTimeout());
  if (!st.ok()) {
    return rpcFailed(st, proxyEndpoint(), rpcTimeout());
  }
  print(renderProxyConfig(resp), Doc::fromMessage(resp, false));
  return kExitOk;
}

int Cli::proxyClusters() {
  gateway::v1::ProxyClustersResponse resp;
  auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::GetClusters,
                 gateway::v1::ProxyClustersRequest(), &resp, rpcTimeout());
  if (!st.ok()) {
    return rpcFailed(st, proxyEndpoint(), rpcTimeout());
  }
  print(renderProxyClusters(resp), Doc::fromMessage(resp, true));
  return kExitOk;
}

int Cli::proxyStats() {
  gateway::v1::ProxyStatsResponse resp;
  auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::GetStats,
                 gateway::v1::ProxyStatsRequest(), &resp, rpcTimeout());
  if (!st.ok()) {
    return rpcFailed(st, proxyEndpoint(), rpcTimeout());
  }
  std::string text = resp.prometheus_text();
  if (!text.empty() && text.back() != '\n') {
    text.push_back('\n');
  }
  print(text, Doc::fromMessage(resp, true));
  return kExitOk;
}

int Cli::proxyDrain() {
  gateway::v1::ProxyDrainResponse resp;
  auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::Drain, gateway::v1::ProxyDrainRequest(),
                 &resp, rpcTimeout());
  if (!st.ok()) {
    return rpcFailed(st, proxyEndpoint(), rpcTimeout());
  }
  const std::string addr = proxyEndpoint().address;
  print(resp.draining()
            ? absl::StrCat("gatewayd at ", addr,
                           " is draining: listeners closed, in-flight requests finishing\n")
            : absl::StrCat("gatewayd at ", addr, " did not start draining\n"),
        Doc::fromMessage(resp, true));
  return resp.draining() ? kExitOk : kExitRefused;
}

int Cli::cache(const std::string& name) {
  const std::vector<std::string> proxies = proxyList(proxyEndpoint().address);
  gateway::v1::CachePurgeRequest purge;
  if (name == "cache purge") {
    purge.set_key(args_.value("key"));
    purge.set_prefix(args_.value("prefix"));
    purge.set_tag(args_.value("tag"));
    purge.set_all(args_.boolFlag("all"));
    if (!purge.key().empty() + !purge.prefix().empty() + !purge.tag().empty() + purge.all() != 1) {
      throw UsageError{"give exactly one of --key, --prefix, --tag or --all"};
    }
  }
  if (name == "cache purge" && args_.boolFlag("fleet")) {
    // Through the control plane: a new version carrying the purge reaches every proxy.
    int rc = kExitOk;
    std::optional<gateway::v1::StoredSnapshot> snap = latestSnapshot(rc);
    if (!snap.has_value()) {
      return rc;
    }
    gateway::v1::Config cfg = snap->config();
    const std::string id = addCachePurge(cfg, purge, absl::Now());
    return applyEdit(*snap, std::move(cfg), absl::StrCat("cache purge ", id), "");
  }
  CacheResults results;
  int rc = kExitOk;
  for (const std::string& addr : proxies) {
    auto stub = gateway::v1::ProxyAdmin::NewStub(channel(addr));
    grpc::Status st;
    if (name == "cache purge") {
      st = call(*stub, &gateway::v1::ProxyAdmin::Stub::CachePurge, purge,
                &results.purged[addr], rpcTimeout());
    } else {
      st = call(*stub, &gateway::v1::ProxyAdmin::Stub::CacheStats,
                gateway::v1::CacheStatsRequest(), &results.stats[addr], rpcTimeout());
    }
    if (!st.ok()) {
      rc = rpcFailed(st, {"gatewayd's gRPC admin", addr, "--proxy"}, rpcTimeout());
    }
    results.order.push_back(addr);
  }
  print(name == "cache purge" ? renderCachePurge(results) : renderCacheStats(results),
        cacheDoc(results));
  return rc;
}

int Cli::proxyExplain() {
  gateway::v1::ExplainRequest req;
  req.set_method(args_.args[0]);
  req.set_url(args_.args[1]);
  if (!absl::StartsWith(req.url(), "/") && !absl::StartsWith(req.url(), "http://") &&
      !absl::StartsWith(req.url(), "https://")) {
    throw UsageError{
        absl::StrCat("bad URL '", req.url(), "': use http://host/path?query or /path?query")};
  }
  for (const auto& h : args_.values("header")) {
    size_t colon = h.find(':');
    std::string name(absl::StripAsciiWhitespace(h.substr(0, colon)));
    if (colon == std::string::npos || colon == 0 || name.empty()) {
      throw UsageError{absl::StrCat("bad header '", h, "': use -H 'Name: value'")};
    }
    std::string value(absl::StripAsciiWhitespace(h.substr(colon + 1)));
    name = absl::AsciiStrToLower(name);
    auto& slot = (*req.mutable_headers())[name];
    slot = slot.empty() ? value : absl::StrCat(slot, ",", value);
  }
  req.set_listener(args_.value("listener"));
  req.set_client_address(args_.value("client-address"));
  gateway::v1::ExplainResponse resp;
  auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::Explain, req, &resp, rpcTimeout());
  if (!st.ok()) {
    return rpcFailed(st, proxyEndpoint(), rpcTimeout());
  }
  print(renderExplain(req, resp), Doc::fromMessage(resp, true));
  return explainNotRouted(resp) ? kExitRefused : kExitOk;
}

} // namespace gw::ctl::detail
