#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"
#include "source/policy/jwt.h"

namespace gw::policy {

// A token-bucket rate limit shared by every worker, without locks.
//
// Each bucket is one 64-bit atomic holding its "theoretical arrival time" (GCRA, the virtual
// scheduling form of a token bucket): with T = nanoseconds per token and a bucket of B tokens, a
// request at `now` is allowed when max(tat, now) + T - now <= B * T, and then tat becomes
// max(tat, now) + T (one CAS). Tokens left = (now + B*T - tat) / T. A bucket whose tat is in the
// past is full, exactly like a bucket that was never used.
//
// Keyed policies (client IP or a header) keep a fixed open-addressed table of
// next_pow2(max_keys) slots, each {atomic key hash, atomic tat}, probed over 8 slots from the
// key's hash. A key takes the first empty or idle (full-bucket) slot of its window: taking over an
// idle slot loses nothing. When all 8 are busy, the key takes over the slot closest to full and
// inherits its tokens (approximation: that slot's previous key, coming back, starts from a full
// bucket). Two threads inserting the same new key at once may briefly give it two slots. The
// key hash is absl::Hash (seeded per process), so clients cannot aim collisions at other keys.
class RateLimiter {
public:
  enum class KeyKind { None, ClientIp, Header };

  struct Decision {
    bool allowed = true;
    uint32_t remaining = 0;       // tokens left after this request
    int64_t retry_after_ns = 0;   // rejected: when one token is back
  };

  // nullptr and `errors` filled (fields relative to the policy) when the proto is invalid.
  // Without `buckets` the key table (up to 16M slots, 256 MiB) is not allocated: for checking a
  // config only; take() and peek() must not be called on such a limiter.
  static std::shared_ptr<const RateLimiter> create(const gateway::v1::RateLimitPolicy& proto,
                                                   std::vector<FieldError>* errors,
                                                   bool buckets = true);
  // Like create(), but returns the live limiter of an identical policy (same name and settings)
  // if one exists in this process, so a new config snapshot that keeps a policy unchanged keeps
  // its buckets (and their state).
  static std::shared_ptr<const RateLimiter> createShared(
      const gateway::v1::RateLimitPolicy& proto, std::vector<FieldError>* errors);

  // False for a limiter created without buckets (config checks only).
  bool hasBuckets() const { return table_ != nullptr; }

  // Takes one token from the bucket of `key` (ignored for KeyKind::None).
  Decision take(absl::string_view key, int64_t now_ns) const;
  // What take() would decide, without taking anything (for explain and response headers).
  Decision peek(absl::string_view key, int64_t now_ns) const;

  const std::string& name() const { return name_; }
  KeyKind keyKind() const { return key_kind_; }
  const std::string& keyHeader() const { return key_header_; }  // lower-case
  uint32_t burst() const { return burst_; }
  int64_t nanosPerToken() const { return interval_ns_; }
  int status() const { return status_; }
  bool responseHeaders() const { return response_headers_; }
  size_t slots() const { return mask_ + 1; }
  // Memory of the key table (also for a limiter created without it: what it would take).
  size_t tableBytes() const { return slots() * sizeof(Slot); }
  std::string describeRate() const;  // "10 per 1s, burst 20"

  static int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

private:
  struct alignas(16) Slot {
    std::atomic<uint64_t> key{0};
    std::atomic<int64_t> tat{0};
  };
  RateLimiter() = default;
  Slot& slotFor(absl::string_view key, int64_t now_ns) const;
  Slot* findSlot(uint64_t h) const;
  uint64_t hashOf(absl::string_view key) const;

  std::string name_;
  KeyKind key_kind_ = KeyKind::None;
  std::string key_header_;
  uint32_t burst_ = 1;
  int64_t interval_ns_ = 1;  // T
  int64_t tau_ns_ = 1;       // B * T
  int status_ = 429;
  bool response_headers_ = false;
  uint64_t rate_tokens_ = 0;
  int64_t rate_period_ns_ = 0;
  std::unique_ptr<Slot[]> table_;
  uint64_t mask_ = 0;
};

} // namespace gw::policy
