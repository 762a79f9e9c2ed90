#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/v1/config.pb.h"
#include "source/policy/jwt.h"
#include "source/policy/quota_period.h"
#include "source/policy/rate_limiter.h"

namespace gw::policy {

// The Redis keys of a key's counts (api_key_auth writes them, `gatewayctl keys usage` reads
// them): the quota counter of a period ("gw:quota:<plan>:<key id>:<limits index>:<period start,
// unix seconds>") and, for quotas longer than a day, the count of one day ("gw:usage:...:<day
// start>").
std::string quotaCounterKey(absl::string_view plan, absl::string_view key_id, size_t index,
                            int64_t period_start);
std::string dailyCounterKey(absl::string_view plan, absl::string_view key_id, size_t index,
                            int64_t day_start);

// A quota counter of one key (and plan override) kept in this process: shared by every worker,
// lock-free. One 64-bit word holds the period (its start in minutes since the epoch) and the
// count, so that a new period resets the count in the same compare-and-swap that counts the
// first request of it.
class QuotaCell {
public:
  struct Result {
    bool admitted = false;
    uint64_t count = 0;  // requests counted in the period, this one included when admitted
  };
  // Counts a request in `period` unless `limit` requests were counted already.
  Result take(const QuotaPeriod& period, uint64_t limit);
  // The count of `period` so far.
  uint64_t count(const QuotaPeriod& period) const;

  // The live cell of `name` (plan, key id and limits index), created on first use: a new config
  // that keeps a key on its plan keeps its count. Config time only.
  static std::shared_ptr<QuotaCell> shared(const std::string& name);

private:
  static uint64_t periodId(const QuotaPeriod& p) {
    return static_cast<uint64_t>(p.startUnix() / 60) & 0xffffffffu;
  }
  std::atomic<uint64_t> word_{0};  // periodId << 32 | count
};

// A plan's rate and quota for some requests (the plan's own, or an override's).
struct PlanLimits {
  size_t index = 0;                  // 0: the plan's own; i + 1: overrides[i]
  std::vector<std::string> routes;   // override only: route names (empty: every route)
  std::vector<std::string> methods;  // override only: methods (empty: every method)
  std::shared_ptr<const RateLimiter> rate;  // nullptr: no rate
  bool has_quota = false;
  uint64_t quota_limit = 0;
  gateway::v1::UsagePlan::Quota::Period period = gateway::v1::UsagePlan::Quota::DAY;
  absl::TimeZone time_zone;
  std::string time_zone_name;  // "UTC" or the IANA name
};

struct UsagePlan {
  std::string name;
  std::string redis;  // empty: quotas in memory, per node
  bool fail_open = true;
  PlanLimits limits;
  std::vector<PlanLimits> overrides;
  // The limits for a request: the first override matching its route and method, else the plan's.
  const PlanLimits& limitsFor(absl::string_view route, absl::string_view method) const;
};

struct ApiKeyEntry {
  std::string id;
  std::string consumer_id;
  std::vector<std::string> roles;
  const UsagePlan* plan = nullptr;  // owned by the store; nullptr: no limits
  std::optional<absl::Time> expires_at;
  bool enabled = true;
  // Memory quota cells by PlanLimits::index (plans without redis that have a quota).
  std::vector<std::shared_ptr<QuotaCell>> cells;
};

// The config's API keys and usage plans, compiled once per config and shared by every worker
// (read-only but for the atomics of rate buckets and quota cells). Keys are found by the SHA-256
// of the presented key; the keys themselves are never known to the gateway.
class ApiKeyStore {
public:
  // Errors carry full field paths ("api_keys[2].plan"). `serving`: allocate rate buckets and
  // quota cells (false: checking a config only). `redis_servers`: the valid redis_servers names.
  static std::shared_ptr<const ApiKeyStore> create(
      const gateway::v1::Config& config, bool serving,
      const absl::flat_hash_set<std::string>& redis_servers, std::vector<FieldError>* errors);

  // The key whose SHA-256 (32 raw bytes) is `digest`, or nullptr.
  const ApiKeyEntry* find(absl::string_view digest) const;
  const ApiKeyEntry* findById(absl::string_view id) const;
  const UsagePlan* plan(absl::string_view name) const;
  bool empty() const { return keys_.empty(); }
  const std::vector<std::unique_ptr<ApiKeyEntry>>& keys() const { return keys_; }

  // SHA-256 of `key`, raw (32 bytes) and as lower-case hex.
  static std::string sha256(absl::string_view key);
  static std::string sha256Hex(absl::string_view key);
  // The same into `out`, without allocating (global_ratelimit hashes descriptors with it).
  static void sha256Into(absl::string_view data, unsigned char (&out)[32]);

private:
  std::vector<std::unique_ptr<UsagePlan>> plans_;
  std::vector<std::unique_ptr<ApiKeyEntry>> keys_;
  absl::flat_hash_map<std::string, const ApiKeyEntry*> by_digest_;
  absl::flat_hash_map<std::string, const ApiKeyEntry*> by_id_;
  absl::flat_hash_map<std::string, const UsagePlan*> plans_by_name_;
};

} // namespace gw::policy
