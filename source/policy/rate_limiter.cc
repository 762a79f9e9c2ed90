#include "source/policy/rate_limiter.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "source/common/header_map.h"

namespace gw::policy {
namespace {

constexpr uint32_t kDefaultMaxKeys = 100000;
constexpr uint32_t kMaxMaxKeys = 10000000;
constexpr uint32_t kMaxBurst = 100000000;
constexpr int64_t kMaxTauNs = 100LL * 365 * 86400 * 1000000000;  // 100 years
constexpr int kProbe = 8;

std::string formatPeriod(int64_t ns) {
  if (ns % 1000000000 == 0) {
    return absl::StrCat(ns / 1000000000, "s");
  }
  return absl::StrCat(ns / 1000000, "ms");
}

} // namespace

std::shared_ptr<const RateLimiter> RateLimiter::create(const gateway::v1::RateLimitPolicy& proto,
                                                       std::vector<FieldError>* errors,
                                                       bool buckets) {
  const size_t errors_before = errors->size();
  auto err = [&](std::string field, std::string message) {
    errors->push_back({std::move(field), std::move(message)});
  };
  std::shared_ptr<RateLimiter> r(new RateLimiter());
  r->name_ = proto.name();

  uint64_t tokens = 0;
  int64_t period_ns = 0;
  const bool per_unit = proto.requests_per_unit() > 0;
  const bool per_fill = proto.tokens_per_fill() > 0 || proto.has_fill_interval();
  if (per_unit && per_fill) {
    err("tokens_per_fill", "set either requests_per_unit (+ unit) or tokens_per_fill + "
                           "fill_interval, not both");
  } else if (per_unit) {
    tokens = proto.requests_per_unit();
    switch (proto.unit()) {
    case gateway::v1::RateLimitPolicy::SECOND: period_ns = 1000000000LL; break;
    case gateway::v1::RateLimitPolicy::MINUTE: period_ns = 60LL * 1000000000LL; break;
    case gateway::v1::RateLimitPolicy::HOUR: period_ns = 3600LL * 1000000000LL; break;
    default: err("unit", absl::StrCat("unknown unit ", proto.unit()));
    }
  } else if (per_fill) {
    tokens = proto.tokens_per_fill();
    if (tokens == 0) {
      err("tokens_per_fill", "must be at least 1");
    }
    const auto& d = proto.fill_interval();
    if (!proto.has_fill_interval()) {
      err("fill_interval", "required with tokens_per_fill");
    } else if (d.seconds() < 0 || d.nanos() < 0 || (d.seconds() == 0 && d.nanos() < 1000000)) {
      err("fill_interval", "must be at least 1ms");
    } else if (d.seconds() > 86400) {
      err("fill_interval", "must be at most 86400s");
    } else {
      period_ns = d.seconds() * 1000000000LL + d.nanos();
    }
  } else {
    err("requests_per_unit", "a rate is required: requests_per_unit (+ unit) or "
                             "tokens_per_fill + fill_interval (zero allows nothing)");
  }
  if (tokens > 0 && period_ns > 0) {
    r->interval_ns_ = std::max<int64_t>(1, period_ns / static_cast<int64_t>(tokens));
    r->rate_tokens_ = tokens;
    r->rate_period_ns_ = period_ns;
  }
  r->burst_ = proto.burst() > 0 ? proto.burst() : static_cast<uint32_t>(std::max<uint64_t>(tokens, 1));
  if (r->burst_ > kMaxBurst) {
    err("burst", proto.burst() > 0
                     ? absl::StrCat("must be at most ", kMaxBurst)
                     : absl::StrCat("defaults to the rate's token count (", r->burst_,
                                    "), which must be at most ", kMaxBurst, ": set burst"));
  }
  // The bucket's depth in time (burst x the interval between tokens) is kept in int64
  // nanoseconds next to the clock: bound it so that no sum of the two can overflow.
  const __int128 tau = static_cast<__int128>(r->interval_ns_) * r->burst_;
  if (tau > kMaxTauNs) {
    err("burst", absl::StrCat("a burst of ", r->burst_, " at one token every ",
                              formatPeriod(r->interval_ns_),
                              " takes more than 100 years to refill"));
  } else {
    r->tau_ns_ = static_cast<int64_t>(tau);
  }

  switch (proto.key_by().source_case()) {
  case gateway::v1::RateLimitKey::kClientIp:
    if (!proto.key_by().client_ip()) {
      err("key_by.client_ip", "must be true when set");
    }
    r->key_kind_ = KeyKind::ClientIp;
    break;
  case gateway::v1::RateLimitKey::kHeader: {
    const std::string& h = proto.key_by().header();
    if (!isToken(h)) {
      err("key_by.header", absl::StrCat("invalid header name '", h, "'"));
    }
    r->key_kind_ = KeyKind::Header;
    r->key_header_ = absl::AsciiStrToLower(h);
    break;
  }
  case gateway::v1::RateLimitKey::SOURCE_NOT_SET:
    break;
  }

  const uint32_t max_keys = proto.max_keys() > 0 ? proto.max_keys() : kDefaultMaxKeys;
  if (max_keys > kMaxMaxKeys) {
    err("max_keys", absl::StrCat("must be at most ", kMaxMaxKeys));
  }
  if (proto.status() != 0 && (proto.status() < 400 || proto.status() > 599)) {
    err("status", "must be 400..599");
  }
  r->status_ = proto.status() != 0 ? static_cast<int>(proto.status()) : 429;
  r->response_headers_ = proto.response_headers();

  if (errors->size() != errors_before) {
    return nullptr;
  }
  uint64_t n = 1;
  if (r->key_kind_ != KeyKind::None) {
    n = 16;
    while (n < max_keys) {
      n <<= 1;
    }
  }
  r->mask_ = n - 1;
  if (buckets) {
    r->table_.reset(new Slot[n]);
  }
  return r;
}

std::shared_ptr<const RateLimiter> RateLimiter::createShared(
    const gateway::v1::RateLimitPolicy& proto, std::vector<FieldError>* errors) {
  // Config-time only (never on the request path): a registry of live limiters by settings.
  static std::mutex mu;
  static auto* live = new std::map<std::string, std::weak_ptr<const RateLimiter>>();
  const std::string key = absl::StrCat(proto.name(), "\n", proto.SerializeAsString());
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = live->begin(); it != live->end();) {
      it = it->second.expired() ? live->erase(it) : std::next(it);
    }
    if (auto it = live->find(key); it != live->end()) {
      if (auto existing = it->second.lock()) {
        return existing;
      }
    }
  }
  auto created = create(proto, errors);
  if (created == nullptr) {
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = live->find(key); it != live->end()) {
    if (auto existing = it->second.lock()) {
      return existing;  // another thread created it meanwhile
    }
  }
  (*live)[key] = created;
  return created;
}

std::string RateLimiter::describeRate() const {
  return absl::StrCat(rate_tokens_, " per ", formatPeriod(rate_period_ns_), ", burst ", burst_);
}

uint64_t RateLimiter::hashOf(absl::string_view key) const {
  return absl::Hash<absl::string_view>{}(key) | 1;  // never 0 (0 marks an empty slot)
}

RateLimiter::Slot* RateLimiter::findSlot(uint64_t h) const {
  for (int i = 0; i < kProbe; i++) {
    Slot& s = table_[(h + i) & mask_];
    const uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == h) {
      return &s;
    }
    if (k == 0) {
      return nullptr;  // keys are placed in the first free slot: no match further on
    }
  }
  return nullptr;
}

RateLimiter::Slot& RateLimiter::slotFor(absl::string_view key, int64_t now_ns) const {
  if (key_kind_ == KeyKind::None) {
    return table_[0];
  }
  const uint64_t h = hashOf(key);
  for (int attempt = 0; attempt < 2; attempt++) {
    Slot* empty = nullptr;
    Slot* idle = nullptr;
    Slot* victim = nullptr;
    int64_t victim_tat = INT64_MAX;
    uint64_t idle_key = 0, victim_key = 0;
    for (int i = 0; i < kProbe; i++) {
      Slot& s = table_[(h + i) & mask_];
      const uint64_t k = s.key.load(std::memory_order_acquire);
      if (k == h) {
        return s;
      }
      if (k == 0) {
        empty = &s;
        break;
      }
      const int64_t tat = s.tat.load(std::memory_order_relaxed);
      if (tat <= now_ns && idle == nullptr) {
        idle = &s;
        idle_key = k;
      }
      if (tat < victim_tat) {
        victim_tat = tat;
        victim = &s;
        victim_key = k;
      }
    }
    uint64_t expected = 0;
    if (empty != nullptr) {
      if (empty->key.compare_exchange_strong(expected, h, std::memory_order_acq_rel) ||
          expected == h) {
        return *empty;
      }
      continue;  // someone else took it: look again
    }
    Slot* take = idle != nullptr ? idle : victim;
    expected = idle != nullptr ? idle_key : victim_key;
    if (take->key.compare_exchange_strong(expected, h, std::memory_order_acq_rel) ||
        expected == h) {
      return *take;
    }
  }
  // Heavy contention on this window: share the key's home slot (approximation).
  return table_[h & mask_];
}

RateLimiter::Decision RateLimiter::take(absl::string_view key, int64_t now_ns) const {
  Slot& s = slotFor(key, now_ns);
  int64_t old = s.tat.load(std::memory_order_relaxed);
  while (true) {
    const int64_t tat = std::max(old, now_ns);
    const int64_t next = tat + interval_ns_;
    if (next - now_ns > tau_ns_) {
      return {false, 0, next - tau_ns_ - now_ns};
    }
    if (s.tat.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
      return {true, static_cast<uint32_t>((now_ns + tau_ns_ - next) / interval_ns_), 0};
    }
  }
}

RateLimiter::Decision RateLimiter::peek(absl::string_view key, int64_t now_ns) const {
  const Slot* s = key_kind_ == KeyKind::None ? &table_[0] : findSlot(hashOf(key));
  const int64_t tat = s == nullptr ? 0 : std::max(s->tat.load(std::memory_order_relaxed), now_ns);
  const int64_t next = std::max(tat, now_ns) + interval_ns_;
  if (next - now_ns > tau_ns_) {
    return {false, 0, next - tau_ns_ - now_ns};
  }
  return {true, static_cast<uint32_t>((now_ns + tau_ns_ - std::max(tat, now_ns)) / interval_ns_),
          0};
}

} // namespace gw::policy
