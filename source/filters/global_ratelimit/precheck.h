#pragma once

// global_ratelimit's local pre-check: descriptors Redis has just rejected, remembered per worker
// until their Retry-After, so that a client hammering a limit it is over is rejected locally
// without a Redis call (an attack does not become Redis load). Under GCRA a rejected descriptor
// stays rejected at least until its Retry-After, whatever other gateways do, so the local answer
// is the one Redis would give.
//
// A fixed table of sets of 4 entries {limit, tag (64 bits of the descriptor's SHA-256), until}:
// memory is fixed at construction (24 bytes per entry), nothing is allocated afterwards. A new
// entry takes an empty or expired slot of its set, else the one that expires first: forgetting an
// entry early only costs a Redis call. One table per worker and filter config, used on that
// worker's loop only: no locks.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gw::filters::global_ratelimit {

class Precheck {
public:
  // Room for at least `max_entries` (rounded up to a power of two, at least 4).
  explicit Precheck(uint32_t max_entries);

  // Until when (ms, the caller's clock) limit `limit` rejects the descriptor `tag`; 0 when it is
  // not known to (or no longer does).
  int64_t blockedUntil(uint32_t limit, uint64_t tag, int64_t now_ms) const;
  // Remembers that the descriptor is rejected until `until_ms`.
  void block(uint32_t limit, uint64_t tag, int64_t until_ms, int64_t now_ms);

  size_t capacity() const { return slots_.size(); }
  size_t size(int64_t now_ms) const;  // live entries (for tests)

private:
  struct Entry {
    uint64_t tag = 0;
    uint32_t limit = 0;
    int64_t until_ms = 0;  // 0: empty
  };
  size_t setOf(uint32_t limit, uint64_t tag) const;

  std::vector<Entry> slots_;
  size_t set_mask_ = 0;
};

} // namespace gw::filters::global_ratelimit
