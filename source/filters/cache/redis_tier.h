#pragma once

// The Redis tier (L2): how an entry is written to and read from Redis. Keys are
// "gwc:<key>" (the key starts with the key rules' version, so entries made under other key
// rules are never read). A response that varies is stored under its variant key, and its base
// key holds a Vary record ("GWCV" and the names) that tells a node without the entry in memory
// which variant key to read. Values are a small length-prefixed binary encoding (magic "GWC1").

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/filters/cache/entry.h"

namespace gw::filters::cache {

std::string redisKey(absl::string_view key);
std::string encodeEntry(const CacheEntry& e);
// nullptr when `data` is not an entry of this format (another version, garbage).
std::shared_ptr<CacheEntry> decodeEntry(absl::string_view data);
std::string encodeVary(const std::vector<std::string>& names);
std::optional<std::vector<std::string>> decodeVary(absl::string_view data);
// How long Redis keeps the entry: until its freshness and stale windows are over (at least 1 s);
// entries with validators are kept for a further freshness lifetime (min 60 s) for revalidation.
int64_t redisTtlMs(const CacheEntry& e, int64_t now_ms);

} // namespace gw::filters::cache
