#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/v1/config.pb.h"
#include "source/ctl/output.h"

namespace gw::ctl {

// What `gatewayctl keys create` asks for.
struct KeySpec {
  std::string id;        // empty: "<consumer>-<8 hex>"
  std::string consumer;  // required
  std::string plan;      // may be empty (no limits)
  std::vector<std::string> roles;
  std::optional<absl::Duration> expires_in;
};

struct NewKey {
  std::string id;
  std::string key;  // shown once, never stored
};

// Makes a random key ("gwk_" + 43 base64url characters: 256 random bits) and adds it to `cfg`
// as an ApiKey holding only the key's SHA-256. Errors: an id already taken, no consumer.
absl::StatusOr<NewKey> addKey(gateway::v1::Config& cfg, const KeySpec& spec, absl::Time now);

// Sets the key's enabled to false (it stays listed: revoked). NotFound when no key has `id`.
absl::Status revokeKey(gateway::v1::Config& cfg, const std::string& id);

// "30d", "12h", "90m", "3600s" -> a duration (at least a minute); nullopt when not one.
std::optional<absl::Duration> parseExpiry(const std::string& text);

// The keys of a config as a table: id, consumer, roles, plan, expiry and state (no hashes), and
// the same as a document for -o json|yaml.
std::string renderKeys(const gateway::v1::Config& cfg, absl::Time now);
Doc keysDoc(const gateway::v1::Config& cfg, absl::Time now);

// A key's use: its plan's quota (the plan's own limits), counted in the plan's Redis.
struct KeyUsage {
  std::string id;
  std::string plan;
  std::string period;       // DAY, WEEK or MONTH
  uint64_t limit = 0;
  int64_t period_count = 0;
  int64_t today_count = 0;
  absl::Time period_start, period_end;
  std::string redis;        // the redis_servers entry and address read
};

// Reads a key's counts from the Redis of its plan (the snapshot's redis_servers address, its
// `database`, the password from `password` or the env var of `password_env`). Errors name the
// problem: no such key, no plan, no quota, quota in memory (per proxy, not in Redis), the
// password variable not set, Redis unreachable.
absl::StatusOr<KeyUsage> readUsage(const gateway::v1::Config& cfg, const std::string& id,
                                   absl::Time now);

std::string renderUsage(const KeyUsage& u, absl::Time now);
Doc usageDoc(const KeyUsage& u, absl::Time now);

} // namespace gw::ctl
