#pragma once

// `gatewayctl cache purge|stats`: the proxies named by --proxy and the renderings of their
// answers (tables and -o json|yaml documents).

#include <map>
#include <string>
#include <vector>

#include "gateway/v1/admin.pb.h"
#include "source/ctl/output.h"

namespace gw::ctl {

// "a:1,b:2" -> {"a:1", "b:2"} (blanks and empty items dropped).
std::vector<std::string> proxyList(const std::string& flag);

// Answers by proxy address, in the order asked; a proxy that failed has no answer.
struct CacheResults {
  std::vector<std::string> order;
  std::map<std::string, gateway::v1::CachePurgeResponse> purged;
  std::map<std::string, gateway::v1::CacheStatsResponse> stats;
};

std::string renderCachePurge(const CacheResults& r);
std::string renderCacheStats(const CacheResults& r);
// {"proxies":[{"proxy":"addr", ...the answer...}]}
Doc cacheDoc(const CacheResults& r);

} // namespace gw::ctl
