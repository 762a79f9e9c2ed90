// `gatewayctl keys` without servers: keys made random with only their hash stored, revocation,
// expiry parsing, the list (no secrets) and the problems readUsage names before any Redis call.
#include <algorithm>
#include <set>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "source/ctl/keys.h"
#include "source/policy/api_keys.h"

namespace gw::ctl {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1796000000);  // 2026-11-30T...

TEST_CASE("keys: create stores only the hash; keys are random and well-formed") {
  gateway::v1::Config cfg;
  std::set<std::string> seen;
  for (int i = 0; i < 20; i++) {
    KeySpec spec;
    spec.consumer = "acme";
    spec.plan = "gold";
    auto k = addKey(cfg, spec, kNow);
    REQUIRE(k.ok());
    CHECK(absl::StartsWith(k->key, "gwk_"));
    CHECK(k->key.size() == 4 + 43);
    CHECK(absl::StartsWith(k->id, "acme-"));
    CHECK(seen.insert(k->key).second);
    const auto& stored = cfg.api_keys(i);
    CHECK(stored.key_sha256() == policy::ApiKeyStore::sha256Hex(k->key));
    CHECK(stored.DebugString().find(k->key) == std::string::npos);
    CHECK_FALSE(stored.has_expires_at());
  }
  KeySpec spec;
  spec.consumer = "bob";
  spec.id = "bob-1";
  spec.roles = {"a", "b"};
  spec.expires_in = absl::Hours(24 * 30);
  REQUIRE(addKey(cfg, spec, kNow).ok());
  CHECK(cfg.api_keys(20).expires_at().seconds() == absl::ToUnixSeconds(kNow) + 30 * 86400);
  CHECK(cfg.api_keys(20).consumer().roles_size() == 2);
  CHECK(addKey(cfg, spec, kNow).status().message() == "a key with id 'bob-1' exists");
  spec.consumer.clear();
  spec.id = "x";
  CHECK(addKey(cfg, spec, kNow).status().message() == "--consumer is required");
}

TEST_CASE("keys: revoke, expiry parsing and the list") {
  gateway::v1::Config cfg;
  KeySpec spec;
  spec.consumer = "acme";
  spec.id = "k1";
  spec.plan = "gold";
  auto made = addKey(cfg, spec, kNow);
  REQUIRE(made.ok());
  spec.id = "k2";
  spec.expires_in = absl::Minutes(5);
  REQUIRE(addKey(cfg, spec, kNow).ok());
  CHECK(revokeKey(cfg, "k1").ok());
  CHECK(cfg.api_keys(0).has_enabled());
  CHECK_FALSE(cfg.api_keys(0).enabled());
  CHECK(revokeKey(cfg, "k1").message() == "key 'k1' is already revoked");
  CHECK(revokeKey(cfg, "zz").message() == "no API key with id 'zz'");

  CHECK(parseExpiry("30d") == absl::Hours(720));
  CHECK(parseExpiry("12h") == absl::Hours(12));
  CHECK(parseExpiry("90m") == absl::Minutes(90));
  CHECK(parseExpiry("3600s") == absl::Hours(1));
  for (const char* bad : {"", "d", "0d", "-1d", "10", "5x", "30s", "1.5d"}) {
    INFO(bad);
    CHECK_FALSE(parseExpiry(bad).has_value());
  }

  const std::string table = renderKeys(cfg, kNow + absl::Minutes(10));
  CHECK(absl::StrContains(table, "ID  CONSUMER  ROLES  PLAN  EXPIRES"));
  CHECK(absl::StrContains(table, "revoked"));
  CHECK(absl::StrContains(table, "expired"));  // k2 expired 5 minutes after kNow
  CHECK_FALSE(absl::StrContains(table, made->key));
  std::string json = toJson(keysDoc(cfg, kNow + absl::Minutes(10)));
  json.erase(std::remove_if(json.begin(), json.end(), [](char c) { return c == ' ' || c == '\n'; }),
             json.end());
  CHECK(absl::StrContains(json, R"("id":"k1")"));
  CHECK(absl::StrContains(json, R"("state":"revoked")"));
  CHECK(absl::StrContains(json, R"("state":"expired")"));
  CHECK_FALSE(absl::StrContains(json, cfg.api_keys(0).key_sha256()));
  CHECK_FALSE(absl::StrContains(table, cfg.api_keys(0).key_sha256()));
}

TEST_CASE("keys usage: the problems are named before Redis is asked") {
  gateway::v1::Config cfg;
  auto* plan = cfg.add_usage_plans();
  plan->set_name("rate-only");
  plan->mutable_rate()->set_requests_per_second(5);
  auto* mem = cfg.add_usage_plans();
  mem->set_name("mem");
  mem->mutable_quota()->set_limit(10);
  for (auto [id, p] : {std::pair{"none", ""}, {"r", "rate-only"}, {"m", "mem"}}) {
    KeySpec spec;
    spec.consumer = "c";
    spec.id = id;
    spec.plan = p;
    REQUIRE(addKey(cfg, spec, kNow).ok());
  }
  CHECK(readUsage(cfg, "nope", kNow).status().message() == "no API key with id 'nope'");
  CHECK(readUsage(cfg, "none", kNow).status().message() == "key 'none' has no usage plan");
  CHECK(readUsage(cfg, "r", kNow).status().message() ==
        "plan 'rate-only' has no quota (only a rate)");
  CHECK_THAT(std::string(readUsage(cfg, "m", kNow).status().message()),
             Catch::Contains("counts its quota in memory on each proxy"));
}

} // namespace
} // namespace gw::ctl
