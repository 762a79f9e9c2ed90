// The one walk over a config: every semantic problem with its field path, and the compiled
// pieces (filter configs, route tables) handed to a ConfigSink as it goes.
#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/config/address.h"
#include "source/config/config.h"
#include "source/config/resilience_validation.h"
#include "source/config/tls_config.h"
#include "source/config/upstream_protocol_validation.h"
#include "source/config/field_path.h"
#include "source/filters/filter.h"
#include "source/router/route_table.h"

namespace gw::config {
namespace {

constexpr uint32_t kMaxHeadersKb = 1024;
constexpr uint32_t kMaxHeadersCount = 10000;
constexpr uint32_t kMaxEndpointWeight = 10000;
constexpr uint32_t kMaxPoolConnections = 65535;

// The one walk over a config: checks every field, compiles each filter config and each
// listener's route table once, and hands every valid cluster and listener to the sink.
class Validator {
public:
  Validator(const gateway::v1::Config& config, ConfigSink* sink, bool serving)
      : config_(config), sink_(sink), serving_(serving) {}

  std::vector<ConfigError> run() {
    errors_ = buildValidationContext(config_, &ctx_, serving_);
    SecretTable secrets(config_, serving_, &errors_);
    secrets_ = &secrets;
    if (config_.listeners_size() == 0) {
      error("listeners", "at least one listener is required");
    }
    std::map<std::string, std::string> names;
    for (int i = 0; i < config_.listeners_size(); i++) {
      const std::string base = absl::StrCat("listeners[", i, "]");
      const auto& l = config_.listeners(i);
      checkUniqueName(l.name(), base, "listener", names, /*required=*/true);
      checkListener(l, base, i);
    }
    names.clear();
    for (int i = 0; i < config_.clusters_size(); i++) {
      const std::string base = absl::StrCat("clusters[", i, "]");
      const size_t before = errors_.size();
      checkUniqueName(config_.clusters(i).name(), base, "cluster", names, /*required=*/true);
      checkCluster(config_.clusters(i), base);
      std::shared_ptr<const tls::ClientContext> tls;
      std::string tls_fingerprint;
      if (config_.clusters(i).has_tls()) {
        tls = compileUpstreamTls(config_.clusters(i), base + ".tls", secrets, &tls_fingerprint,
                                 &errors_);
      }
      if (sink_ != nullptr && errors_.size() == before) {
        if (tls != nullptr) {
          sink_->clusterTls(i, std::move(tls), std::move(tls_fingerprint));
        }
        sink_->cluster(i, config_.clusters(i), errors_);
      }
    }
    names.clear();
    for (int i = 0; i < config_.cache_purges_size(); i++) {
      checkCachePurge(config_.cache_purges(i), absl::StrCat("cache_purges[", i, "]"), names);
    }
    return std::move(errors_);
  }

private:
  void checkCachePurge(const gateway::v1::CachePurge& p, const std::string& base,
                       std::map<std::string, std::string>& ids) {
    if (p.id().empty()) {
      error(base + ".id", "required");
    } else if (auto [it, fresh] = ids.emplace(p.id(), base); !fresh) {
      error(base + ".id", absl::StrCat("duplicate purge id '", p.id(), "' (also ", it->second, ")"));
    }
    const int selectors =
        !p.key().empty() + !p.prefix().empty() + !p.tag().empty() + (p.all() ? 1 : 0);
    if (selectors != 1) {
      error(base, "set exactly one of key, prefix, tag or all");
    }
    if (!p.key().empty() && p.key().front() != '/') {
      error(base + ".key", "must be a path starting with '/'");
    }
    if (!p.prefix().empty() && p.prefix().front() != '/') {
      error(base + ".prefix", "must be a path starting with '/'");
    }
  }

  void error(std::string path, std::string message) {
    errors_.push_back({std::move(path), std::move(message)});
  }

  bool hasErrorAt(absl::string_view path, size_t since) const {
    for (size_t i = since; i < errors_.size(); i++) {
      if (errors_[i].path == path) {
        return true;
      }
    }
    return false;
  }

  // `names` maps a name to the base path of its first owner.
  void checkUniqueName(const std::string& name, const std::string& base, absl::string_view what,
                       std::map<std::string, std::string>& names, bool required) {
    uniqueName(name, base, what, names, required, &errors_);
  }

  void checkDuration(const google::protobuf::Duration& d, const std::string& path) {
    if (d.seconds() < 0 || d.nanos() < 0) {
      error(path, "must not be negative");
    } else if (d.nanos() > 999999999) {
      error(path, "invalid duration (nanos out of range)");
    }
  }

  // The index after `what[` in `path` ("virtual_hosts[3]" -> 3), or -1.
  static int indexIn(absl::string_view path, absl::string_view what) {
    const size_t at = path.find(what);
    if (at == absl::string_view::npos) {
      return -1;
    }
    int n = 0;
    for (size_t i = at + what.size(); i < path.size() && absl::ascii_isdigit(path[i]); i++) {
      n = n * 10 + (path[i] - '0');
    }
    return n;
  }

  // The route table's errors arrive after the listener's own checks: sort this listener's errors
  // (from `from`) back into config order, by virtual host, then route (stable otherwise).
  void sortInConfigOrder(size_t from) {
    std::stable_sort(errors_.begin() + static_cast<std::ptrdiff_t>(from), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                       const int va = indexIn(a.path, ".virtual_hosts[");
                       const int vb = indexIn(b.path, ".virtual_hosts[");
                       if (va != vb) {
                         return va < vb;
                       }
                       return indexIn(a.path, ".routes[") < indexIn(b.path, ".routes[");
                     });
  }

  using FilterList = std::pair<std::vector<filters::FilterConfigConstSharedPtr>,
                               std::vector<std::string>>;  // configs and their filter names

  void checkHttp2(const gateway::v1::Http2Options& h, const std::string& base) {
    auto range = [&](uint32_t v, uint32_t lo, uint32_t hi, const char* field) {
      if (v != 0 && (v < lo || v > hi)) {
        error(absl::StrCat(base, ".", field), absl::StrCat("must be between ", lo, " and ", hi));
      }
    };
    range(h.max_concurrent_streams(), 1, 10000, "max_concurrent_streams");
    range(h.max_header_list_size(), 1024, 1024 * 1024, "max_header_list_size");
    range(h.max_frame_size(), 16384, 16777215, "max_frame_size");
    range(h.initial_stream_window_size(), 65535, 2147483647, "initial_stream_window_size");
    range(h.initial_connection_window_size(), 65535, 2147483647,
          "initial_connection_window_size");
    range(h.max_continuation_frames(), 1, 1000, "max_continuation_frames");
    if (h.has_stream_idle_timeout()) {
      checkDuration(h.stream_idle_timeout(), base + ".stream_idle_timeout");
    }
  }

  void checkListener(const gateway::v1::Listener& l, const std::string& base, int index) {
    const size_t listener_errors = errors_.size();
    checkListenerAddress(l.address(), base + ".address");
    std::shared_ptr<const tls::ServerContext> tls;
    if (l.has_tls()) {
      tls = compileListenerTls(l, base + ".tls", *secrets_, &errors_);
    }
    if (!gateway::v1::Listener::HeadersWithUnderscores_IsValid(l.headers_with_underscores())) {
      error(base + ".headers_with_underscores",
            absl::StrCat("unknown action ", l.headers_with_underscores()));
    }

    const auto& lim = l.limits();
    if (lim.max_request_headers_kb() > kMaxHeadersKb) {
      error(base + ".limits.max_request_headers_kb",
            absl::StrCat("must be at most ", kMaxHeadersKb));
    }
    if (lim.max_request_headers_count() > kMaxHeadersCount) {
      error(base + ".limits.max_request_headers_count",
            absl::StrCat("must be at most ", kMaxHeadersCount));
    }
    if (lim.has_request_headers_timeout()) {
      checkDuration(lim.request_headers_timeout(), base + ".limits.request_headers_timeout");
    }
    if (lim.has_idle_timeout()) {
      checkDuration(lim.idle_timeout(), base + ".limits.idle_timeout");
    }

    if (l.has_http2()) {
      checkHttp2(l.http2(), base + ".http2");
    }

    // The listener's default stages, compiled once and shared by the routes that use them.
    FilterList defaults_pre = compileList(l.pre_filters(), base + ".pre_filters");
    FilterList defaults_post = compileList(l.post_filters(), base + ".post_filters");
    FilterList defaults_error = compileList(l.error_filters(), base + ".error_filters");

    std::map<std::string, std::string> vhost_names;
    // Lower-cased domain -> path of its first declaration, across the listener.
    std::map<std::string, std::string> domains;
    std::vector<std::shared_ptr<filters::FilterChain>> chains;
    for (int v = 0; v < l.virtual_hosts_size(); v++) {
      const auto& vh = l.virtual_hosts(v);
      const std::string vbase = absl::StrCat(base, ".virtual_hosts[", v, "]");
      checkUniqueName(vh.name(), vbase, "virtual host", vhost_names, /*required=*/false);
      checkDomains(vh, vbase, domains);
      std::map<std::string, std::string> route_names;
      for (int r = 0; r < vh.routes_size(); r++) {
        const std::string rbase = absl::StrCat(vbase, ".routes[", r, "]");
        checkUniqueName(vh.routes(r).name(), rbase, "route", route_names, /*required=*/false);
        chains.push_back(checkRoute(vh.routes(r), rbase, defaults_pre, defaults_post,
                                    defaults_error));
      }
    }
    // Every route's match, regex, template and rewrite, compiled once with the whole table; a
    // problem already reported at the same path (the domain checks above) is not repeated.
    std::vector<std::string> table_errors;
    auto table = router::RouteTable::create(l, &table_errors);
    for (const std::string& m : table_errors) {
      ConfigError e = splitFieldPath(m);
      const std::string path = joinPath(base, e.path);
      if (!hasErrorAt(path, listener_errors)) {
        error(path, e.message);
      }
    }
    sortInConfigOrder(listener_errors);
    if (sink_ != nullptr && errors_.size() == listener_errors && table.ok()) {
      if (tls != nullptr) {
        sink_->listenerTls(index, std::move(tls));
      }
      sink_->listener(index, l, std::move(*table), std::move(chains), errors_);
    }
  }

  void checkListenerAddress(const std::string& address, const std::string& path) {
    if (address.empty()) {
      error(path, "required (host:port)");
      return;
    }
    auto hp = parseHostPort(address);
    if (!hp.ok()) {
      error(path, absl::StrCat("invalid address '", address, "': ", hp.status().message()));
      return;
    }
    if (hp->kind == HostKind::Name && hp->host != "localhost") {
      error(path, absl::StrCat("invalid address '", address,
                               "': a listener binds an IP literal or 'localhost'"));
      return;
    }
    if (hp->port == 0) {
      return;  // ephemeral: never a conflict
    }
    for (const auto& [other, other_path] : listener_addresses_) {
      if (other.port != hp->port) {
        continue;
      }
      const bool same = other.host == hp->host;
      const bool wildcard =
          other.kind == hp->kind &&
          ((hp->kind == HostKind::Ipv4 && (other.host == "0.0.0.0" || hp->host == "0.0.0.0")) ||
           (hp->kind == HostKind::Ipv6 && (other.host == "::" || hp->host == "::")));
      if (same || wildcard) {
        error(path, absl::StrCat(same ? "duplicate address '" : "address '", address,
                                 same ? "' (also " : "' overlaps ", other_path, ")"));
        return;
      }
    }
    listener_addresses_.emplace_back(*hp, path);
  }

  void checkDomains(const gateway::v1::VirtualHost& vh, const std::string& vbase,
                    std::map<std::string, std::string>& seen) {
    if (vh.domains_size() == 0) {
      error(vbase + ".domains", "at least one domain is required (\"*\" for any)");
      return;
    }
    for (int d = 0; d < vh.domains_size(); d++) {
      const std::string path = absl::StrCat(vbase, ".domains[", d, "]");
      const std::string domain = absl::AsciiStrToLower(vh.domains(d));
      if (domain.empty()) {
        error(path, "must not be empty");
        continue;
      }
      if (domain != "*") {
        absl::string_view name = domain;
        if (absl::StartsWith(name, "*.")) {
          name.remove_prefix(2);
        } else if (name.find('*') != absl::string_view::npos) {
          error(path, absl::StrCat("invalid domain '", vh.domains(d),
                                   "': '*' only as the whole domain or a leading '*.'"));
          continue;
        }
        if (name.find(':') != absl::string_view::npos) {
          error(path, absl::StrCat("invalid domain '", vh.domains(d),
                                   "': must not include a port"));
          continue;
        }
        if (!std::all_of(name.begin(), name.end(),
                         [](char c) { return isHostnameChar(c) || c == '_'; }) ||
            name.empty() || name.front() == '.' || name.back() == '.' ||
            name.find("..") != absl::string_view::npos) {
          error(path, absl::StrCat("invalid domain '", vh.domains(d), "'"));
          continue;
        }
      }
      if (auto [it, inserted] = seen.emplace(domain, path); !inserted) {
        error(path, absl::StrCat("duplicate domain '", domain, "' (also ", it->second, ")"));
      }
    }
  }

  // Checks a route and compiles its filter chain (its own stages, else the listener's).
  std::shared_ptr<filters::FilterChain> checkRoute(const gateway::v1::Route& route,
                                                   const std::string& rbase,
                                                   const FilterList& defaults_pre,
                                                   const FilterList& defaults_post,
                                                   const FilterList& defaults_error) {
    auto chain = std::make_shared<filters::FilterChain>();
    auto stage = [&](const google::protobuf::RepeatedPtrField<gateway::v1::Filter>& own,
                     const char* field, const FilterList& defaults,
                     std::vector<filters::FilterConfigConstSharedPtr>& configs,
                     std::vector<std::string>& names) {
      FilterList list = own.empty() ? defaults : compileList(own, rbase + field);
      configs = std::move(list.first);
      names = std::move(list.second);
    };
    // The route's own filters see its name (the router's breaker, the cache's stats).
    ctx_.route_name = route.name().empty() ? rbase : route.name();
    stage(route.pre_filters(), ".pre_filters", defaults_pre, chain->pre, chain->pre_names);
    if (!route.has_route_filter()) {
      error(rbase + ".route_filter", "required (e.g. router or direct_response)");
    } else {
      chain->route = checkFilter(route.route_filter(), rbase + ".route_filter",
                                 filters::FilterKind::Route);
      chain->route_name = route.route_filter().name();
    }
    stage(route.post_filters(), ".post_filters", defaults_post, chain->post, chain->post_names);
    stage(route.error_filters(), ".error_filters", defaults_error, chain->error,
          chain->error_names);
    ctx_.route_name.clear();
    if (!route.prefix_rewrite().empty() &&
        route.match().path_specifier_case() != gateway::v1::RouteMatch::kPrefix) {
      error(rbase + ".prefix_rewrite", "only allowed with match.prefix");
    }
    if (route.has_timeout()) {
      checkDuration(route.timeout(), rbase + ".timeout");
    }
    if (chain->route != nullptr) {
      chain->finalize();
    }
    return chain;
  }

  // Compiles a stage list; the configs of filters with errors are left out (their errors are
  // reported).
  FilterList compileList(const google::protobuf::RepeatedPtrField<gateway::v1::Filter>& list,
                         const std::string& base) {
    FilterList out;
    for (int i = 0; i < list.size(); i++) {
      auto fc = checkFilter(list[i], absl::StrCat(base, "[", i, "]"), filters::FilterKind::Stage);
      if (fc != nullptr) {
        out.first.push_back(std::move(fc));
        out.second.push_back(list[i].name());
      }
    }
    return out;
  }

  // The filter's compiled config, or nullptr (with its errors reported at `path`).
  filters::FilterConfigConstSharedPtr checkFilter(const gateway::v1::Filter& f,
                                                  const std::string& path,
                                                  filters::FilterKind want) {
    if (f.name().empty()) {
      error(path + ".name", "required");
      return nullptr;
    }
    const filters::FilterFactory* factory = filters::FilterRegistry::get(f.name());
    if (factory == nullptr) {
      const std::vector<std::string> known = filters::FilterRegistry::names();
      error(path + ".name",
            absl::StrCat("unknown filter '", f.name(), "' (",
                         known.empty() ? "no filters registered"
                                       : absl::StrCat("registered: ", absl::StrJoin(known, ", ")),
                         ")"));
      return nullptr;
    }
    if (factory->kind() != want) {
      error(path + ".name",
            want == filters::FilterKind::Route
                ? absl::StrCat("'", f.name(),
                               "' is a stage filter; route_filter needs a route filter "
                               "(e.g. router or direct_response)")
                : absl::StrCat("'", f.name(),
                               "' is a route filter; use it as a route's route_filter"));
      return nullptr;
    }
    auto created = factory->createConfig(f.config(), ctx_);
    if (!created.ok()) {
      ConfigError e = splitFieldPath(created.status().message());
      error(joinPath(path + ".config", e.path), e.message);
      return nullptr;
    }
    return *std::move(created);
  }

  void checkCluster(const gateway::v1::Cluster& c, const std::string& base) {
    if (c.endpoints_size() == 0) {
      error(base + ".endpoints", "at least one endpoint is required");
    }
    for (int e = 0; e < c.endpoints_size(); e++) {
      const std::string ebase = absl::StrCat(base, ".endpoints[", e, "]");
      const auto& ep = c.endpoints(e);
      if (ep.address().empty()) {
        error(ebase + ".address", "required (host:port)");
      } else if (auto hp = parseHostPort(ep.address()); !hp.ok()) {
        error(ebase + ".address",
              absl::StrCat("invalid address '", ep.address(), "': ", hp.status().message()));
      } else if (hp->port == 0) {
        error(ebase + ".address",
              absl::StrCat("invalid address '", ep.address(), "': port must be 1..65535"));
      }
      if (ep.weight() > kMaxEndpointWeight) {
        error(ebase + ".weight", absl::StrCat("must be at most ", kMaxEndpointWeight));
      }
    }

    using gateway::v1::Cluster;
    using gateway::v1::HashPolicy;
    if (!Cluster::LbPolicy_IsValid(c.lb_policy())) {
      error(base + ".lb_policy", absl::StrCat("unknown policy ", c.lb_policy()));
    }
    const bool hashing = c.lb_policy() == Cluster::RING_HASH || c.lb_policy() == Cluster::MAGLEV;
    const auto& hp = c.hash_policy();
    if (hashing && hp.source_case() == HashPolicy::SOURCE_NOT_SET) {
      error(base + ".hash_policy",
            absl::StrCat("required for ", Cluster::LbPolicy_Name(c.lb_policy()),
                         ": set one of header, cookie or source_ip"));
    }
    switch (hp.source_case()) {
    case HashPolicy::kHeader:
      if (!isToken(hp.header())) {
        error(base + ".hash_policy.header",
              absl::StrCat("invalid header name '", hp.header(), "'"));
      }
      break;
    case HashPolicy::kCookie:
      if (!isToken(hp.cookie())) {
        error(base + ".hash_policy.cookie",
              absl::StrCat("invalid cookie name '", hp.cookie(), "'"));
      }
      break;
    case HashPolicy::kSourceIp:
      if (!hp.source_ip()) {
        error(base + ".hash_policy.source_ip", "must be true when set");
      }
      break;
    case HashPolicy::SOURCE_NOT_SET:
      break;
    }

    const auto& pool = c.pool();
    if (pool.max_connections_per_endpoint() > kMaxPoolConnections) {
      error(base + ".pool.max_connections_per_endpoint",
            absl::StrCat("must be at most ", kMaxPoolConnections));
    }
    if (pool.max_connections_per_endpoint() > 0 &&
        pool.max_idle_per_endpoint() > pool.max_connections_per_endpoint()) {
      error(base + ".pool.max_idle_per_endpoint",
            absl::StrCat("must not exceed max_connections_per_endpoint (",
                         pool.max_connections_per_endpoint(), ")"));
    }
    if (pool.has_idle_timeout()) {
      checkDuration(pool.idle_timeout(), base + ".pool.idle_timeout");
    }
    if (pool.has_connect_timeout()) {
      checkDuration(pool.connect_timeout(), base + ".pool.connect_timeout");
    }
    if (c.has_circuit_breaker()) {
      validateCircuitBreaker(c.circuit_breaker(), base + ".circuit_breaker", errors_);
    }
    if (c.has_retry_budget()) {
      validateRetryBudget(c.retry_budget(), base + ".retry_budget", errors_);
    }
    validateClusterHealth(c, base, errors_);
    validateUpstreamProtocol(c, base, errors_);
  }

  const gateway::v1::Config& config_;
  ConfigSink* const sink_;  // may be null: validation only
  const bool serving_;
  filters::ValidationContext ctx_;
  const SecretTable* secrets_ = nullptr;  // run()'s, while it runs
  std::vector<ConfigError> errors_;
  std::vector<std::pair<HostPort, std::string>> listener_addresses_;
};

} // namespace

std::vector<ConfigError> validateConfig(const gateway::v1::Config& config, ConfigSink* sink,
                                        bool serving) {
  return Validator(config, sink, serving).run();
}

} // namespace gw::config
