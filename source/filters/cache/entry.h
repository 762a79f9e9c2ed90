#pragma once

// One stored response (immutable once stored: readers on any worker share it) and the time
// arithmetic of RFC 9111 4.2.3 on it.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gw::filters::cache {

struct CacheEntry {
  int status = 200;
  // Stored response fields (lower-case names), without hop-by-hop fields, Age and X-Cache.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Epoch milliseconds: when the request that fetched it was sent and when the response arrived.
  int64_t request_time_ms = 0;
  int64_t response_time_ms = 0;
  // corrected_initial_age (RFC 9111 4.2.3), in seconds, at response_time.
  int64_t initial_age_s = 0;
  // Freshness lifetime, in seconds (0: stale at once, revalidated on every use).
  int64_t fresh_lifetime_s = 0;
  int64_t stale_while_revalidate_s = 0;
  int64_t stale_if_error_s = 0;
  // must-revalidate / proxy-revalidate: never served stale.
  bool must_revalidate = false;
  std::string etag;           // validators, as sent
  std::string last_modified;
  std::vector<std::string> vary;  // the Vary field names (lower-case)
  // For purge and stats.
  std::string route;
  std::string path;      // the normalized path
  std::string resource;  // path, then '?' and the sorted query when there is one
  std::vector<std::string> tags;
  std::string key;       // the full key it is stored under (with Vary values)

  // Age in seconds at `now_ms` (current_age, RFC 9111 4.2.3).
  int64_t ageAt(int64_t now_ms) const {
    const int64_t resident = now_ms > response_time_ms ? (now_ms - response_time_ms) / 1000 : 0;
    return initial_age_s + resident;
  }
  bool freshAt(int64_t now_ms) const { return fresh_lifetime_s > ageAt(now_ms); }
  // Seconds past its freshness (0 while fresh).
  int64_t stalenessAt(int64_t now_ms) const {
    const int64_t a = ageAt(now_ms);
    return a > fresh_lifetime_s ? a - fresh_lifetime_s : 0;
  }
  // The bytes it holds, for the store's budget.
  size_t bytes() const {
    size_t n = sizeof(CacheEntry) + body.size() + etag.size() + last_modified.size() +
               route.size() + path.size() + resource.size() + key.size();
    for (const auto& [k, v] : headers) n += k.size() + v.size() + 2 * sizeof(std::string);
    for (const auto& s : vary) n += s.size() + sizeof(std::string);
    for (const auto& s : tags) n += s.size() + sizeof(std::string);
    return n;
  }
};
using CacheEntryConstPtr = std::shared_ptr<const CacheEntry>;

} // namespace gw::filters::cache
