#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"
#include "source/http/message.h"
#include "source/upstream/host.h"

namespace gw::upstream {

struct LbContext {
  // Hash of the request's affinity key (ring hash / maglev); nullopt = no key -> any host.
  std::optional<uint64_t> hash;
  // Panic mode: too few hosts are healthy, so balance across all of them (health ignored).
  bool all_hosts = false;
};

// Picks a usable host (Host::usable(), or any host in panic mode) for a request. One instance per cluster per worker; not thread-safe.
// Hosts are owned by the caller and outlive the balancer; their `healthy` and `active_requests`
// fields may change between picks. Weighted policies honour Host::weight.
class LoadBalancer {
public:
  virtual ~LoadBalancer() = default;
  // nullptr when no host is healthy.
  virtual Host* pick(const LbContext& ctx) = 0;

  // ROUND_ROBIN: smooth weighted round robin. LEAST_REQUEST: power of two random choices by
  // active_requests (weights respected by dividing by weight). RANDOM: weighted random.
  // RING_HASH: consistent hash ring (~100 virtual nodes per weight unit). MAGLEV: Maglev lookup
  // table (size 65537). Hash policies with no key fall back to random.
  static std::unique_ptr<LoadBalancer> create(gateway::v1::Cluster::LbPolicy policy,
                                              std::vector<Host*> hosts, uint64_t seed);
};

// The affinity key for hash-based balancing: a header value, a cookie value or the client IP,
// hashed with a stable 64-bit hash (xxhash-like or FNV-1a). nullopt when the key is absent.
std::optional<uint64_t> computeHash(const gateway::v1::HashPolicy& policy,
                                    const http::RequestHead& head, absl::string_view client_ip);

// XXH64 of `data` (the reference xxHash64 algorithm, byte-for-byte compatible). Stable across
// processes and hosts; computeHash() and the hash rings use it with seed 0.
uint64_t xxHash64(absl::string_view data, uint64_t seed = 0);

} // namespace gw::upstream
