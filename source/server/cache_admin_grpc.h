#pragma once

#include "gateway/v1/admin.pb.h"
#include "source/server/cache_admin.h"

namespace gw::server {

// The process-wide cache store's stats as the ProxyAdmin CacheStats answer.
void fillCacheStats(gateway::v1::CacheStatsResponse& out);

} // namespace gw::server
