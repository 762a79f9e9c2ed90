#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "source/filters/filter_stats.h"
#include "source/filters/worker_context.h"
#include "source/server/runtime_config.h"
#include "source/server/socket_writer.h"
#include "source/server/stats.h"
#include "source/upstream/host.h"
#include "source/upstream/load_balancer.h"

namespace gw::server {

class Worker;
class DownstreamConnection;
class WorkerHttpClient;

// Objects destroyed at the end of the current loop iteration, after every callback on the stack
// that may still reference them has returned.
class DeferredDeletable {
public:
  virtual ~DeferredDeletable() = default;
};
class UpstreamConnection;
class H2ClientConnection;
class ClusterState;

struct ServerOptions {
  bool access_log = true;
  int access_log_fd = 1;
};

// A pool of upstream connections for one host on one worker.
struct HostPool {
  upstream::Host host;
  std::vector<UpstreamConnection*> idle;  // most recently used at the back
  std::vector<H2ClientConnection*> h2;    // HTTP/2 connections taking new streams (H2C, H2, AUTO)
  uint32_t total = 0;                     // open connections (idle + busy + connecting)
  // AUTO clusters: what the endpoint chose by ALPN on this worker's first TLS connection to it.
  // Unknown and H2 go through H2ClientConnection; Http1 through UpstreamConnection.
  enum class Alpn : uint8_t { Unknown, H2, Http1 };
  Alpn alpn = Alpn::Unknown;
};

// One cluster as one worker sees it: its hosts with their counters, the balancer and the pools.
// Carried over a config switch when the cluster's definition did not change.
class ClusterState {
public:
  ClusterState(Worker& worker, const ClusterConfig& config, RuntimeConfigConstSharedPtr owner);
  ~ClusterState();
  const ClusterConfig& config() const { return *config_; }
  void rebind(const ClusterConfig& config, RuntimeConfigConstSharedPtr owner);
  upstream::ClusterRuntime& runtime() { return *runtime_; }
  const std::shared_ptr<upstream::ClusterRuntime>& runtimeShared() const { return runtime_; }
  upstream::LoadBalancer& lb() { return *lb_; }
  std::vector<std::unique_ptr<HostPool>>& pools() { return pools_; }
  HostPool* poolOf(const upstream::Host* host);
  Worker& worker() { return worker_; }
  // Removed from the worker's config: idle connections close now, busy ones on release.
  void retire();
  bool retired() const { return retired_; }

private:
  Worker& worker_;
  bool retired_ = false;
  const ClusterConfig* config_;
  RuntimeConfigConstSharedPtr owner_;  // keeps config_ alive
  std::shared_ptr<upstream::ClusterRuntime> runtime_;  // the hosts' `shared` point into it
  std::vector<std::unique_ptr<HostPool>> pools_;
  std::unique_ptr<upstream::LoadBalancer> lb_;
};
using ClusterStateSharedPtr = std::shared_ptr<ClusterState>;

struct ListenerSocket {
  uv_tcp_t handle;
  Worker* worker = nullptr;
  std::string name;
  sockaddr_storage addr{};
};

// One worker's view of a cluster's endpoints (for the admin services).
struct EndpointSnapshot {
  std::string address;
  uint32_t weight = 1;
  bool healthy = true;
  uint64_t active_requests = 0;
  uint64_t total_requests = 0;
  uint64_t connections = 0;       // open: idle + busy + connecting
  uint64_t idle_connections = 0;
};
struct ClusterSnapshot {
  std::string name;
  std::vector<EndpointSnapshot> endpoints;  // in config order
};

// Listener name -> the concrete address every worker binds (resolved once by the main thread).
using BoundListeners = std::vector<std::pair<std::string, sockaddr_storage>>;

// One event loop on one thread. Owns its connections, cluster states, stats and the per-worker
// services filters use (filters::WorkerContext: timers, the HTTP client, Redis clients).
class Worker : public filters::WorkerContext {
public:
  Worker(int index, const ServerOptions& options);
  ~Worker() override;

  // Binds every listener (SO_REUSEPORT, at the addresses the server resolved, so port 0 becomes
  // one concrete port for all workers) and runs the loop on a new thread.
  absl::Status start(RuntimeConfigConstSharedPtr config, const BoundListeners& bound);
  // Runs `fn` on this worker's loop (thread-safe).
  void post(std::function<void()> fn) override;
  // Thread-safe: the worker switches to `config` on its own loop. Listeners are reconciled with
  // `bound` by name and address: a new one binds and listens; a removed or moved one stops
  // accepting and the connections it accepted drain (current request, then Connection: close).
  // Idle connections re-pin the new config; busy ones at their next request. `done` then runs on
  // the worker loop.
  void setConfig(RuntimeConfigConstSharedPtr config, BoundListeners bound,
                 std::function<void()> done = nullptr);
  // Thread-safe: stop accepting (without resetting connections the kernel has already
  // accepted: see stopAccepting), and drain every connection: each response from now on carries
  // Connection: close and its connection closes after it; idle connections close after
  // DownstreamConnection::kDrainIdleMs. `on_empty` runs on this loop once no connection is left.
  void drain(std::function<void()> on_empty);
  void stop();
  void join();

  // Loop-thread only.
  uv_loop_t* loop() override { return &loop_; }
  const RuntimeConfigConstSharedPtr& config() const { return config_; }
  ClusterStateSharedPtr cluster(absl::string_view name);
  WorkerStats& stats() { return stats_; }
  const ServerOptions& options() const { return options_; }
  bool draining() const { return draining_; }
  int index() const override { return index_; }
  // A random UUID (version 4 layout), written into `out` (36 characters).
  void newRequestId(char* out);
  std::string newRequestId();
  uint64_t random() override;
  // filters::WorkerContext
  event::TimerPtr createTimer(std::function<void()> cb) override;
  filters::HttpClient& httpClient() override;
  std::shared_ptr<redis::RedisClient> redis(absl::string_view name) override;
  filters::FilterStatsBlock& filterStats() override { return filter_stats_; }
  const filters::FilterStatsBlock& filterStats() const { return filter_stats_; }
  void onConnectionClosed(DownstreamConnection* c);
  // Access log lines are appended to this buffer (loop thread) and written once per loop
  // iteration, not once per request: one write(2) for all the requests an iteration finished.
  std::string& accessLogBuffer() { return access_log_; }
  // Call after appending a line: flushes at once when the buffer grew large.
  void accessLogged() {
    if (access_log_.size() >= kAccessLogFlushBytes) {
      flushAccessLog();
    }
  }
  void flushAccessLog();
  void deferDelete(std::unique_ptr<DeferredDeletable> obj);
  // Socket writes of this loop leave at the end of each iteration (null: at once).
  WriteBatch* writeBatch() { return write_batch_.get(); }
  // Snapshot of cluster health for /clusters (loop thread).
  std::string clustersJson();
  // The same, structured (loop thread).
  std::vector<ClusterSnapshot> clusterSnapshots();

private:
  void applyConfig(RuntimeConfigConstSharedPtr config);
  void applyRedisServers(const RuntimeConfig& config);
  // Destroys the per-worker services (HTTP client, Redis clients) on this loop.
  void stopServices();
  // After the loop stopped (loop thread): closes everything on it and the loop itself.
  void closeLoop();
  absl::Status bindListener(const std::string& name, const sockaddr_storage& addr);
  // Returns the names of the listener sockets closed (removed or moved).
  std::vector<std::string> updateListeners(const BoundListeners& bound);
  void runPosted();
  static void onAccept(uv_stream_t* server, int status);
  void checkDrained();
  void stopAccepting();

  int index_;
  ServerOptions options_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_check_t deferred_check_;
  std::unique_ptr<WriteBatch> write_batch_;
  std::vector<std::unique_ptr<DeferredDeletable>> deferred_;
  std::thread thread_;
  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;
  RuntimeConfigConstSharedPtr config_;
  absl::flat_hash_map<std::string, ClusterStateSharedPtr> clusters_;
  std::vector<std::unique_ptr<ListenerSocket>> listeners_;
  std::list<std::unique_ptr<DownstreamConnection>> connections_;
  WorkerStats stats_;
  filters::FilterStatsBlock filter_stats_;
  std::unique_ptr<WorkerHttpClient> http_client_;
  // One client per Redis server of the running config (Config.redis_servers), kept across
  // switches while its settings are unchanged. Filters hold them (shared) while calls are in
  // flight, always on this loop, so a client is destroyed on it.
  struct RedisEntry {
    RedisServerConfig config;
    std::shared_ptr<redis::RedisClient> client;
  };
  absl::flat_hash_map<std::string, RedisEntry> redis_;
  std::unique_ptr<event::Timer> accept_stop_timer_;
  bool draining_ = false;
  bool loop_closed_ = false;
  std::function<void()> on_drained_;
  uint64_t rng_state_;
  static constexpr size_t kAccessLogFlushBytes = 64 * 1024;
  // Draining: how long connections already handshaking are still accepted (see stopAccepting).
  static constexpr int kAcceptSettleMs = 200;
  std::string access_log_;
};

} // namespace gw::server
