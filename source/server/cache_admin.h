#pragma once

// The response cache's admin operations, shared by the admin HTTP endpoint (/cache/purge,
// /cache/stats) and the ProxyAdmin gRPC service (CachePurge, CacheStats): both act on the
// process-wide store (source/filters/cache/store.h).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::server {

// kind: "key", "prefix", "tag" or "all"; returns the entries removed from memory (the purge is
// also recorded so that this node never serves a Redis copy made before it).
absl::StatusOr<uint64_t> cachePurge(absl::string_view kind, absl::string_view value);
// The store's JSON stats (memory, entries, per-route hits, misses, bytes, evictions, hit ratio).
std::string cacheStatsJson();

// The admin HTTP endpoint's /cache/... paths. Returns false when `path` is not one of them;
// otherwise fills status and body (JSON). POST /cache/purge?prefix=/a/ (or key=, tag=, all=1);
// GET /cache/stats.
bool handleCacheAdmin(absl::string_view method, absl::string_view path, absl::string_view query,
                      int& status, std::string& body);

} // namespace gw::server
