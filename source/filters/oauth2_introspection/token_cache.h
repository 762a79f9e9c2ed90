#pragma once

// The per-worker cache of introspection results (oauth2_introspection): keyed by the SHA-256 of
// the token (the raw token is never kept), bounded to `max_entries` with least-recently-used
// eviction, each entry valid until its own deadline. One instance per worker, used on that
// worker's loop only: no locks.

#include <cstdint>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace gw::filters::oauth2 {

// What an introspection answered (RFC 7662 section 2.2), reduced to what the filter uses.
struct IntrospectionResult {
  bool active = false;
  int64_t exp = 0;  // seconds since the epoch; 0: the response had none
  std::string sub, scope, client_id, username;
  // The configured claim_headers' claims, in config order ("" when the response lacked one).
  std::vector<std::string> claims;
  std::vector<bool> has_claim;
};

class TokenCache {
public:
  explicit TokenCache(size_t max_entries) : max_entries_(max_entries) {}

  // The SHA-256 (32 raw bytes) of a token: the cache key.
  static std::string keyOf(absl::string_view token);

  // The cached result for `key`, or nullptr when there is none or it expired (an expired entry is
  // dropped). Valid until the next call on this cache. A hit becomes the most recently used.
  const IntrospectionResult* find(const std::string& key, int64_t now_ms);
  // Stores `result` until `expires_ms` (replacing an older entry of the key); evicts the least
  // recently used entry when full. Nothing is stored when expires_ms <= now_ms or max_entries is 0.
  void put(const std::string& key, IntrospectionResult result, int64_t expires_ms,
           int64_t now_ms);

  size_t size() const { return index_.size(); }
  uint64_t evictions() const { return evictions_; }

private:
  struct Entry {
    std::string key;
    IntrospectionResult result;
    int64_t expires_ms;
  };
  using List = std::list<Entry>;
  const size_t max_entries_;
  List lru_;  // front: most recently used
  absl::flat_hash_map<std::string, List::iterator> index_;
  uint64_t evictions_ = 0;
};

} // namespace gw::filters::oauth2
