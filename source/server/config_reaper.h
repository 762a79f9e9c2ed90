#pragma once

#include <cstdint>
#include <functional>

namespace gw::server {

// Frees retired config generations on a background thread. A 10,000-route RuntimeConfig takes
// tens of milliseconds to destroy; whichever thread drops the last reference (a worker finishing
// the last request of the old generation, or the main loop switching) would otherwise stall its
// loop for that long, which shows up as a p99 spike during a config push and a late ACK.
//
// Only config generations go through it (a handful per push), so its mutex is not on the data
// path. Objects still queued at process exit are not freed (the process is going away).
class ConfigReaper {
public:
  // Runs `destroy` soon on the reaper thread (started on first use).
  static void retire(std::function<void()> destroy);
  // Blocks until everything retired before the call has been destroyed (tests, shutdown paths
  // that want counters settled).
  static void flush();
  // How many retire() calls the reaper has completed (tests).
  static uint64_t completed();
};

// Lowers the calling thread's CPU priority (nice +10). For the threads that compile and free
// config generations: on a busy machine the worker loops, which serve requests, win the CPU and
// a push does not show up in request latency; the config work still progresses (at nice 10 it
// gets about a tenth of a contended core).
void lowerThreadPriority();

} // namespace gw::server
