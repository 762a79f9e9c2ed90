#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gateway/v1/config.pb.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "source/filters/filter_chain.h"
#include "source/http/http1_codec.h"
#include "source/http/path.h"
#include "source/router/route_table.h"
#include "source/server/header_policy.h"
#include "source/tls/client_context.h"
#include "source/tls/server_context.h"
#include "source/upstream/cluster_runtime.h"

namespace gw::server {

using filters::FilterChain;

// Listener.http2 (HTTP/2 downstream): on or off and the session's limits.
struct Http2Settings {
  bool enabled = false;
  bool allow_h2c = true;  // h2c with prior knowledge on a plain listener (when enabled)
  uint32_t max_concurrent_streams = 100;
  uint32_t max_header_list_size = 0;  // 0: the listener's limits.max_request_headers_kb
  uint32_t max_frame_size = 16384;
  uint32_t initial_stream_window_size = 256 * 1024;
  uint32_t initial_connection_window_size = 1024 * 1024;
  std::chrono::milliseconds stream_idle_timeout{300000};
  uint32_t max_resets_per_second = 100;
  uint32_t max_reset_burst = 200;
  uint32_t max_control_frames_per_second = 100;
  uint32_t max_control_frame_burst = 200;
  uint32_t max_continuation_frames = 8;
  uint32_t max_consecutive_empty_data_frames = 1;
};

struct ListenerConfig {
  std::string name;
  std::string address;  // as configured ("127.0.0.1:8080"); the whole proto is in RuntimeConfig
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::unique_ptr<router::RouteTable> routes;
  http::CodecLimits codec_limits;
  http::PathOptions path_options;
  std::chrono::milliseconds request_headers_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  uint64_t max_request_body_bytes = 0;
  uint32_t max_requests_per_connection = 0;
  uint32_t xff_trusted_hops = 0;
  bool forward_trailers = false;
  UnderscoreAction headers_with_underscores = UnderscoreAction::Drop;
  bool abort_on_client_close = true;
  Http2Settings http2;
  // HTTPS: set when the listener has `tls`. New connections take an SSL from it; a push that
  // changes a certificate makes a new context, and open connections keep their SSL.
  std::shared_ptr<const tls::ServerContext> tls;
  // Request headers set from the verified client certificate (empty: not set). Client-sent
  // copies of these names are always removed.
  std::string cert_subject_header;
  std::string cert_sans_header;
  std::string cert_fingerprint_header;
};

struct EndpointConfig {
  std::string address;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  uint32_t weight = 1;
};

struct ClusterConfig {
  gateway::v1::Cluster proto;
  std::string name;
  std::vector<EndpointConfig> endpoints;
  uint32_t max_connections_per_endpoint = 1024;
  uint32_t max_idle_per_endpoint = 64;
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds connect_timeout{5000};
  // TLS to the endpoints (Cluster.tls); null: plaintext. `tls_fingerprint` digests what it was
  // built from, so that a secret file changed under the same config is a different cluster.
  std::shared_ptr<const tls::ClientContext> tls;
  std::string tls_fingerprint;
  // The cluster's process-wide state (breaker, retry budget, endpoint health). Made with the
  // config; replaced by the previous config's runtime when Server::publish finds the cluster
  // unchanged (adoptClusterRuntimes), before any worker sees this config. Never null.
  mutable std::shared_ptr<upstream::ClusterRuntime> runtime;
  // Same endpoints and settings: a worker may keep its pools across a config switch, and the
  // process its breaker and endpoint health.
  bool sameUpstreamsAs(const ClusterConfig& other) const;
};

// A Redis server of the config (Config.redis_servers), as the workers' clients need it.
struct RedisServerConfig {
  std::string name;
  std::string address;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{250};
  uint32_t max_pending = 1024;
  std::string password;  // password_env already read
  uint32_t database = 0;
  bool operator==(const RedisServerConfig&) const = default;
};

// The whole running configuration: immutable once built, shared by every worker through one
// shared_ptr<const RuntimeConfig>. A switch is one pointer swap per worker.
struct RuntimeConfig {
  RuntimeConfig();
  ~RuntimeConfig();
  RuntimeConfig(const RuntimeConfig&) = delete;
  RuntimeConfig& operator=(const RuntimeConfig&) = delete;
  // How many generations are alive (gateway_config_generations_live): the running one plus the
  // old ones still pinned by in-flight requests. Growing without bound means a leak.
  static int64_t liveGenerations();

  gateway::v1::Config proto;
  std::string version;
  std::vector<std::unique_ptr<ListenerConfig>> listeners;
  absl::flat_hash_map<std::string, std::unique_ptr<ClusterConfig>> clusters;
  std::vector<RedisServerConfig> redis_servers;

  // Takes over the runtime of every cluster `previous` defines identically (sameUpstreamsAs).
  // Called once, by Server::publish, before this config reaches a worker.
  void adoptClusterRuntimes(const RuntimeConfig& previous) const;

  const ClusterConfig* cluster(absl::string_view name) const {
    auto it = clusters.find(name);
    return it == clusters.end() ? nullptr : it->second.get();
  }
};
using RuntimeConfigConstSharedPtr = std::shared_ptr<const RuntimeConfig>;

// Validates (config::validateConfig) and compiles. On failure returns every problem, one per line.
// Without `serving` (the control plane checking a snapshot) no rate-limit bucket table is
// allocated: the result must not serve requests.
// The config is taken by value: callers done with theirs move it in (no copy).
absl::StatusOr<RuntimeConfigConstSharedPtr> compileConfig(
    gateway::v1::Config config, bool serving = true,
    std::vector<config::ConfigError>* errors = nullptr);

// "host:port" / "[v6]:port" -> sockaddr (resolves names with getaddrinfo).
absl::Status parseAddress(absl::string_view address, sockaddr_storage* out, socklen_t* len);
std::string formatAddress(const sockaddr* addr);

inline const FilterChain& filterChainOf(const router::RouteEntry& route) {
  return *static_cast<const FilterChain*>(route.attachment());
}

} // namespace gw::server
