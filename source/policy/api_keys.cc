#include "source/policy/api_keys.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gw::policy {
namespace {

using PlanProto = gateway::v1::UsagePlan;

// Quotas are counted in 32 bits in memory (QuotaCell).
constexpr uint64_t kMaxQuota = 0xfffffffeu;
// Keys one plan's rate buckets hold (a bucket per key and limits).
constexpr uint32_t kRateKeysPerPlan = 4096;

bool upperToken(const std::string& s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (c < 'A' || c > 'Z') {
      return false;
    }
  }
  return true;
}

// Compiles a rate and a quota (of the plan or one of its overrides) at `base`.
void compileLimits(const std::string& plan, const std::string& base, size_t index,
                   const PlanProto::Rate* rate, const PlanProto::Quota* quota, bool serving,
                   PlanLimits& out, std::vector<FieldError>* errors) {
  out.index = index;
  if (rate != nullptr) {
    if (rate->requests_per_second() == 0) {
      errors->push_back({base + ".rate.requests_per_second", "must be at least 1"});
    } else {
      gateway::v1::RateLimitPolicy p;
      p.set_name(absl::StrCat("usage_plan:", plan, index == 0 ? "" : absl::StrCat(":", index)));
      p.set_requests_per_unit(rate->requests_per_second());
      p.set_unit(gateway::v1::RateLimitPolicy::SECOND);
      p.set_burst(rate->burst() != 0 ? rate->burst() : rate->requests_per_second());
      p.mutable_key_by()->set_header("x-api-key-id");  // keyed by the key's id (take(id, now))
      p.set_max_keys(kRateKeysPerPlan);
      std::vector<FieldError> errs;
      out.rate = serving ? RateLimiter::createShared(p, &errs)
                         : RateLimiter::create(p, &errs, /*buckets=*/false);
      for (auto& e : errs) {
        errors->push_back({absl::StrCat(base, ".rate.", e.field), std::move(e.message)});
      }
    }
  }
  if (quota != nullptr) {
    out.has_quota = true;
    out.quota_limit = quota->limit();
    out.period = quota->period();
    if (quota->limit() == 0 || quota->limit() > kMaxQuota) {
      errors->push_back({base + ".quota.limit", absl::StrCat("must be 1..", kMaxQuota)});
    }
    out.time_zone_name = quota->time_zone().empty() ? "UTC" : quota->time_zone();
    if (!absl::LoadTimeZone(out.time_zone_name, &out.time_zone)) {
      errors->push_back({base + ".quota.time_zone",
                         absl::StrCat("unknown time zone '", quota->time_zone(),
                                      "' (an IANA name such as Europe/Berlin)")});
    }
  }
}

} // namespace

std::string quotaCounterKey(absl::string_view plan, absl::string_view key_id, size_t index,
                            int64_t period_start) {
  return absl::StrCat("gw:quota:", plan, ":", key_id, ":", index, ":", period_start);
}

std::string dailyCounterKey(absl::string_view plan, absl::string_view key_id, size_t index,
                            int64_t day_start) {
  return absl::StrCat("gw:usage:", plan, ":", key_id, ":", index, ":", day_start);
}

QuotaCell::Result QuotaCell::take(const QuotaPeriod& period, uint64_t limit) {
  const uint64_t id = periodId(period);
  uint64_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t count = (w >> 32) == id ? (w & 0xffffffffu) : 0;
    if (count >= limit) {
      return {false, count};
    }
    if (word_.compare_exchange_weak(w, (id << 32) | (count + 1), std::memory_order_relaxed)) {
      return {true, count + 1};
    }
  }
}

uint64_t QuotaCell::count(const QuotaPeriod& period) const {
  const uint64_t w = word_.load(std::memory_order_relaxed);
  return (w >> 32) == periodId(period) ? (w & 0xffffffffu) : 0;
}

std::shared_ptr<QuotaCell> QuotaCell::shared(const std::string& name) {
  static std::mutex mu;
  static auto* live = new std::map<std::string, std::weak_ptr<QuotaCell>>();
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = live->begin(); it != live->end();) {
    it = it->second.expired() ? live->erase(it) : std::next(it);
  }
  if (auto it = live->find(name); it != live->end()) {
    if (auto cell = it->second.lock()) {
      return cell;
    }
  }
  auto cell = std::make_shared<QuotaCell>();
  (*live)[name] = cell;
  return cell;
}

const PlanLimits& UsagePlan::limitsFor(absl::string_view route, absl::string_view method) const {
  auto in = [](const std::vector<std::string>& list, absl::string_view v) {
    if (list.empty()) {
      return true;
    }
    for (const auto& x : list) {
      if (x == v) {
        return true;
      }
    }
    return false;
  };
  for (const PlanLimits& o : overrides) {
    if (in(o.routes, route) && in(o.methods, method)) {
      return o;
    }
  }
  return limits;
}

void ApiKeyStore::sha256Into(absl::string_view data, unsigned char (&out)[32]) {
  // The algorithm fetched once and a context per thread: OpenSSL 3's one-shot EVP_Digest looks
  // the algorithm up on every call, which costs more than hashing a key.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                     EVP_MD_CTX_free);
  unsigned int n = 0;
  if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out, &n) != 1 || n != 32) {
    abort();  // SHA-256 is always there: failing here means a broken OpenSSL
  }
}

std::string ApiKeyStore::sha256(absl::string_view key) {
  unsigned char out[32];
  sha256Into(key, out);
  return std::string(reinterpret_cast<const char*>(out), 32);
}

std::string ApiKeyStore::sha256Hex(absl::string_view key) {
  return absl::BytesToHexString(sha256(key));
}

std::shared_ptr<const ApiKeyStore> ApiKeyStore::create(
    const gateway::v1::Config& config, bool serving,
    const absl::flat_hash_set<std::string>& redis_servers, std::vector<FieldError>* errors) {
  auto store = std::shared_ptr<ApiKeyStore>(new ApiKeyStore());
  const size_t errors_before = errors->size();

  for (int i = 0; i < config.usage_plans_size(); i++) {
    const auto& p = config.usage_plans(i);
    const std::string base = absl::StrCat("usage_plans[", i, "]");
    if (p.name().empty()) {
      errors->push_back({base + ".name", "required"});
      continue;
    }
    if (store->plans_by_name_.contains(p.name())) {
      errors->push_back({base + ".name", absl::StrCat("duplicate usage plan '", p.name(), "'")});
      continue;
    }
    auto plan = std::make_unique<UsagePlan>();
    plan->name = p.name();
    plan->redis = p.redis();
    plan->fail_open = p.failure_mode() == PlanProto::ALLOW;
    if (!p.redis().empty() && !redis_servers.contains(p.redis())) {
      errors->push_back({base + ".redis", absl::StrCat("unknown redis server '", p.redis(), "'")});
    }
    if (!p.has_rate() && !p.has_quota() && p.overrides().empty()) {
      errors->push_back({base, "set a rate, a quota or overrides (a plan without limits is a "
                               "key without a plan)"});
    }
    compileLimits(p.name(), base, 0, p.has_rate() ? &p.rate() : nullptr,
                  p.has_quota() ? &p.quota() : nullptr, serving, plan->limits, errors);
    for (int j = 0; j < p.overrides_size(); j++) {
      const auto& o = p.overrides(j);
      const std::string obase = absl::StrCat(base, ".overrides[", j, "]");
      PlanLimits limits;
      for (int m = 0; m < o.methods_size(); m++) {
        if (!upperToken(o.methods(m))) {
          errors->push_back({absl::StrCat(obase, ".methods[", m, "]"),
                             absl::StrCat("'", o.methods(m), "' is not an upper-case method")});
        }
        limits.methods.push_back(o.methods(m));
      }
      limits.routes.assign(o.routes().begin(), o.routes().end());
      if (!o.has_rate() && !o.has_quota()) {
        errors->push_back({obase, "set a rate or a quota"});
      }
      compileLimits(p.name(), obase, j + 1, o.has_rate() ? &o.rate() : nullptr,
                    o.has_quota() ? &o.quota() : nullptr, serving, limits, errors);
      plan->overrides.push_back(std::move(limits));
    }
    store->plans_by_name_[plan->name] = plan.get();
    store->plans_.push_back(std::move(plan));
  }

  for (int i = 0; i < config.api_keys_size(); i++) {
    const auto& k = config.api_keys(i);
    const std::string base = absl::StrCat("api_keys[", i, "]");
    if (k.id().empty()) {
      errors->push_back({base + ".id", "required"});
      continue;
    }
    if (store->by_id_.contains(k.id())) {
      errors->push_back({base + ".id", absl::StrCat("duplicate API key id '", k.id(), "'")});
      continue;
    }
    std::string hex = absl::AsciiStrToLower(k.key_sha256());
    bool is_hex = hex.size() == 64;
    for (char c : hex) {
      is_hex = is_hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
    }
    if (!is_hex) {
      errors->push_back({base + ".key_sha256",
                         "must be the key's SHA-256 as 64 hex digits (never the key itself)"});
      continue;
    }
    const std::string digest = absl::HexStringToBytes(hex);
    if (auto it = store->by_digest_.find(digest); it != store->by_digest_.end()) {
      errors->push_back({base + ".key_sha256",
                         absl::StrCat("the same key as API key '", it->second->id, "'")});
      continue;
    }
    auto e = std::make_unique<ApiKeyEntry>();
    e->id = k.id();
    e->consumer_id = k.consumer().id().empty() ? k.id() : k.consumer().id();
    e->roles.assign(k.consumer().roles().begin(), k.consumer().roles().end());
    e->enabled = !k.has_enabled() || k.enabled();
    if (k.has_expires_at()) {
      e->expires_at = absl::FromUnixSeconds(k.expires_at().seconds()) +
                      absl::Nanoseconds(k.expires_at().nanos());
    }
    if (!k.plan().empty()) {
      auto it = store->plans_by_name_.find(k.plan());
      if (it == store->plans_by_name_.end()) {
        errors->push_back({base + ".plan", absl::StrCat("unknown usage plan '", k.plan(), "'")});
        continue;
      }
      e->plan = it->second;
      if (serving && e->plan->redis.empty()) {
        auto cell = [&](const PlanLimits& l) {
          return l.has_quota ? QuotaCell::shared(absl::StrCat(e->plan->name, "\n", e->id, "\n",
                                                              l.index))
                             : nullptr;
        };
        e->cells.push_back(cell(e->plan->limits));
        for (const PlanLimits& o : e->plan->overrides) {
          e->cells.push_back(cell(o));
        }
      }
    }
    store->by_digest_[digest] = e.get();
    store->by_id_[e->id] = e.get();
    store->keys_.push_back(std::move(e));
  }
  if (errors->size() != errors_before) {
    return nullptr;
  }
  return store;
}

const ApiKeyEntry* ApiKeyStore::find(absl::string_view digest) const {
  auto it = by_digest_.find(digest);
  return it == by_digest_.end() ? nullptr : it->second;
}

const ApiKeyEntry* ApiKeyStore::findById(absl::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

const UsagePlan* ApiKeyStore::plan(absl::string_view name) const {
  auto it = plans_by_name_.find(name);
  return it == plans_by_name_.end() ? nullptr : it->second;
}

} // namespace gw::policy
