#include "source/filters/oauth2_introspection/token_cache.h"

#include "source/policy/api_keys.h"

namespace gw::filters::oauth2 {

std::string TokenCache::keyOf(absl::string_view token) {
  // The API keys' SHA-256: a fetched algorithm and a per-thread context (no per-call lookup).
  return policy::ApiKeyStore::sha256(token);
}

const IntrospectionResult* TokenCache::find(const std::string& key, int64_t now_ms) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return nullptr;
  }
  List::iterator e = it->second;
  if (e->expires_ms <= now_ms) {
    index_.erase(it);
    lru_.erase(e);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, e);
  return &e->result;
}

void TokenCache::put(const std::string& key, IntrospectionResult result, int64_t expires_ms,
                     int64_t now_ms) {
  if (max_entries_ == 0 || expires_ms <= now_ms) {
    return;
  }
  auto it = index_.find(key);
  if (it != index_.end()) {
    it->second->result = std::move(result);
    it->second->expires_ms = expires_ms;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (index_.size() >= max_entries_) {
    // Expired entries would go first in a fuller design; LRU order is enough for the bound.
    index_.erase(lru_.back().key);
    lru_.pop_back();
    evictions_++;
  }
  lru_.push_front(Entry{key, std::move(result), expires_ms});
  index_.emplace(key, lru_.begin());
}

} // namespace gw::filters::oauth2
