#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/v1/config.pb.h"
#include "source/http/message.h"
#include "source/upstream/load_balancer.h"

// Global allocation counter so the tests can assert that pick() never allocates. Replacing the
// global operator new/delete is allowed by the standard; the array and nothrow forms forward here.
namespace {
std::atomic<uint64_t> g_allocations{0};
} // namespace

// Every non-aligned form is replaced so that each new pairs with our delete (ASan checks this).
namespace {
void* countedAlloc(std::size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* countedAllocOrAbort(std::size_t size) {
  if (void* p = countedAlloc(size)) {
    return p;
  }
  std::abort(); // no exceptions in this codebase
}
} // namespace

void* operator new(std::size_t size) { return countedAllocOrAbort(size); }
void* operator new[](std::size_t size) { return countedAllocOrAbort(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return countedAlloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return countedAlloc(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace gw::upstream {
namespace {

using Policy = gateway::v1::Cluster;

// Hosts with stable addresses plus the pointer list a balancer takes.
struct HostSet {
  explicit HostSet(const std::vector<uint32_t>& weights) : hosts(weights.size()) {
    for (size_t i = 0; i < weights.size(); ++i) {
      hosts[i].address = "10.0.0." + std::to_string(i + 1) + ":8080";
      hosts[i].weight = weights[i];
      ptrs.push_back(&hosts[i]);
    }
  }
  size_t indexOf(const Host* host) const {
    for (size_t i = 0; i < hosts.size(); ++i) {
      if (&hosts[i] == host) {
        return i;
      }
    }
    return hosts.size();
  }

  std::vector<Host> hosts;
  std::vector<Host*> ptrs;
};

LbContext withHash(uint64_t hash) {
  LbContext ctx;
  ctx.hash = hash;
  return ctx;
}

// A well-spread stream of request keys.
uint64_t keyHash(int i) { return xxHash64("key-" + std::to_string(i)); }

// ---------------------------------------------------------------------------------------------

TEST_CASE("xxHash64 matches the reference implementation", "[hash]") {
  CHECK(xxHash64("") == 0xEF46DB3751D8E999ULL);
  CHECK(xxHash64("a") == 0xD24EC4F1A98C6E5BULL);
  CHECK(xxHash64("abc") == 0x44BC2CF5AD770999ULL);
  CHECK(xxHash64("Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1ULL);
  CHECK(xxHash64("10.0.0.1") == 0xED16CB68C786E3D7ULL);

  std::string bytes;
  for (int i = 0; i < 200; ++i) {
    bytes.push_back(static_cast<char>(i));
  }
  const absl::string_view view(bytes);
  CHECK(xxHash64(view.substr(0, 45)) == 0x10FDD84D6409ABDFULL);
  CHECK(xxHash64(view.substr(0, 100)) == 0x6AC1E58032166597ULL);
  CHECK(xxHash64(view.substr(0, 200)) == 0x50DC1079B99E879CULL);
  CHECK(xxHash64(view.substr(0, 45), 0x9E3779B97F4A7C15ULL) == 0xF01B03258DD22389ULL);
  CHECK(xxHash64(view.substr(0, 200), 0x9E3779B97F4A7C15ULL) == 0x0FF84AB19A535CBAULL);
}

TEST_CASE("create returns nullptr for an unknown policy", "[lb]") {
  HostSet set({1});
  CHECK(LoadBalancer::create(static_cast<Policy::LbPolicy>(99), set.ptrs, 1) == nullptr);
}

TEST_CASE("every policy returns nullptr with no hosts or no healthy host", "[lb]") {
  const Policy::LbPolicy policies[] = {Policy::ROUND_ROBIN, Policy::LEAST_REQUEST, Policy::RANDOM,
                                       Policy::RING_HASH, Policy::MAGLEV};
  for (const auto policy : policies) {
    INFO("policy " << Policy::LbPolicy_Name(policy));
    auto empty = LoadBalancer::create(policy, {}, 7);
    REQUIRE(empty != nullptr);
    CHECK(empty->pick({}) == nullptr);
    CHECK(empty->pick(withHash(42)) == nullptr);

    HostSet set({1, 2, 3});
    auto lb = LoadBalancer::create(policy, set.ptrs, 7);
    REQUIRE(lb != nullptr);
    CHECK(lb->pick({}) != nullptr);
    for (auto& host : set.hosts) {
      host.healthy = false;
    }
    for (int i = 0; i < 50; ++i) {
      CHECK(lb->pick({}) == nullptr);
      CHECK(lb->pick(withHash(keyHash(i))) == nullptr);
    }
    set.hosts[1].healthy = true;
    for (int i = 0; i < 50; ++i) {
      CHECK(lb->pick({}) == &set.hosts[1]);
      CHECK(lb->pick(withHash(keyHash(i))) == &set.hosts[1]);
    }
  }
}

TEST_CASE("pick never allocates", "[lb]") {
  const Policy::LbPolicy policies[] = {Policy::ROUND_ROBIN, Policy::LEAST_REQUEST, Policy::RANDOM,
                                       Policy::RING_HASH, Policy::MAGLEV};
  for (const auto policy : policies) {
    INFO("policy " << Policy::LbPolicy_Name(policy));
    HostSet set({1, 2, 3, 4});
    set.hosts[2].healthy = false;
    auto lb = LoadBalancer::create(policy, set.ptrs, 3);
    REQUIRE(lb != nullptr);
    const LbContext no_hash;
    const LbContext hashed = withHash(0x1234567890ABCDEFULL);
    int picked = 0;
    const uint64_t before = g_allocations.load();
    for (int i = 0; i < 1000; ++i) {
      picked += lb->pick(no_hash) != nullptr ? 1 : 0;
      picked += lb->pick(hashed) != nullptr ? 1 : 0;
    }
    const uint64_t after = g_allocations.load();
    CHECK(after == before);
    CHECK(picked == 2000);
  }
}

// ---------------------------------------------------------------------------------------------
// ROUND_ROBIN

TEST_CASE("round robin distributes exactly by weight", "[lb][round_robin]") {
  HostSet set({1, 2, 3});
  auto lb = LoadBalancer::create(Policy::ROUND_ROBIN, set.ptrs, 0);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 600; ++i) {
    Host* host = lb->pick({});
    REQUIRE(host != nullptr);
    ++counts[set.indexOf(host)];
  }
  CHECK(counts == std::vector<int>{100, 200, 300});
}

TEST_CASE("round robin is exact in every window of sum(weights) picks", "[lb][round_robin]") {
  HostSet set({1, 2, 3});
  auto lb = LoadBalancer::create(Policy::ROUND_ROBIN, set.ptrs, 0);
  for (int window = 0; window < 50; ++window) {
    std::vector<int> counts(3, 0);
    for (int i = 0; i < 6; ++i) {
      ++counts[set.indexOf(lb->pick({}))];
    }
    CHECK(counts == std::vector<int>{1, 2, 3});
  }
}

TEST_CASE("round robin is smooth", "[lb][round_robin]") {
  SECTION("1:1 alternates") {
    HostSet set({1, 1});
    auto lb = LoadBalancer::create(Policy::ROUND_ROBIN, set.ptrs, 0);
    Host* previous = lb->pick({});
    for (int i = 0; i < 100; ++i) {
      Host* host = lb->pick({});
      CHECK(host != previous);
      previous = host;
    }
  }
  SECTION("5:1:1 gives nginx's interleaved sequence") {
    HostSet set({5, 1, 1});
    auto lb = LoadBalancer::create(Policy::ROUND_ROBIN, set.ptrs, 0);
    // nginx documents {a, a, b, a, c, a, a} for weights 5:1:1; plain weighted RR would give
    // {a, a, a, a, a, b, c}.
    const std::vector<size_t> expected = {0, 0, 1, 0, 2, 0, 0};
    for (int cycle = 0; cycle < 20; ++cycle) {
      std::vector<size_t> got;
      for (int i = 0; i < 7; ++i) {
        got.push_back(set.indexOf(lb->pick({})));
      }
      CHECK(got == expected);
    }
  }
}

TEST_CASE("round robin skips unhealthy hosts and takes them back", "[lb][round_robin]") {
  HostSet set({1, 1, 1});
  auto lb = LoadBalancer::create(Policy::ROUND_ROBIN, set.ptrs, 0);
  set.hosts[1].healthy = false;
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 100; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  CHECK(counts == std::vector<int>{50, 0, 50});

  set.hosts[1].healthy = true;
  counts.assign(3, 0);
  for (int i = 0; i < 300; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  CHECK(counts == std::vector<int>{100, 100, 100});
}

TEST_CASE("round robin treats weight 0 as 1", "[lb][round_robin]") {
  HostSet set({0, 1});
  auto lb = LoadBalancer::create(Policy::ROUND_ROBIN, set.ptrs, 0);
  std::vector<int> counts(2, 0);
  for (int i = 0; i < 100; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  CHECK(counts == std::vector<int>{50, 50});
}

// ---------------------------------------------------------------------------------------------
// LEAST_REQUEST

TEST_CASE("least request with two hosts always picks the less loaded", "[lb][least_request]") {
  HostSet set({1, 1});
  set.hosts[0].active_requests = 100;
  set.hosts[1].active_requests = 0;
  auto lb = LoadBalancer::create(Policy::LEAST_REQUEST, set.ptrs, 11);
  // Two distinct candidates out of two hosts: both are always compared.
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(lb->pick({}) == &set.hosts[1]);
  }
  set.hosts[0].active_requests = 0;
  set.hosts[1].active_requests = 1;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(lb->pick({}) == &set.hosts[0]);
  }
}

TEST_CASE("least request divides load by weight", "[lb][least_request]") {
  HostSet set({10, 1});
  set.hosts[0].active_requests = 10; // 1 per weight unit
  set.hosts[1].active_requests = 2;  // 2 per weight unit
  auto lb = LoadBalancer::create(Policy::LEAST_REQUEST, set.ptrs, 5);
  for (int i = 0; i < 200; ++i) {
    REQUIRE(lb->pick({}) == &set.hosts[0]);
  }
}

TEST_CASE("least request never picks the most loaded of many", "[lb][least_request]") {
  HostSet set({1, 1, 1, 1, 1});
  for (size_t i = 0; i < set.hosts.size(); ++i) {
    set.hosts[i].active_requests = static_cast<uint32_t>(i * 10);
  }
  auto lb = LoadBalancer::create(Policy::LEAST_REQUEST, set.ptrs, 99);
  std::vector<int> counts(5, 0);
  const int picks = 10000;
  for (int i = 0; i < picks; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  // P2C over n = 5: host of rank r (0 = idlest) wins with probability 2 (n - 1 - r) / (n (n - 1)).
  CHECK(counts[4] == 0);
  CHECK(counts[0] == Approx(picks * 0.4).margin(picks * 0.03));
  CHECK(counts[1] == Approx(picks * 0.3).margin(picks * 0.03));
  CHECK(counts[2] == Approx(picks * 0.2).margin(picks * 0.03));
  CHECK(counts[3] == Approx(picks * 0.1).margin(picks * 0.03));
}

TEST_CASE("least request skips unhealthy hosts", "[lb][least_request]") {
  HostSet set({1, 1, 1});
  set.hosts[0].active_requests = 50;
  set.hosts[1].active_requests = 0; // idlest but unhealthy
  set.hosts[2].active_requests = 100;
  set.hosts[1].healthy = false;
  auto lb = LoadBalancer::create(Policy::LEAST_REQUEST, set.ptrs, 3);
  for (int i = 0; i < 200; ++i) {
    REQUIRE(lb->pick({}) == &set.hosts[0]);
  }
  SECTION("a single healthy host is always picked, however loaded") {
    set.hosts[0].healthy = false;
    for (int i = 0; i < 50; ++i) {
      REQUIRE(lb->pick({}) == &set.hosts[2]);
    }
  }
}

TEST_CASE("least request spreads equal load evenly", "[lb][least_request]") {
  HostSet set({1, 1, 1, 1});
  auto lb = LoadBalancer::create(Policy::LEAST_REQUEST, set.ptrs, 1234);
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 8000; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  for (int c : counts) {
    CHECK(c == Approx(2000).margin(200));
  }
}

// ---------------------------------------------------------------------------------------------
// RANDOM

TEST_CASE("random follows weights", "[lb][random]") {
  HostSet set({1, 2, 7});
  auto lb = LoadBalancer::create(Policy::RANDOM, set.ptrs, 42);
  std::vector<int> counts(3, 0);
  const int picks = 10000;
  for (int i = 0; i < picks; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  CHECK(counts[0] == Approx(picks * 0.1).margin(picks * 0.02));
  CHECK(counts[1] == Approx(picks * 0.2).margin(picks * 0.02));
  CHECK(counts[2] == Approx(picks * 0.7).margin(picks * 0.02));
}

TEST_CASE("random skips unhealthy hosts", "[lb][random]") {
  HostSet set({1, 5, 1});
  set.hosts[1].healthy = false;
  auto lb = LoadBalancer::create(Policy::RANDOM, set.ptrs, 8);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 4000; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  CHECK(counts[1] == 0);
  CHECK(counts[0] == Approx(2000).margin(200));
  CHECK(counts[2] == Approx(2000).margin(200));
}

TEST_CASE("random is reproducible from the seed", "[lb][random]") {
  HostSet set({1, 1, 1, 1, 1, 1, 1, 1});
  auto a = LoadBalancer::create(Policy::RANDOM, set.ptrs, 77);
  auto b = LoadBalancer::create(Policy::RANDOM, set.ptrs, 77);
  auto c = LoadBalancer::create(Policy::RANDOM, set.ptrs, 78);
  int same_seed_diffs = 0;
  int other_seed_diffs = 0;
  for (int i = 0; i < 200; ++i) {
    Host* pa = a->pick({});
    same_seed_diffs += pa != b->pick({}) ? 1 : 0;
    other_seed_diffs += pa != c->pick({}) ? 1 : 0;
  }
  CHECK(same_seed_diffs == 0);
  CHECK(other_seed_diffs > 100);
}

// ---------------------------------------------------------------------------------------------
// RING_HASH and MAGLEV share their properties; each test runs for both.

TEST_CASE("hash balancers are consistent", "[lb][hash]") {
  const auto policy = GENERATE(Policy::RING_HASH, Policy::MAGLEV);
  INFO("policy " << Policy::LbPolicy_Name(policy));
  HostSet set({1, 1, 1, 1, 1});
  auto lb = LoadBalancer::create(policy, set.ptrs, 1);
  // A balancer on another worker (other seed) must agree: the mapping depends on the hosts only.
  auto other = LoadBalancer::create(policy, set.ptrs, 999);
  for (int i = 0; i < 2000; ++i) {
    const LbContext ctx = withHash(keyHash(i));
    Host* host = lb->pick(ctx);
    REQUIRE(host != nullptr);
    CHECK(lb->pick(ctx) == host);
    CHECK(other->pick(ctx) == host);
  }
}

TEST_CASE("hash balancers spread keys by weight", "[lb][hash]") {
  const auto policy = GENERATE(Policy::RING_HASH, Policy::MAGLEV);
  INFO("policy " << Policy::LbPolicy_Name(policy));
  SECTION("equal weights") {
    HostSet set({1, 1, 1, 1, 1});
    auto lb = LoadBalancer::create(policy, set.ptrs, 1);
    std::vector<int> counts(5, 0);
    const int keys = 50000;
    for (int i = 0; i < keys; ++i) {
      ++counts[set.indexOf(lb->pick(withHash(keyHash(i))))];
    }
    for (int c : counts) {
      INFO("count " << c);
      // Ring hash with 100 nodes per host deviates by ~10%; maglev is near-exact.
      CHECK(c == Approx(keys / 5).epsilon(0.15));
    }
  }
  SECTION("weights 1:2:3") {
    HostSet set({1, 2, 3});
    auto lb = LoadBalancer::create(policy, set.ptrs, 1);
    std::vector<int> counts(3, 0);
    const int keys = 60000;
    for (int i = 0; i < keys; ++i) {
      ++counts[set.indexOf(lb->pick(withHash(keyHash(i))))];
    }
    INFO("counts " << counts[0] << " " << counts[1] << " " << counts[2]);
    CHECK(counts[0] == Approx(keys / 6).epsilon(0.15));
    CHECK(counts[1] == Approx(keys * 2 / 6).epsilon(0.15));
    CHECK(counts[2] == Approx(keys * 3 / 6).epsilon(0.15));
    CHECK(counts[0] < counts[1]);
    CHECK(counts[1] < counts[2]);
  }
}

TEST_CASE("hash balancers remap only the keys of an unhealthy host", "[lb][hash]") {
  const auto policy = GENERATE(Policy::RING_HASH, Policy::MAGLEV);
  INFO("policy " << Policy::LbPolicy_Name(policy));
  HostSet set({1, 1, 1, 1, 1});
  auto lb = LoadBalancer::create(policy, set.ptrs, 1);
  const int keys = 20000;
  std::vector<Host*> before(keys);
  for (int i = 0; i < keys; ++i) {
    before[i] = lb->pick(withHash(keyHash(i)));
  }

  Host* removed = &set.hosts[2];
  removed->healthy = false;
  int others = 0;
  int others_stayed = 0;
  std::map<Host*, int> moved_to;
  for (int i = 0; i < keys; ++i) {
    Host* now = lb->pick(withHash(keyHash(i)));
    REQUIRE(now != nullptr);
    REQUIRE(now != removed);
    if (before[i] == removed) {
      ++moved_to[now];
    } else {
      ++others;
      others_stayed += now == before[i] ? 1 : 0;
    }
  }
  CHECK(others_stayed > others * 9 / 10);
  // The removed host's keys are spread over the survivors, not dumped on one.
  CHECK(moved_to.size() >= 3);

  // Recovery restores the original mapping exactly.
  removed->healthy = true;
  int restored = 0;
  for (int i = 0; i < keys; ++i) {
    restored += lb->pick(withHash(keyHash(i))) == before[i] ? 1 : 0;
  }
  CHECK(restored == keys);
}

TEST_CASE("hash balancers fall back to random without a key", "[lb][hash]") {
  const auto policy = GENERATE(Policy::RING_HASH, Policy::MAGLEV);
  INFO("policy " << Policy::LbPolicy_Name(policy));
  HostSet set({1, 1, 1, 1});
  set.hosts[3].healthy = false;
  auto lb = LoadBalancer::create(policy, set.ptrs, 5);
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 3000; ++i) {
    ++counts[set.indexOf(lb->pick({}))];
  }
  CHECK(counts[3] == 0);
  for (int i = 0; i < 3; ++i) {
    CHECK(counts[i] == Approx(1000).margin(150));
  }
}

TEST_CASE("hash balancers handle extreme hash values and a single host", "[lb][hash]") {
  const auto policy = GENERATE(Policy::RING_HASH, Policy::MAGLEV);
  INFO("policy " << Policy::LbPolicy_Name(policy));
  HostSet set({1});
  auto lb = LoadBalancer::create(policy, set.ptrs, 5);
  CHECK(lb->pick(withHash(0)) == &set.hosts[0]);
  CHECK(lb->pick(withHash(UINT64_MAX)) == &set.hosts[0]);
  CHECK(lb->pick(withHash(UINT64_MAX - 1)) == &set.hosts[0]);
}

TEST_CASE("ring hash caps the ring for huge weights", "[lb][hash]") {
  HostSet set({100000, 100000, 1});
  auto lb = LoadBalancer::create(Policy::RING_HASH, set.ptrs, 5);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 20000; ++i) {
    ++counts[set.indexOf(lb->pick(withHash(keyHash(i))))];
  }
  CHECK(counts[0] > 8000);
  CHECK(counts[1] > 8000);
  // The light host keeps at least one node, so it stays reachable when the others fail.
  set.hosts[0].healthy = false;
  set.hosts[1].healthy = false;
  CHECK(lb->pick(withHash(keyHash(1))) == &set.hosts[2]);
}

// ---------------------------------------------------------------------------------------------
// computeHash

// ---- shared (process-wide) health flags and panic mode ----------------------------------------

TEST_CASE("every policy skips hosts whose shared flags are set, for either reason", "[lb][shared]") {
  const auto policy = GENERATE(Policy::ROUND_ROBIN, Policy::LEAST_REQUEST, Policy::RANDOM,
                               Policy::RING_HASH, Policy::MAGLEV);
  INFO("policy " << Policy::LbPolicy_Name(policy));
  HostSet set({1, 1, 1});
  HostHealth health[3];
  for (size_t i = 0; i < 3; ++i) {
    set.hosts[i].shared = &health[i];
  }
  auto lb = LoadBalancer::create(policy, set.ptrs, 3);
  health[0].set(HostHealth::kActiveCheckFailed);
  health[2].set(HostHealth::kOutlierEjected);
  for (int i = 0; i < 200; ++i) {
    CHECK(lb->pick({}) == &set.hosts[1]);
    CHECK(lb->pick(withHash(keyHash(i))) == &set.hosts[1]);
  }
  // Both reasons must clear before the host is back.
  health[2].set(HostHealth::kActiveCheckFailed);
  health[2].clear(HostHealth::kOutlierEjected);
  for (int i = 0; i < 50; ++i) {
    CHECK(lb->pick({}) == &set.hosts[1]);
  }
  health[2].clear(HostHealth::kActiveCheckFailed);
  std::map<Host*, int> seen;
  for (int i = 0; i < 300; ++i) {
    ++seen[lb->pick(withHash(keyHash(i)))];
  }
  CHECK(seen.count(&set.hosts[0]) == 0);
  CHECK(seen.count(&set.hosts[2]) == 1);
  // No host usable: nullptr (the request gets 503 no_healthy_upstream)...
  health[1].set(HostHealth::kOutlierEjected);
  health[2].set(HostHealth::kOutlierEjected);
  CHECK(lb->pick({}) == nullptr);
  CHECK(lb->pick(withHash(keyHash(1))) == nullptr);
  // ...unless the cluster is in panic mode: then every host is used.
  LbContext panic;
  panic.all_hosts = true;
  std::map<Host*, int> all;
  for (int i = 0; i < 300; ++i) {
    Host* h = lb->pick(panic);
    REQUIRE(h != nullptr);
    ++all[h];
    panic.hash = keyHash(i);
    REQUIRE(lb->pick(panic) != nullptr);
    panic.hash.reset();
  }
  CHECK(all.size() == 3);
}

TEST_CASE("hash balancers keep stickiness for healthy hosts through shared flags and panic",
          "[lb][shared][hash]") {
  const auto policy = GENERATE(Policy::RING_HASH, Policy::MAGLEV);
  INFO("policy " << Policy::LbPolicy_Name(policy));
  HostSet set({1, 1, 1, 1});
  HostHealth health[4];
  for (size_t i = 0; i < 4; ++i) {
    set.hosts[i].shared = &health[i];
  }
  auto lb = LoadBalancer::create(policy, set.ptrs, 5);
  const int keys = 5000;
  std::vector<Host*> before(keys);
  for (int i = 0; i < keys; ++i) {
    before[i] = lb->pick(withHash(keyHash(i)));
  }
  health[1].set(HostHealth::kOutlierEjected);
  for (int i = 0; i < keys; ++i) {
    Host* now = lb->pick(withHash(keyHash(i)));
    REQUIRE(now != &set.hosts[1]);
    if (before[i] != &set.hosts[1]) {
      REQUIRE(now == before[i]);  // keys of healthy hosts never move
    }
  }
  // Panic mode maps every key as if all hosts were healthy: the original mapping.
  LbContext panic;
  panic.all_hosts = true;
  for (int i = 0; i < keys; ++i) {
    panic.hash = keyHash(i);
    REQUIRE(lb->pick(panic) == before[i]);
  }
  health[1].clear(HostHealth::kOutlierEjected);
  for (int i = 0; i < keys; ++i) {
    REQUIRE(lb->pick(withHash(keyHash(i))) == before[i]);
  }
}

gateway::v1::HashPolicy headerPolicy(const std::string& name) {
  gateway::v1::HashPolicy policy;
  policy.set_header(name);
  return policy;
}

gateway::v1::HashPolicy cookiePolicy(const std::string& name) {
  gateway::v1::HashPolicy policy;
  policy.set_cookie(name);
  return policy;
}

TEST_CASE("computeHash: header", "[hash][compute]") {
  http::RequestHead head;
  head.headers.add("x-user-id", "alice");
  head.headers.add("x-user-id", "bob");
  head.headers.add("x-empty", "");

  const auto policy = headerPolicy("X-User-ID");
  const auto hash = computeHash(policy, head, "192.0.2.1");
  REQUIRE(hash.has_value());
  CHECK(*hash == xxHash64("alice")); // first value, stable hash
  CHECK(computeHash(headerPolicy("x-user-id"), head, "") == hash);

  http::RequestHead other;
  other.headers.add("x-user-id", "carol");
  REQUIRE(computeHash(policy, other, "").has_value());
  CHECK(*computeHash(policy, other, "") != *hash);

  CHECK(computeHash(headerPolicy("x-missing"), head, "192.0.2.1") == std::nullopt);
  CHECK(computeHash(headerPolicy("x-empty"), head, "") == xxHash64(""));
}

TEST_CASE("computeHash: cookie", "[hash][compute]") {
  http::RequestHead head;
  head.headers.add("accept", "*/*");
  head.headers.add("cookie", "theme=dark; sessionid=nope");
  head.headers.add("cookie", "lang=en;  session=abc123 ;x=1");

  const auto hash = computeHash(cookiePolicy("session"), head, "");
  REQUIRE(hash.has_value());
  CHECK(*hash == xxHash64("abc123"));
  CHECK(computeHash(cookiePolicy("theme"), head, "") == xxHash64("dark"));
  CHECK(computeHash(cookiePolicy("x"), head, "") == xxHash64("1"));
  CHECK(computeHash(cookiePolicy("sessionid"), head, "") == xxHash64("nope"));
  // Cookie names are case-sensitive.
  CHECK(computeHash(cookiePolicy("Session"), head, "") == std::nullopt);
  CHECK(computeHash(cookiePolicy("absent"), head, "10.0.0.1") == std::nullopt);
  CHECK(computeHash(cookiePolicy(""), head, "") == std::nullopt);

  http::RequestHead quoted;
  quoted.headers.add("cookie", "flag; session=\"abc123\"");
  CHECK(computeHash(cookiePolicy("session"), quoted, "") == hash);

  http::RequestHead none;
  CHECK(computeHash(cookiePolicy("session"), none, "") == std::nullopt);
}

TEST_CASE("computeHash: source ip", "[hash][compute]") {
  gateway::v1::HashPolicy policy;
  policy.set_source_ip(true);
  http::RequestHead head;
  CHECK(computeHash(policy, head, "10.0.0.1") == xxHash64("10.0.0.1"));
  CHECK(computeHash(policy, head, "10.0.0.1") != computeHash(policy, head, "10.0.0.2"));
  CHECK(computeHash(policy, head, "") == std::nullopt);

  gateway::v1::HashPolicy disabled;
  disabled.set_source_ip(false);
  CHECK(computeHash(disabled, head, "10.0.0.1") == std::nullopt);
}

TEST_CASE("computeHash: no policy source", "[hash][compute]") {
  http::RequestHead head;
  head.headers.add("cookie", "a=1");
  CHECK(computeHash(gateway::v1::HashPolicy(), head, "10.0.0.1") == std::nullopt);
}

TEST_CASE("computeHash feeds the hash balancers end to end", "[hash][compute]") {
  HostSet set({1, 1, 1});
  auto lb = LoadBalancer::create(Policy::MAGLEV, set.ptrs, 1);
  const auto policy = cookiePolicy("session");
  http::RequestHead a;
  a.headers.add("cookie", "session=user-1");
  http::RequestHead b;
  b.headers.add("cookie", "other=1; session=user-1");
  LbContext ctx_a;
  ctx_a.hash = computeHash(policy, a, "");
  LbContext ctx_b;
  ctx_b.hash = computeHash(policy, b, "");
  CHECK(lb->pick(ctx_a) == lb->pick(ctx_b));
}

} // namespace
} // namespace gw::upstream
