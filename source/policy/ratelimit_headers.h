#pragma once

// The RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset response headers (IETF
// draft-ietf-httpapi-ratelimit-headers), as api_key_auth and global_ratelimit send them: on their
// 429s and, when configured, on allowed responses. Also the whole seconds of a Retry-After.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "source/common/header_map.h"

namespace gw::policy {

struct RateLimitHeaders {
  std::string limit, remaining, reset;  // "" until known

  bool empty() const { return limit.empty(); }
  void set(uint64_t l, uint64_t r, int64_t reset_seconds) {
    limit = absl::StrCat(l);
    remaining = absl::StrCat(r);
    reset = absl::StrCat(std::max<int64_t>(reset_seconds, 0));
  }
  // On a response head (replacing values another filter set).
  void setOn(HeaderMap& h) const {
    h.set("ratelimit-limit", limit);
    h.set("ratelimit-remaining", remaining);
    h.set("ratelimit-reset", reset);
  }
  // On an error's extra headers (ErrorInfo::headers).
  void appendTo(std::vector<std::pair<std::string, std::string>>& h) const {
    h.emplace_back("ratelimit-limit", limit);
    h.emplace_back("ratelimit-remaining", remaining);
    h.emplace_back("ratelimit-reset", reset);
  }
};

// Whole seconds for Retry-After / RateLimit-Reset: rounded up, so a client that waits that long
// is not refused again for the same reason.
inline int64_t ceilSeconds(int64_t ns) { return (std::max<int64_t>(ns, 0) + 999999999) / 1000000000; }
inline int64_t ceilSecondsMs(int64_t ms) { return (std::max<int64_t>(ms, 0) + 999) / 1000; }

} // namespace gw::policy
