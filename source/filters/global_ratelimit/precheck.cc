#include "source/filters/global_ratelimit/precheck.h"

namespace gw::filters::global_ratelimit {
namespace {
constexpr size_t kWays = 4;
}

Precheck::Precheck(uint32_t max_entries) {
  size_t sets = 1;
  while (sets * kWays < max_entries) {
    sets <<= 1;
  }
  slots_.resize(sets * kWays);
  set_mask_ = sets - 1;
}

size_t Precheck::setOf(uint32_t limit, uint64_t tag) const {
  // The tag is already uniform (a SHA-256 prefix); the limit moves it to another set.
  return static_cast<size_t>((tag ^ (uint64_t{limit} * 0x9E3779B97F4A7C15ull)) & set_mask_) *
         kWays;
}

int64_t Precheck::blockedUntil(uint32_t limit, uint64_t tag, int64_t now_ms) const {
  const size_t base = setOf(limit, tag);
  for (size_t i = base; i < base + kWays; i++) {
    const Entry& e = slots_[i];
    if (e.tag == tag && e.limit == limit && e.until_ms > now_ms) {
      return e.until_ms;
    }
  }
  return 0;
}

void Precheck::block(uint32_t limit, uint64_t tag, int64_t until_ms, int64_t now_ms) {
  if (until_ms <= now_ms) {
    return;
  }
  const size_t base = setOf(limit, tag);
  Entry* victim = &slots_[base];
  for (size_t i = base; i < base + kWays; i++) {
    Entry& e = slots_[i];
    if (e.until_ms > now_ms && e.tag == tag && e.limit == limit) {
      victim = &e;  // the descriptor's own entry: extended
      break;
    }
    // Otherwise an empty or expired slot, else the live one that expires first.
    const bool e_dead = e.until_ms <= now_ms;
    const bool v_dead = victim->until_ms <= now_ms;
    if ((e_dead && !v_dead) || (!e_dead && !v_dead && e.until_ms < victim->until_ms)) {
      victim = &e;
    }
  }
  victim->tag = tag;
  victim->limit = limit;
  victim->until_ms = until_ms;
}

size_t Precheck::size(int64_t now_ms) const {
  size_t n = 0;
  for (const Entry& e : slots_) {
    n += e.until_ms > now_ms ? 1 : 0;
  }
  return n;
}

} // namespace gw::filters::global_ratelimit
