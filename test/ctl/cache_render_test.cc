// gatewayctl cache: the --proxy list and the renderings of purge and stats answers.
#include <catch2/catch.hpp>

#include "source/ctl/cache_render.h"

namespace gw::ctl {
namespace {

TEST_CASE("proxyList splits on commas and drops blanks") {
  CHECK(proxyList("a:1") == std::vector<std::string>{"a:1"});
  CHECK(proxyList(" a:1, ,b:2,") == std::vector<std::string>{"a:1", "b:2"});
  CHECK(proxyList("").empty());
}

TEST_CASE("purge and stats render per proxy; a failed proxy says so") {
  CacheResults r;
  r.order = {"a:1", "b:2"};
  r.purged["a:1"].set_purged(3);
  CHECK(renderCachePurge(r) == "a:1: purged 3 entries\nb:2: failed\n");
  const std::string json = toJson(cacheDoc(r));
  CHECK(json.find("\"proxy\": \"a:1\"") != std::string::npos);
  CHECK(json.find("\"error\": \"failed\"") != std::string::npos);

  CacheResults s;
  s.order = {"a:1"};
  auto& st = s.stats["a:1"];
  st.set_memory_bytes(100);
  st.set_memory_max_bytes(1000);
  st.set_entries(2);
  auto* rt = st.add_routes();
  rt->set_route("products");
  rt->set_hits(3);
  rt->set_misses(1);
  rt->set_hit_ratio(0.75);
  const std::string out = renderCacheStats(s);
  CHECK(out.find("a:1: memory 100 of 1000 bytes, 2 entries") != std::string::npos);
  CHECK(out.find("products") != std::string::npos);
  CHECK(out.find("75.0%") != std::string::npos);
}

} // namespace
} // namespace gw::ctl
