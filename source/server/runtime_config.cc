#include "source/server/runtime_config.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/ascii.h"
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
      endpoints.size() != other.endpoints.size() || tls_fingerprint != other.tls_fingerprint) {
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

void RuntimeConfig::adoptClusterRuntimes(const RuntimeConfig& previous) const {
  for (const auto& [name, cc] : clusters) {
    const ClusterConfig* old = previous.cluster(name);
    if (old != nullptr && old->runtime != nullptr && cc->sameUpstreamsAs(*old)) {
      cc->runtime = old->runtime;
    }
  }
}

namespace {

std::shared_ptr<RuntimeConfig> newRuntimeConfig() {
  // Freed on the reaper thread whoever drops the last reference (see config_reaper.h).
  return std::shared_ptr<RuntimeConfig>(new RuntimeConfig(), [](RuntimeConfig* p) {
    ConfigReaper::retire([p] { delete p; });
  });
}

// Builds the RuntimeConfig from what the validation walk hands over: the walk compiles filter
// configs and route tables once, this adds resolved addresses and the listener settings.
class RuntimeBuilder : public config::ConfigSink {
public:
  explicit RuntimeBuilder(RuntimeConfig& rc) : rc_(rc) {}

  void listenerTls(int, std::shared_ptr<const tls::ServerContext> context) override {
    pending_listener_tls_ = std::move(context);
  }
  void clusterTls(int, std::shared_ptr<const tls::ClientContext> context,
                  std::string fingerprint) override {
    pending_cluster_tls_ = std::move(context);
    pending_cluster_tls_fingerprint_ = std::move(fingerprint);
  }

  void cluster(int ci, const gateway::v1::Cluster& c,
               std::vector<config::ConfigError>& errors) override {
    auto cc = std::make_unique<ClusterConfig>();
    cc->tls = std::move(pending_cluster_tls_);
    cc->tls_fingerprint = std::move(pending_cluster_tls_fingerprint_);
    cc->proto = c;
    cc->name = c.name();
    for (int ei = 0; ei < c.endpoints_size(); ei++) {
      EndpointConfig ep;
      ep.address = c.endpoints(ei).address();
      ep.weight = c.endpoints(ei).weight() == 0 ? 1 : c.endpoints(ei).weight();
      if (auto st = parseAddress(ep.address, &ep.addr, &ep.addr_len); !st.ok()) {
        errors.push_back({absl::StrCat("clusters[", ci, "].endpoints[", ei, "].address"),
                          std::string(st.message())});
        return;
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
    cc->runtime = std::make_shared<upstream::ClusterRuntime>(c);
    rc_.clusters[cc->name] = std::move(cc);
  }

  void listener(int li, const gateway::v1::Listener& l, std::unique_ptr<router::RouteTable> routes,
                std::vector<std::shared_ptr<filters::FilterChain>> chains,
                std::vector<config::ConfigError>& errors) override {
    auto lc = std::make_unique<ListenerConfig>();
    lc->tls = std::move(pending_listener_tls_);
    if (l.has_tls()) {
      const auto& h = l.tls().client_cert_headers();
      lc->cert_subject_header = absl::AsciiStrToLower(h.subject());
      lc->cert_sans_header = absl::AsciiStrToLower(h.sans());
      lc->cert_fingerprint_header = absl::AsciiStrToLower(h.fingerprint());
    }
    lc->address = l.address();
    lc->name = l.name();
    if (auto st = parseAddress(l.address(), &lc->addr, &lc->addr_len); !st.ok()) {
      errors.push_back({absl::StrCat("listeners[", li, "].address"), std::string(st.message())});
      return;
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
    lc->abort_on_client_close = !l.has_abort_on_client_close() || l.abort_on_client_close();
    if (l.has_http2()) {
      const auto& h = l.http2();
      Http2Settings& o = lc->http2;
      o.enabled = h.enabled();
      o.allow_h2c = !h.has_allow_h2c() || h.allow_h2c();
      auto set = [](uint32_t v, uint32_t& out) {
        if (v > 0) {
          out = v;
        }
      };
      set(h.max_concurrent_streams(), o.max_concurrent_streams);
      set(h.max_header_list_size(), o.max_header_list_size);
      set(h.max_frame_size(), o.max_frame_size);
      set(h.initial_stream_window_size(), o.initial_stream_window_size);
      set(h.initial_connection_window_size(), o.initial_connection_window_size);
      o.stream_idle_timeout = durationOr(h.has_stream_idle_timeout(), h.stream_idle_timeout(),
                                         o.stream_idle_timeout);
      set(h.max_resets_per_second(), o.max_resets_per_second);
      set(h.max_reset_burst(), o.max_reset_burst);
      set(h.max_control_frames_per_second(), o.max_control_frames_per_second);
      set(h.max_control_frame_burst(), o.max_control_frame_burst);
      set(h.max_continuation_frames(), o.max_continuation_frames);
      set(h.max_consecutive_empty_data_frames(), o.max_consecutive_empty_data_frames);
    }
    if (lc->http2.max_header_list_size == 0) {
      lc->http2.max_header_list_size = lc->codec_limits.max_header_bytes;
    }
    switch (l.headers_with_underscores()) {
    case gateway::v1::Listener::ALLOW:
      lc->headers_with_underscores = UnderscoreAction::Allow;
      break;
    case gateway::v1::Listener::REJECT_REQUEST:
      lc->headers_with_underscores = UnderscoreAction::Reject;
      break;
    default:
      lc->headers_with_underscores = UnderscoreAction::Drop;
      break;
    }
    if (l.path_normalization().has_reject_encoded_slashes()) {
      lc->path_options.reject_encoded_slashes = l.path_normalization().reject_encoded_slashes();
    }
    if (l.path_normalization().has_merge_slashes()) {
      lc->path_options.merge_slashes = l.path_normalization().merge_slashes();
    }
    // Each route carries its compiled filter chain, in declaration order.
    std::vector<router::RouteEntry*> entries = routes->allRoutes();
    for (size_t i = 0; i < entries.size() && i < chains.size(); i++) {
      entries[i]->setAttachment(std::move(chains[i]));
    }
    lc->routes = std::move(routes);
    rc_.listeners.push_back(std::move(lc));
  }

private:
  RuntimeConfig& rc_;
  // listenerTls()/clusterTls() come just before the listener()/cluster() they belong to.
  std::shared_ptr<const tls::ServerContext> pending_listener_tls_;
  std::shared_ptr<const tls::ClientContext> pending_cluster_tls_;
  std::string pending_cluster_tls_fingerprint_;
};

} // namespace

absl::StatusOr<RuntimeConfigConstSharedPtr> compileConfig(
    gateway::v1::Config config_in, bool serving, std::vector<config::ConfigError>* errors_out) {
  // The config moves into the result (its `proto`), and is compiled from there in one walk.
  std::shared_ptr<RuntimeConfig> rc = newRuntimeConfig();
  rc->proto.Swap(&config_in);
  rc->version = rc->proto.version();
  RuntimeBuilder builder(*rc);
  std::vector<config::ConfigError> errors = config::validateConfig(rc->proto, &builder, serving);
  if (!errors.empty()) {
    std::vector<std::string> lines;
    lines.reserve(errors.size());
    for (const auto& e : errors) {
      lines.push_back(e.toString());
    }
    if (errors_out != nullptr) {
      *errors_out = std::move(errors);
    }
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }
  for (const auto& r : rc->proto.redis_servers()) {
    RedisServerConfig c;
    c.name = r.name();
    c.address = r.address();
    c.connect_timeout = durationOr(r.has_connect_timeout(), r.connect_timeout(), c.connect_timeout);
    c.command_timeout = durationOr(r.has_command_timeout(), r.command_timeout(), c.command_timeout);
    if (r.max_pending() > 0) {
      c.max_pending = r.max_pending();
    }
    if (!r.password_env().empty()) {
      const char* v = getenv(r.password_env().c_str());
      c.password = v == nullptr ? "" : v;  // validated present when serving
    } else {
      c.password = r.password();
    }
    c.database = r.database();
    rc->redis_servers.push_back(std::move(c));
  }
  return RuntimeConfigConstSharedPtr(std::move(rc));
}

} // namespace gw::server
