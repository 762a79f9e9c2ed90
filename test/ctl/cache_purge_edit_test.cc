// gatewayctl cache purge --fleet: the purge added to a snapshot's config.
#include <catch2/catch.hpp>

#include "source/ctl/cache_purge_edit.h"

namespace gw::ctl {
namespace {

TEST_CASE("addCachePurge appends a purge with a fresh id and keeps the newest 20", "[ctl][cache]") {
  gateway::v1::Config cfg;
  gateway::v1::CachePurgeRequest what;
  what.set_prefix("/api/products/");
  const absl::Time now = absl::FromUnixSeconds(1796000000);
  const std::string id = addCachePurge(cfg, what, now);
  REQUIRE(cfg.cache_purges_size() == 1);
  const auto& p = cfg.cache_purges(0);
  CHECK(p.id() == id);
  CHECK(id.rfind("purge-1796000000000-", 0) == 0);
  CHECK(id.size() == std::string("purge-1796000000000-").size() + 8);
  CHECK(p.prefix() == "/api/products/");
  CHECK(p.key().empty());
  CHECK_FALSE(p.all());
  CHECK(p.issued_at().seconds() == 1796000000);
  // Ids differ even within one millisecond.
  CHECK(addCachePurge(cfg, what, now) != id);

  gateway::v1::CachePurgeRequest all;
  all.set_all(true);
  for (int i = 0; i < 30; i++) {
    addCachePurge(cfg, all, now + absl::Seconds(i));
  }
  REQUIRE(cfg.cache_purges_size() == kMaxFleetPurges);
  // The oldest went first: the last kept is the newest.
  CHECK(cfg.cache_purges(kMaxFleetPurges - 1).issued_at().seconds() == 1796000000 + 29);
  CHECK(cfg.cache_purges(0).issued_at().seconds() == 1796000000 + 10);
}

} // namespace
} // namespace gw::ctl
