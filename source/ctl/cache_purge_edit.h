#pragma once

#include <string>

#include "absl/time/time.h"
#include "gateway/v1/admin.pb.h"
#include "gateway/v1/config.pb.h"

namespace gw::ctl {

// The purges a snapshot keeps (Config.cache_purges): the newest, oldest dropped first. A proxy
// carries out each purge once, when a config bringing it arrives; older ones only matter to a
// proxy that was away while they were issued.
constexpr int kMaxFleetPurges = 20;

// Appends `what` (exactly one of key, prefix, tag, all) to cfg.cache_purges with a fresh id
// ("purge-<unix ms>-<random hex>") and `now` as issued_at, dropping the oldest beyond
// kMaxFleetPurges. Returns the id.
std::string addCachePurge(gateway::v1::Config& cfg, const gateway::v1::CachePurgeRequest& what,
                          absl::Time now);

} // namespace gw::ctl
