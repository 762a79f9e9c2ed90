#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/strings/string_view.h"
#include "source/event/timer.h"
#include "source/filters/filter_stats.h"
#include "source/filters/http_client.h"

namespace gw::redis {
class RedisClient;
}

namespace gw::filters {

// What a filter sees of the worker its request runs on: the loop, timers, and the per-worker
// services built from the running config (Envoy's thread-local slots, h2o's context init). All
// of it is loop-thread only, except post().
class WorkerContext {
public:
  virtual ~WorkerContext() = default;
  virtual int index() const = 0;
  virtual uv_loop_t* loop() = 0;
  // Runs `fn` on this worker's loop (thread-safe): how work finished on another thread comes
  // back to a request.
  virtual void post(std::function<void()> fn) = 0;
  // A timer on this loop; destroying it cancels it.
  virtual event::TimerPtr createTimer(std::function<void()> cb) = 0;
  // The worker's HTTP client over the running config's clusters.
  virtual HttpClient& httpClient() = 0;
  // The worker's client of the Redis server named `name` (Config.redis_servers), or nullptr when
  // the running config has none of that name. One client (one connection) per server and worker,
  // connected when the config arrives and kept across pushes that leave the server unchanged.
  // Keep the pointer for as long as calls are in flight: a client removed by a push is destroyed
  // (on this loop) once its last holder lets go.
  virtual std::shared_ptr<redis::RedisClient> redis(absl::string_view name) = 0;
  virtual FilterStatsBlock& filterStats() = 0;
  // A fast, non-cryptographic random number (splitmix64, seeded per worker).
  virtual uint64_t random() = 0;
};

} // namespace gw::filters
