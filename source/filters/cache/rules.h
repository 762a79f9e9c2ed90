#pragma once

// RFC 9111 (HTTP caching) for a shared cache, as pure functions over heads and times so that
// every rule is testable with a fake clock: Cache-Control parsing, what may be stored, freshness
// (s-maxage > max-age > Expires > the route's default; capped or forced by the route), Age
// arithmetic, conditional requests (If-None-Match, If-Modified-Since) and the headers an upstream
// 304 refreshes.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/common/header_map.h"
#include "source/filters/cache/entry.h"

namespace gw::filters::cache {

// The directives of one or more Cache-Control fields.
struct CacheControl {
  bool no_store = false;
  bool no_cache = false;
  bool priv = false;  // private
  bool pub = false;   // public
  bool must_revalidate = false;  // must-revalidate or proxy-revalidate
  std::optional<int64_t> max_age;
  std::optional<int64_t> s_maxage;
  std::optional<int64_t> stale_while_revalidate;
  std::optional<int64_t> stale_if_error;
  std::optional<int64_t> min_fresh;  // request
  std::optional<int64_t> max_stale;  // request (a bare max-stale is a large number)
  bool only_if_cached = false;       // request
};
CacheControl parseCacheControl(const HeaderMap& headers);

// An HTTP-date (IMF-fixdate, RFC 850 or asctime) in epoch seconds; nullopt when it does not parse.
std::optional<int64_t> parseHttpDate(absl::string_view s);
std::string formatHttpDate(int64_t epoch_seconds);

// What the route says, from the filter config.
struct RoutePolicy {
  int64_t default_ttl_s = 0;
  int64_t max_ttl_s = 0;    // 0: no cap
  int64_t force_ttl_s = 0;  // 0: off
  int64_t default_swr_s = 0;
  int64_t default_sie_s = 0;
  std::vector<int> cacheable_statuses = {200, 203, 204, 300, 301, 404, 410};
  bool cache_set_cookie = false;
  bool cache_authorized = false;
};

// Why a response is not stored ("" when it may be).
std::string whyNotStorable(const RoutePolicy& policy, absl::string_view method,
                           bool request_has_authorization, const CacheControl& request_cc,
                           int status, const HeaderMap& response_headers,
                           const CacheControl& response_cc);

// Why a request is not served from the cache ("" when it may be): methods other than GET and
// HEAD, Authorization (unless the route allows it), Cache-Control no-cache / no-store / max-age=0
// or Pragma: no-cache on the request.
std::string whyNotServable(const RoutePolicy& policy, absl::string_view method,
                           const HeaderMap& request_headers, const CacheControl& request_cc);

// Freshness lifetime in seconds: the route's force_ttl; else s-maxage, max-age, Expires - Date
// (Date defaults to the response time), the route's default; capped by max_ttl. no-cache: 0.
int64_t freshnessLifetime(const RoutePolicy& policy, const HeaderMap& response_headers,
                          const CacheControl& cc, int64_t response_time_ms);

// corrected_initial_age (RFC 9111 4.2.3), in seconds.
int64_t correctedInitialAge(const HeaderMap& response_headers, int64_t request_time_ms,
                            int64_t response_time_ms);

// The Vary field names (lower-case), in order, without duplicates; "*" stays as "*".
std::vector<std::string> varyNames(const HeaderMap& response_headers);

// True when the request's conditionals match `entry` (the gateway answers 304): If-None-Match
// against its ETag (weak comparison, '*' matches), else If-Modified-Since against its
// Last-Modified (or its Date). False when the request has no conditionals.
bool conditionalMatches(const HeaderMap& request_headers, const CacheEntry& entry);
bool hasConditionals(const HeaderMap& request_headers);

// Builds an entry from a response (all but body, key and purge fields).
void fillEntry(CacheEntry& e, const RoutePolicy& policy, int status,
               const HeaderMap& response_headers, int64_t request_time_ms,
               int64_t response_time_ms);

// An upstream 304 for a revalidation: the stored entry with the 304's fields replacing its own
// (RFC 9111 4.3.4) and its times and freshness renewed.
CacheEntry refreshedEntry(const CacheEntry& stored, const RoutePolicy& policy,
                          const HeaderMap& not_modified_headers, int64_t request_time_ms,
                          int64_t response_time_ms);

// Response fields never stored: hop-by-hop ones, Age, X-Cache.
bool isUnstoredField(absl::string_view name);

} // namespace gw::filters::cache
