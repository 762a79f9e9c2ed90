#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "source/server/runtime_config.h"
#include "source/upstream/cluster_runtime.h"

namespace gw::server {

class HealthProbe;

// The process's one place for endpoint health work, on the main loop (never on a worker): for
// every cluster with a health_check, one HTTP probe per endpoint (HealthProbe: connect, send the
// request, read the status line, thresholds); for every cluster with outlier_detection, a timer
// that returns ejected hosts once their time is over (OutlierDetector::sweep), whether or not a
// request arrives. Results go to the cluster's ClusterRuntime (shared HostHealth flags every
// worker's balancer reads, and the panic flag).
//
// Keyed by ClusterRuntime: Server::publish calls reconcile() with each new config; a cluster whose
// runtime was carried over (unchanged definition) keeps its probes and their state, a new or
// changed cluster gets new ones, and those of clusters that are gone stop.
class HealthManager {
public:
  explicit HealthManager(uv_loop_t* loop);
  ~HealthManager();
  HealthManager(const HealthManager&) = delete;
  HealthManager& operator=(const HealthManager&) = delete;

  void reconcile(const RuntimeConfig& config);
  // Stops every probe and timer (their handles close on the loop).
  void stop();
  size_t probeCount() const;

private:
  struct Entry;
  void start(const ClusterConfig& cluster, Entry& entry);
  static void stopEntry(Entry& entry);

  uv_loop_t* loop_;
  absl::flat_hash_map<const upstream::ClusterRuntime*, std::unique_ptr<Entry>> entries_;
};

} // namespace gw::server
