#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "source/server/runtime_config.h"
#include "source/server/worker.h"

namespace gw::server {

struct ServerConfig {
  int workers = 1;
  std::string admin_address = "127.0.0.1:9901";
  std::chrono::milliseconds drain_timeout{20000};
  ServerOptions options;
};

class AdminServer;

// The main thread: signals, admin endpoint, config publication, drain. Workers do the data path.
class Server {
public:
  Server(ServerConfig config, RuntimeConfigConstSharedPtr initial);
  ~Server();
  // Runs until drained or stopped. Returns the process exit code.
  int run();

  // Main thread.
  const RuntimeConfigConstSharedPtr& config() const { return config_; }
  void publish(RuntimeConfigConstSharedPtr config);
  bool draining() const { return draining_; }
  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }
  const std::vector<std::pair<std::string, sockaddr_storage>>& boundListeners() const {
    return bound_;
  }
  // Runs `fn` on every worker loop and calls `done` on the main loop with the results in order.
  void collect(std::function<std::string(Worker&)> fn,
               std::function<void(std::vector<std::string>)> done);
  void startDrain();
  uv_loop_t* loop() { return loop_; }
  // Runs `fn` on the main loop (thread-safe).
  void postMain(std::function<void()> fn);

private:
  void onSignal(int signum);
  void runMainPosted();

  ServerConfig cfg_;
  RuntimeConfigConstSharedPtr config_;
  uv_loop_t* loop_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_async_t main_async_;
  uv_timer_t drain_timer_;
  std::mutex main_mu_;
  std::vector<std::function<void()>> main_posted_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::pair<std::string, sockaddr_storage>> bound_;
  std::unique_ptr<AdminServer> admin_;
  bool draining_ = false;
  int drained_workers_ = 0;
  int exit_code_ = 0;
};

} // namespace gw::server
