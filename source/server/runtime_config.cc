#include "source/server/runtime_config.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <atomic>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "source/server/config_reaper.h"

namespace gw::server {

namespace {

std::chrono::milliseconds durationOr(bool has, const google::protobuf::Duration& d,
                                     std::chrono::milliseconds def) {
  if (!has) {
    return def;
  }
  return std::chrono::milliseconds(google::protobuf::util::TimeUtil::DurationToMilliseconds(d));
}

} // namespace

absl::Status parseAddress(absl::string_view address, sockaddr_storage* out, socklen_t* len) {
  std::string host;
  std::string port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("invalid address '", address, "'"));
    }
    host = std::string(address.substr(1, close - 1));
    port = std::string(address.substr(close + 2));
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid address '", address, "': expected host:port"));
    }
    host = std::string(address.substr(0, colon));
    port = std::string(address.substr(colon + 1));
  }
  int port_num = 0;
  if (!absl::SimpleAtoi(port, &port_num) || port_num < 0 || port_num > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port in '", address, "'"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve '", address, "': ", gai_strerror(rc)));
  }
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return absl::OkStatus();
}

std::string formatAddress(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
    return absl::StrCat(buf, ":", ntohs(a->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    return absl::StrCat("[", buf, "]:", ntohs(a->sin6_port));
  }
  return "unknown";
}

namespace {
std::atomic<int64_t> live_generations{0};
} // namespace

RuntimeConfig::RuntimeConfig() { live_generations.fetch_add(1, std::memory_order_relaxed); }
RuntimeConfig::~RuntimeConfig() { live_generations.fetch_sub(1, std::memory_order_relaxed); }
int64_t RuntimeConfig::liveGenerations() {
  return live_generations.load(std::memory_order_relaxed);
}

bool ClusterConfig::sameUpstreamsAs(const ClusterConfig& other) const {
  if (!google::protobuf::util::MessageDifferencer::Equals(proto, other.proto) ||
      endpoints.size() != other.endpoints.size()) {
    return false;
  }
  // A DNS name may resolve to another address at the next load: the proto alone is not enough.
  for (size_t i = 0; i < endpoints.size(); i++) {
    const EndpointConfig& a = endpoints[i];
    const EndpointConfig& b = other.endpoints[i];
    if (a.addr_len != b.addr_len || memcmp(&a.addr, &b.addr, a.addr_len) != 0) {
      return false;
    }
  }
  return true;
}

namespace {

std::shared_ptr<RuntimeConfig> newRuntimeConfig();
absl::Status compileChecked(RuntimeConfig& rc, bool serving);

} // namespace

absl::StatusOr<RuntimeConfigConstSharedPtr> compileConfig(gateway::v1::Config config_in,
                                                          bool serving) {
  // The config moves into the result (its `proto`), and is compiled from there.
  std::shared_ptr<RuntimeConfig> rc = newRuntimeConfig();
  rc->proto.Swap(&config_in);
  const gateway::v1::Config& config = rc->proto;
  // Every problem, with field paths: validateConfig's list, else the compiler's own error.
  auto everyProblem = [&config](absl::Status compiled) {
    std::vector<config::ConfigError> errors = config::validateConfig(config);
    if (errors.empty()) {
      return compiled;
    }
    std::vector<std::string> lines;
    for (const auto& e : errors) {
      lines.push_back(e.toString());
    }
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  };
  // The cheap checks first; routes and filter configs are compiled once, below, and a failure
  // there falls back to the full validation for the complete list.
  if (!config::validateConfigWithoutCompiling(config).empty()) {
    return everyProblem(absl::InvalidArgumentError("invalid config"));
  }
  if (absl::Status st = compileChecked(*rc, serving); !st.ok()) {
    return everyProblem(std::move(st));
  }
  return RuntimeConfigConstSharedPtr(std::move(rc));
}

namespace {

std::shared_ptr<RuntimeConfig> newRuntimeConfig() {
  // Freed on the reaper thread whoever drops the last reference (see config_reaper.h).
  return std::shared_ptr<RuntimeConfig>(new RuntimeConfig(), [](RuntimeConfig* p) {
    ConfigReaper::retire([p] { delete p; });
  });
}

absl::Status compileChecked(RuntimeConfig& out, bool serving) {
  const gateway::v1::Config& config = out.proto;
  RuntimeConfig* const rc = &out;
  rc->version = config.version();

  filters::ValidationContext vctx;
  // The same compiled policies the filters were validated against would do, but validation's are
  // gone: compile again (an unchanged rate-limit policy keeps its live buckets either way).
  if (auto errs = config::buildValidationContext(config, &vctx, serving); !errs.empty()) {
    return absl::InvalidArgumentError(errs.front().toString());
  }
  for (int ci = 0; ci < config.clusters_size(); ci++) {
    const auto& c = config.clusters(ci);
    auto cc = std::make_unique<ClusterConfig>();
    cc->proto = c;
    cc->name = c.name();
    for (int ei = 0; ei < c.endpoints_size(); ei++) {
      EndpointConfig ep;
      ep.address = c.endpoints(ei).address();
      ep.weight = c.endpoints(ei).weight() == 0 ? 1 : c.endpoints(ei).weight();
      auto st = parseAddress(ep.address, &ep.addr, &ep.addr_len);
      if (!st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("clusters[", ci, "].endpoints[", ei, "].address: ", st.message()));
      }
      cc->endpoints.push_back(ep);
    }
    const auto& pool = c.pool();
    if (pool.max_connections_per_endpoint() > 0) {
      cc->max_connections_per_endpoint = pool.max_connections_per_endpoint();
    }
    if (pool.max_idle_per_endpoint() > 0) {
      cc->max_idle_per_endpoint = pool.max_idle_per_endpoint();
    }
    cc->idle_timeout = durationOr(pool.has_idle_timeout(), pool.idle_timeout(), cc->idle_timeout);
    cc->connect_timeout =
        durationOr(pool.has_connect_timeout(), pool.connect_timeout(), cc->connect_timeout);
    rc->clusters[cc->name] = std::move(cc);
  }

  auto compileList = [&](const google::protobuf::RepeatedPtrField<gateway::v1::Filter>& list,
                         std::vector<filters::FilterConfigConstSharedPtr>& out,
                         std::vector<std::string>& names, const std::string& path) -> absl::Status {
    for (int i = 0; i < list.size(); i++) {
      const auto* factory = filters::FilterRegistry::get(list[i].name());
      if (factory == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(path, "[", i, "].name: unknown filter"));
      }
      auto fc = factory->createConfig(list[i].config(), vctx);
      if (!fc.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, "[", i, "].config: ", fc.status().message()));
      }
      out.push_back(*fc);
      names.push_back(list[i].name());
    }
    return absl::OkStatus();
  };

  for (int li = 0; li < config.listeners_size(); li++) {
    const auto& l = config.listeners(li);
    auto lc = std::make_unique<ListenerConfig>();
    lc->address = l.address();
    lc->name = l.name();
    auto st = parseAddress(l.address(), &lc->addr, &lc->addr_len);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("listeners[", li, "].address: ", st.message()));
    }
    const auto& lim = l.limits();
    if (lim.max_request_headers_kb() > 0) {
      lc->codec_limits.max_header_bytes = lim.max_request_headers_kb() * 1024;
    }
    if (lim.max_request_headers_count() > 0) {
      lc->codec_limits.max_headers = lim.max_request_headers_count();
    }
    lc->request_headers_timeout = durationOr(lim.has_request_headers_timeout(),
                                             lim.request_headers_timeout(),
                                             lc->request_headers_timeout);
    lc->idle_timeout = durationOr(lim.has_idle_timeout(), lim.idle_timeout(), lc->idle_timeout);
    lc->max_request_body_bytes = lim.max_request_body_bytes();
    lc->max_requests_per_connection = lim.max_requests_per_connection();
    lc->xff_trusted_hops = l.xff_trusted_hops();
    lc->forward_trailers = l.forward_trailers();
    if (l.path_normalization().has_reject_encoded_slashes()) {
      lc->path_options.reject_encoded_slashes = l.path_normalization().reject_encoded_slashes();
    }
    if (l.path_normalization().has_merge_slashes()) {
      lc->path_options.merge_slashes = l.path_normalization().merge_slashes();
    }
    auto table = router::RouteTable::create(l);
    if (!table.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("listeners[", li, "].", table.status().message()));
    }
    lc->routes = std::move(*table);

    // Attach the compiled filter chain to each route, in declaration order.
    std::vector<router::RouteEntry*> routes = lc->routes->allRoutes();
    size_t idx = 0;
    for (int vi = 0; vi < l.virtual_hosts_size(); vi++) {
      for (int ri = 0; ri < l.virtual_hosts(vi).routes_size(); ri++, idx++) {
        const auto& r = l.virtual_hosts(vi).routes(ri);
        const std::string base =
            absl::StrCat("listeners[", li, "].virtual_hosts[", vi, "].routes[", ri, "]");
        auto chain = std::make_shared<FilterChain>();
        absl::Status s;
        s = compileList(r.pre_filters_size() > 0 ? r.pre_filters() : l.pre_filters(), chain->pre,
                        chain->pre_names, base + ".pre_filters");
        if (s.ok()) {
          s = compileList(r.post_filters_size() > 0 ? r.post_filters() : l.post_filters(),
                          chain->post, chain->post_names, base + ".post_filters");
        }
        if (s.ok()) {
          s = compileList(r.error_filters_size() > 0 ? r.error_filters() : l.error_filters(),
                          chain->error, chain->error_names, base + ".error_filters");
        }
        if (!s.ok()) {
          return s;
        }
        const auto* factory = filters::FilterRegistry::get(r.route_filter().name());
        if (factory == nullptr) {
          return absl::InvalidArgumentError(base + ".route_filter.name: unknown filter");
        }
        auto fc = factory->createConfig(r.route_filter().config(), vctx);
        if (!fc.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(base, ".route_filter.config: ", fc.status().message()));
        }
        chain->route = *fc;
        chain->route_name = r.route_filter().name();
        if (idx < routes.size()) {
          routes[idx]->setAttachment(chain);
        }
      }
    }
    rc->listeners.push_back(std::move(lc));
  }
  return absl::OkStatus();
}

} // namespace

} // namespace gw::server
