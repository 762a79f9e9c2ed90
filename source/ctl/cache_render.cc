#include "source/ctl/cache_render.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace gw::ctl {

std::vector<std::string> proxyList(const std::string& flag) {
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(flag, ',')) {
    p = absl::StripAsciiWhitespace(p);
    if (!p.empty()) out.emplace_back(p);
  }
  return out;
}

std::string renderCachePurge(const CacheResults& r) {
  std::string out;
  for (const auto& addr : r.order) {
    auto it = r.purged.find(addr);
    if (it == r.purged.end()) {
      absl::StrAppend(&out, addr, ": failed\n");
      continue;
    }
    absl::StrAppend(&out, addr, ": purged ", it->second.purged(), " entries\n");
  }
  return out;
}

std::string renderCacheStats(const CacheResults& r) {
  std::string out;
  for (const auto& addr : r.order) {
    auto it = r.stats.find(addr);
    if (it == r.stats.end()) {
      absl::StrAppend(&out, addr, ": failed\n");
      continue;
    }
    const auto& s = it->second;
    absl::StrAppend(&out, addr, ": memory ", s.memory_bytes(), " of ", s.memory_max_bytes(),
                    " bytes, ", s.entries(), " entries\n");
    out += absl::StrFormat("  %-24s %8s %8s %6s %7s %8s %10s %9s %9s\n", "ROUTE", "HITS", "MISSES",
                           "STALE", "BYPASS", "ENTRIES", "BYTES", "EVICTIONS", "HIT RATIO");
    for (const auto& rt : s.routes()) {
      out += absl::StrFormat("  %-24s %8d %8d %6d %7d %8d %10d %9d %8.1f%%\n", rt.route(),
                             rt.hits(), rt.misses(), rt.stale(), rt.bypass(), rt.entries(),
                             rt.bytes(), rt.evictions(), rt.hit_ratio() * 100);
    }
  }
  return out;
}

Doc cacheDoc(const CacheResults& r) {
  Doc list = Doc::list();
  for (const auto& addr : r.order) {
    Doc d = Doc::map();
    if (auto it = r.purged.find(addr); it != r.purged.end()) {
      d = Doc::fromMessage(it->second, true);
    } else if (auto st = r.stats.find(addr); st != r.stats.end()) {
      d = Doc::fromMessage(st->second, true);
    } else {
      d.set("error", Doc::string("failed"));
    }
    Doc item = Doc::map();
    item.set("proxy", Doc::string(addr));
    for (const auto& [k, v] : d.fields()) item.set(k, v);
    list.push(std::move(item));
  }
  Doc out = Doc::map();
  out.set("proxies", std::move(list));
  return out;
}

} // namespace gw::ctl
