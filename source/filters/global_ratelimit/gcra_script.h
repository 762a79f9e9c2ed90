#pragma once

// The Lua script global_ratelimit runs in Redis, once per request, over all of the request's
// limits: GCRA (the generic cell rate algorithm, a token bucket kept as one "theoretical arrival
// time" per descriptor), atomic because Redis runs a script alone.
//
//   KEYS[i]          the descriptor's key (its TAT in microseconds of Redis's clock, or none)
//   ARGV[2i-1]       T, microseconds per request (period / requests)
//   ARGV[2i]         the burst B (requests admitted at once)
//
// For each limit, with now = Redis TIME (one clock for every gateway) and tat = max(stored, now):
// the request fits when tat + T - B*T <= now. The request is admitted when every limit fits; only
// then is each key set to tat + T, expiring (PX) when it is back in the past, i.e. when the bucket
// is full again (a missing key is a full bucket). A rejected request changes nothing.
//
// Reply: {admitted (1/0), then per limit: fits (1/0), remaining, retry_after_ms, reset_ms}:
// remaining = requests still admissible at once after this one (0 when it does not fit);
// retry_after_ms = when this request would fit (0 when it fits); reset_ms = when the bucket is
// full again.

#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "source/redis/reply.h"

namespace gw::filters::global_ratelimit {

extern const char kGcraScript[];
// The script's SHA-1 in hex, for EVALSHA.
const std::string& gcraScriptSha1();

struct LimitVerdict {
  bool fits = true;
  int64_t remaining = 0;
  int64_t retry_after_ms = 0;
  int64_t reset_ms = 0;
};
using Verdicts = absl::InlinedVector<LimitVerdict, 4>;

// The script's reply for `n` limits; an error names what is wrong with it.
absl::StatusOr<Verdicts> parseGcraReply(const redis::RedisReply& reply, size_t n);

} // namespace gw::filters::global_ratelimit
