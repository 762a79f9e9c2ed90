#include "source/upstream/load_balancer.h"

#include <algorithm>
#include <string>
#include <utility>

namespace gw::upstream {
namespace {

// ---------------------------------------------------------------------------------------------
// xxHash64 primitives.

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ULL;

inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// Little-endian loads independent of the host byte order; compilers fold these into one mov.
inline uint64_t readLe64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

inline uint32_t readLe32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

inline uint64_t xxRound(uint64_t acc, uint64_t input) {
  acc += input * kPrime2;
  acc = rotl64(acc, 31);
  return acc * kPrime1;
}

inline uint64_t xxMergeRound(uint64_t acc, uint64_t val) {
  acc ^= xxRound(0, val);
  return acc * kPrime1 + kPrime4;
}

// ---------------------------------------------------------------------------------------------
// PRNG: splitmix64. One 64-bit word of state, passes BigCrush, no allocation, no syscalls.

class Prng {
public:
  explicit Prng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias < n / 2^64, negligible here).
  uint64_t bounded(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

private:
  uint64_t state_;
};

// A configured weight of 0 is treated as 1 (the config default); weights never disable a host.
inline uint64_t effectiveWeight(const Host& host) { return host.weight == 0 ? 1 : host.weight; }

// In panic mode (`all`) every host is usable, as Envoy balances when too few are healthy.
inline bool usable(const Host& host, bool all) { return all || host.usable(); }

bool anyHealthy(const std::vector<Host*>& hosts, bool all) {
  for (const Host* host : hosts) {
    if (usable(*host, all)) {
      return true;
    }
  }
  return false;
}

// Weighted random choice among healthy hosts. O(n), no allocation.
Host* pickWeightedRandom(const std::vector<Host*>& hosts, Prng& prng, bool all) {
  uint64_t total = 0;
  for (const Host* host : hosts) {
    if (usable(*host, all)) {
      total += effectiveWeight(*host);
    }
  }
  if (total == 0) {
    return nullptr;
  }
  uint64_t r = prng.bounded(total);
  for (Host* host : hosts) {
    if (!usable(*host, all)) {
      continue;
    }
    const uint64_t w = effectiveWeight(*host);
    if (r < w) {
      return host;
    }
    r -= w;
  }
  return nullptr; // Unreachable: the weights of the healthy hosts sum to `total`.
}

// ---------------------------------------------------------------------------------------------
// ROUND_ROBIN: nginx's smooth weighted round robin. Each pick adds every healthy host's weight
// to its current weight, picks the largest and subtracts the total from the winner. Over any
// window of sum(weights) picks every host is chosen exactly weight times, interleaved.

class RoundRobinLoadBalancer : public LoadBalancer {
public:
  explicit RoundRobinLoadBalancer(std::vector<Host*>&& hosts)
      : hosts_(std::move(hosts)), current_(hosts_.size(), 0) {}

  Host* pick(const LbContext& ctx) override {
    const bool all = ctx.all_hosts;
    int64_t total = 0;
    size_t best = hosts_.size();
    for (size_t i = 0; i < hosts_.size(); ++i) {
      const Host& host = *hosts_[i];
      if (!usable(host, all)) {
        // Forget accumulated credit so a recovering host does not burst.
        current_[i] = 0;
        continue;
      }
      const int64_t w = static_cast<int64_t>(effectiveWeight(host));
      current_[i] += w;
      total += w;
      if (best == hosts_.size() || current_[i] > current_[best]) {
        best = i;
      }
    }
    if (best == hosts_.size()) {
      return nullptr;
    }
    current_[best] -= total;
    return hosts_[best];
  }

private:
  const std::vector<Host*> hosts_;
  std::vector<int64_t> current_;
};

// ---------------------------------------------------------------------------------------------
// LEAST_REQUEST: power of two random choices. Two distinct healthy hosts are drawn uniformly and
// the one with the lower active_requests / weight wins (ties go to the first draw, itself random).

class LeastRequestLoadBalancer : public LoadBalancer {
public:
  LeastRequestLoadBalancer(std::vector<Host*>&& hosts, uint64_t seed)
      : hosts_(std::move(hosts)), prng_(seed) {
    healthy_.reserve(hosts_.size());
  }

  Host* pick(const LbContext& ctx) override {
    healthy_.clear(); // Capacity reserved at construction: no allocation.
    for (uint32_t i = 0; i < hosts_.size(); ++i) {
      if (usable(*hosts_[i], ctx.all_hosts)) {
        healthy_.push_back(i);
      }
    }
    const uint64_t n = healthy_.size();
    if (n == 0) {
      return nullptr;
    }
    if (n == 1) {
      return hosts_[healthy_[0]];
    }
    const uint64_t a = prng_.bounded(n);
    uint64_t b = prng_.bounded(n - 1);
    if (b >= a) {
      ++b;
    }
    Host* first = hosts_[healthy_[a]];
    Host* second = hosts_[healthy_[b]];
    // first.active / first.weight <= second.active / second.weight, without division.
    const uint64_t lhs = static_cast<uint64_t>(first->active_requests) * effectiveWeight(*second);
    const uint64_t rhs = static_cast<uint64_t>(second->active_requests) * effectiveWeight(*first);
    return lhs <= rhs ? first : second;
  }

private:
  const std::vector<Host*> hosts_;
  std::vector<uint32_t> healthy_; // scratch, reused by every pick
  Prng prng_;
};

// ---------------------------------------------------------------------------------------------
// RANDOM: weighted random among healthy hosts.

class RandomLoadBalancer : public LoadBalancer {
public:
  RandomLoadBalancer(std::vector<Host*>&& hosts, uint64_t seed)
      : hosts_(std::move(hosts)), prng_(seed) {}

  Host* pick(const LbContext& ctx) override {
    return pickWeightedRandom(hosts_, prng_, ctx.all_hosts);
  }

private:
  const std::vector<Host*> hosts_;
  Prng prng_;
};

// ---------------------------------------------------------------------------------------------
// RING_HASH: a consistent hash ring (Karger et al.). Each host gets ~100 virtual nodes per unit of
// weight, placed at xxHash64("<address>_<n>"). A key maps to the first node clockwise of its hash;
// unhealthy hosts are skipped by walking further clockwise, so only their keys move.

constexpr uint64_t kVirtualNodesPerWeight = 100;
// Bounds memory (12 bytes per node) when weights are large: ~3 MiB per cluster per worker.
constexpr uint64_t kMaxRingSize = 1 << 18;

class RingHashLoadBalancer : public LoadBalancer {
public:
  RingHashLoadBalancer(std::vector<Host*>&& hosts, uint64_t seed)
      : hosts_(std::move(hosts)), prng_(seed) {
    buildRing();
  }

  Host* pick(const LbContext& ctx) override {
    if (!ctx.hash.has_value()) {
      return pickWeightedRandom(hosts_, prng_, ctx.all_hosts);
    }
    if (ring_hashes_.empty() || !anyHealthy(hosts_, ctx.all_hosts)) {
      return nullptr;
    }
    const size_t size = ring_hashes_.size();
    size_t index =
        static_cast<size_t>(std::lower_bound(ring_hashes_.begin(), ring_hashes_.end(), *ctx.hash) -
                            ring_hashes_.begin());
    if (index == size) {
      index = 0;
    }
    for (size_t step = 0; step < size; ++step) {
      Host* host = hosts_[ring_hosts_[index]];
      if (usable(*host, ctx.all_hosts)) {
        return host;
      }
      index = index + 1 == size ? 0 : index + 1;
    }
    return nullptr; // Unreachable: every host owns at least one node.
  }

private:
  void buildRing() {
    uint64_t total_weight = 0;
    for (const Host* host : hosts_) {
      total_weight += effectiveWeight(*host);
    }
    if (total_weight == 0) {
      return;
    }
    const uint64_t wanted = total_weight * kVirtualNodesPerWeight;
    const double scale = wanted > kMaxRingSize
                             ? static_cast<double>(kMaxRingSize) / static_cast<double>(wanted)
                             : 1.0;

    std::vector<std::pair<uint64_t, uint32_t>> nodes;
    nodes.reserve(std::min<uint64_t>(wanted, kMaxRingSize + hosts_.size()));
    std::string key;
    for (uint32_t i = 0; i < hosts_.size(); ++i) {
      const Host& host = *hosts_[i];
      const uint64_t count = std::max<uint64_t>(
          1, static_cast<uint64_t>(
                 static_cast<double>(effectiveWeight(host) * kVirtualNodesPerWeight) * scale));
      for (uint64_t n = 0; n < count; ++n) {
        key.assign(host.address);
        key.push_back('_');
        key.append(std::to_string(n));
        nodes.emplace_back(xxHash64(key), i);
      }
    }
    // Sorting by (hash, host index) keeps the ring deterministic even on hash collisions.
    std::sort(nodes.begin(), nodes.end());
    ring_hashes_.reserve(nodes.size());
    ring_hosts_.reserve(nodes.size());
    for (const auto& node : nodes) {
      ring_hashes_.push_back(node.first);
      ring_hosts_.push_back(node.second);
    }
  }

  const std::vector<Host*> hosts_;
  // Structure of arrays: the binary search touches only the hashes.
  std::vector<uint64_t> ring_hashes_;
  std::vector<uint32_t> ring_hosts_;
  Prng prng_;
};

// ---------------------------------------------------------------------------------------------
// MAGLEV: Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer" (NSDI
// 2016), section 3.4. Each host walks its own permutation of the M slots (offset + j * skip) and
// claims the next free slot on its turn. Weights: a host takes a turn in round r only while the
// turns it has taken are fewer than r * weight / max_weight, so the heaviest host claims one slot
// per round and the others proportionally fewer. A key maps to table[hash % M]; an unhealthy
// host's slots fall through to the next healthy entry of the table, leaving every other key alone.

constexpr uint64_t kMaglevTableSize = 65537; // prime, as the paper requires

class MaglevLoadBalancer : public LoadBalancer {
public:
  MaglevLoadBalancer(std::vector<Host*>&& hosts, uint64_t seed)
      : hosts_(std::move(hosts)), prng_(seed) {
    buildTable();
  }

  Host* pick(const LbContext& ctx) override {
    if (!ctx.hash.has_value() || table_.empty()) {
      return pickWeightedRandom(hosts_, prng_, ctx.all_hosts);
    }
    if (!anyHealthy(hosts_, ctx.all_hosts)) {
      return nullptr;
    }
    uint64_t slot = *ctx.hash % kMaglevTableSize;
    for (uint64_t step = 0; step < kMaglevTableSize; ++step) {
      Host* host = hosts_[table_[slot]];
      if (usable(*host, ctx.all_hosts)) {
        return host;
      }
      slot = slot + 1 == kMaglevTableSize ? 0 : slot + 1;
    }
    // Only possible with more hosts than slots: every healthy host was left without a slot.
    return pickWeightedRandom(hosts_, prng_, ctx.all_hosts);
  }

private:
  void buildTable() {
    const size_t n = hosts_.size();
    if (n == 0) {
      return;
    }
    constexpr uint32_t kEmpty = UINT32_MAX;
    std::vector<uint64_t> position(n); // current permutation slot of each host
    std::vector<uint64_t> skip(n);
    std::vector<uint64_t> turns(n, 0);
    std::vector<uint64_t> weight(n);
    uint64_t max_weight = 0;
    for (size_t i = 0; i < n; ++i) {
      const absl::string_view name = hosts_[i]->address;
      position[i] = xxHash64(name, 0) % kMaglevTableSize;
      skip[i] = xxHash64(name, 1) % (kMaglevTableSize - 1) + 1;
      weight[i] = effectiveWeight(*hosts_[i]);
      max_weight = std::max(max_weight, weight[i]);
    }

    table_.assign(kMaglevTableSize, kEmpty);
    uint64_t filled = 0;
    for (uint64_t round = 1; filled < kMaglevTableSize; ++round) {
      for (size_t i = 0; i < n && filled < kMaglevTableSize; ++i) {
        // turns / round < weight / max_weight, in integers.
        if (turns[i] * max_weight >= round * weight[i]) {
          continue;
        }
        ++turns[i];
        while (table_[position[i]] != kEmpty) {
          position[i] = (position[i] + skip[i]) % kMaglevTableSize;
        }
        table_[position[i]] = static_cast<uint32_t>(i);
        position[i] = (position[i] + skip[i]) % kMaglevTableSize;
        ++filled;
      }
    }
  }

  const std::vector<Host*> hosts_;
  std::vector<uint32_t> table_; // slot -> index into hosts_
  Prng prng_;
};

// Cookie value named `name` in one `cookie` header value ("a=1; b=2"), or nullopt.
std::optional<absl::string_view> findCookie(absl::string_view header, absl::string_view name) {
  auto trim = [](absl::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
      s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
      s.remove_suffix(1);
    }
    return s;
  };
  while (!header.empty()) {
    const size_t semi = header.find(';');
    absl::string_view pair = header.substr(0, semi);
    header = semi == absl::string_view::npos ? absl::string_view() : header.substr(semi + 1);
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) {
      continue;
    }
    if (trim(pair.substr(0, eq)) != name) {
      continue;
    }
    absl::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

} // namespace

uint64_t xxHash64(absl::string_view data, uint64_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t len = data.size();
  const unsigned char* const end = p + len;
  uint64_t h;

  if (len >= 32) {
    const unsigned char* const limit = end - 32;
    uint64_t v1 = seed + kPrime1 + kPrime2;
    uint64_t v2 = seed + kPrime2;
    uint64_t v3 = seed;
    uint64_t v4 = seed - kPrime1;
    do {
      v1 = xxRound(v1, readLe64(p));
      v2 = xxRound(v2, readLe64(p + 8));
      v3 = xxRound(v3, readLe64(p + 16));
      v4 = xxRound(v4, readLe64(p + 24));
      p += 32;
    } while (p <= limit);
    h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    h = xxMergeRound(h, v1);
    h = xxMergeRound(h, v2);
    h = xxMergeRound(h, v3);
    h = xxMergeRound(h, v4);
  } else {
    h = seed + kPrime5;
  }

  h += static_cast<uint64_t>(len);

  while (end - p >= 8) {
    h ^= xxRound(0, readLe64(p));
    h = rotl64(h, 27) * kPrime1 + kPrime4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= static_cast<uint64_t>(readLe32(p)) * kPrime1;
    h = rotl64(h, 23) * kPrime2 + kPrime3;
    p += 4;
  }
  while (p < end) {
    h ^= static_cast<uint64_t>(*p) * kPrime5;
    h = rotl64(h, 11) * kPrime1;
    ++p;
  }

  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  h *= kPrime3;
  h ^= h >> 32;
  return h;
}

std::unique_ptr<LoadBalancer> LoadBalancer::create(gateway::v1::Cluster::LbPolicy policy,
                                                   std::vector<Host*> hosts, uint64_t seed) {
  switch (policy) {
  case gateway::v1::Cluster::ROUND_ROBIN:
    return std::make_unique<RoundRobinLoadBalancer>(std::move(hosts));
  case gateway::v1::Cluster::LEAST_REQUEST:
    return std::make_unique<LeastRequestLoadBalancer>(std::move(hosts), seed);
  case gateway::v1::Cluster::RANDOM:
    return std::make_unique<RandomLoadBalancer>(std::move(hosts), seed);
  case gateway::v1::Cluster::RING_HASH:
    return std::make_unique<RingHashLoadBalancer>(std::move(hosts), seed);
  case gateway::v1::Cluster::MAGLEV:
    return std::make_unique<MaglevLoadBalancer>(std::move(hosts), seed);
  default:
    // An enum value this build does not know (config validation should have rejected it).
    return nullptr;
  }
}

std::optional<uint64_t> computeHash(const gateway::v1::HashPolicy& policy,
                                    const http::RequestHead& head, absl::string_view client_ip) {
  switch (policy.source_case()) {
  case gateway::v1::HashPolicy::kHeader: {
    const std::string* value;
    const std::string& configured = policy.header();
    if (std::any_of(configured.begin(), configured.end(),
                    [](char c) { return c >= 'A' && c <= 'Z'; })) {
      std::string name = configured;
      toLowerAscii(name);
      value = head.headers.get(name);
    } else {
      value = head.headers.get(configured);
    }
    if (value == nullptr) {
      return std::nullopt;
    }
    return xxHash64(*value);
  }
  case gateway::v1::HashPolicy::kCookie: {
    const std::string& name = policy.cookie();
    if (name.empty()) {
      return std::nullopt;
    }
    for (const auto& entry : head.headers.entries()) {
      if (entry.first != "cookie") {
        continue;
      }
      if (auto value = findCookie(entry.second, name); value.has_value()) {
        return xxHash64(*value);
      }
    }
    return std::nullopt;
  }
  case gateway::v1::HashPolicy::kSourceIp:
    if (!policy.source_ip() || client_ip.empty()) {
      return std::nullopt;
    }
    return xxHash64(client_ip);
  default:
    return std::nullopt;
  }
}

} // namespace gw::upstream
