#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "source/server/runtime_config.h"
#include "source/server/worker.h"

namespace gw::server {

struct ServerConfig {
  int workers = 1;
  // Started without a config (control plane, no bootstrap): /ready answers 503 until the first
  // config is published.
  bool wait_for_config = false;
  std::string admin_address = "127.0.0.1:9901";
  // When set, every admin request (HTTP except /ready, and gRPC) must carry
  // "Authorization: Bearer <admin_token>". Required when an admin address is not loopback.
  std::string admin_token;
  // SIGTERM (or an admin drain): /ready turns 503 at once and requests are served as usual for
  // drain_grace, so that load balancers and endpoint lists stop sending traffic; then the
  // workers drain (Worker::drain). drain_timeout, counted from the signal, bounds the whole of it.
  std::chrono::milliseconds drain_grace{5000};
  std::chrono::milliseconds drain_timeout{20000};
  ServerOptions options;
};

class AdminServer;
class HealthManager;

// Written by the control-plane client (any thread), read by /metrics.
struct ControlPlaneStats {
  std::atomic<uint64_t> config_applied{0};
  std::atomic<uint64_t> config_rejected{0};
  std::atomic<bool> connected{false};
  // The last applied snapshot: from its arrival to every worker running it, and the part of that
  // spent validating and compiling (off the worker loops).
  std::atomic<double> last_apply_seconds{0};
  std::atomic<double> last_compile_seconds{0};
};

// Admin requests refused for a missing or wrong bearer token (any thread).
struct AdminAuthStats {
  std::atomic<uint64_t> http_unauthenticated{0};
  std::atomic<uint64_t> grpc_unauthenticated{0};
};

// The main thread: signals, admin endpoint, config publication, drain. Workers do the data path.
class Server {
public:
  Server(ServerConfig config, RuntimeConfigConstSharedPtr initial);
  ~Server();
  // Runs until drained or stopped. Returns the process exit code.
  int run();

  // Main thread.
  const RuntimeConfigConstSharedPtr& config() const { return config_; }
  // Switches every worker to `config`. Listeners that `config` adds, or whose address changed,
  // are bound here once (port 0 -> one concrete port for every worker; the port stays held until
  // the workers have bound it); listeners it removes stop accepting and their connections drain.
  // `done` runs on the main loop once every worker has switched. Fails without changing anything
  // when a new listener cannot bind ("listeners[i].address: ...") or while draining.
  absl::Status publish(RuntimeConfigConstSharedPtr config, std::function<void()> done = nullptr);
  // False until a config is running when started with `wait_for_config`.
  bool hasConfig() const { return has_config_; }
  ControlPlaneStats& controlPlaneStats() { return cp_stats_; }
  AdminAuthStats& adminAuthStats() { return admin_auth_stats_; }
  const std::string& adminToken() const { return cfg_.admin_token; }
  // `fn` runs on the main loop when a drain starts (e.g. stop the control-plane client).
  void onDrain(std::function<void()> fn) { drain_hooks_.push_back(std::move(fn)); }
  bool draining() const { return draining_; }
  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }
  const BoundListeners& boundListeners() const { return bound_; }
  // Runs `fn` on every worker loop and calls `done` on the main loop with the results in order.
  void collect(std::function<std::string(Worker&)> fn,
               std::function<void(std::vector<std::string>)> done);
  void startDrain();
  uv_loop_t* loop() { return loop_; }
  // Runs `fn` on the main loop (thread-safe).
  void postMain(std::function<void()> fn);

private:
  void onSignal(int signum);
  // Carries out the running config's cache_purges not carried out yet (each id once).
  void applyCachePurges();
  void runMainPosted();
  void drainWorkers();

  ServerConfig cfg_;
  RuntimeConfigConstSharedPtr config_;
  uv_loop_t* loop_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_async_t main_async_;
  uv_timer_t drain_timer_;
  uv_timer_t grace_timer_;
  std::mutex main_mu_;
  std::vector<std::function<void()>> main_posted_;
  std::vector<std::unique_ptr<Worker>> workers_;
  BoundListeners bound_;
  std::unique_ptr<AdminServer> admin_;
  // Active health checks and outlier un-ejection for every cluster (main loop).
  std::unique_ptr<HealthManager> health_;
  ControlPlaneStats cp_stats_;
  AdminAuthStats admin_auth_stats_;
  std::vector<std::function<void()>> drain_hooks_;
  absl::flat_hash_set<std::string> applied_cache_purges_;  // main thread
  bool has_config_ = true;
  bool draining_ = false;
  int drained_workers_ = 0;
  int exit_code_ = 0;
};

} // namespace gw::server
