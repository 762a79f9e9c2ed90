#pragma once

#include <atomic>
#include <cstdint>

namespace gw::upstream {

// The health of one endpoint, shared by every worker of the process (one per endpoint in the
// cluster's ClusterRuntime). Written by the health side (active checks, outlier ejection), read
// by every worker's balancer on each pick with relaxed loads: a pick that sees a change one
// request late is harmless.
struct HostHealth {
  // Why a host is out of rotation; healthy when no bit is set.
  enum Flag : uint8_t {
    kActiveCheckFailed = 1,  // the active HTTP health check marked it unhealthy
    kOutlierEjected = 2,     // passive outlier detection ejected it
  };
  std::atomic<uint8_t> flags{0};

  bool healthy() const { return flags.load(std::memory_order_relaxed) == 0; }
  uint8_t reasons() const { return flags.load(std::memory_order_relaxed); }
  void set(Flag f) { flags.fetch_or(f, std::memory_order_relaxed); }
  void clear(Flag f) { flags.fetch_and(static_cast<uint8_t>(~f), std::memory_order_relaxed); }
};

} // namespace gw::upstream
