#include "source/ctl/cache_purge_edit.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gw::ctl {

std::string addCachePurge(gateway::v1::Config& cfg, const gateway::v1::CachePurgeRequest& what,
                          absl::Time now) {
  unsigned char rnd[4] = {};
  RAND_bytes(rnd, sizeof(rnd));
  const std::string id =
      absl::StrCat("purge-", absl::ToUnixMillis(now), "-",
                   absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(rnd), 4)));
  gateway::v1::CachePurge* p = cfg.add_cache_purges();
  p->set_id(id);
  p->set_key(what.key());
  p->set_prefix(what.prefix());
  p->set_tag(what.tag());
  p->set_all(what.all());
  p->mutable_issued_at()->set_seconds(absl::ToUnixSeconds(now));
  if (cfg.cache_purges_size() > kMaxFleetPurges) {
    auto* list = cfg.mutable_cache_purges();
    list->DeleteSubrange(0, list->size() - kMaxFleetPurges);
  }
  return id;
}

} // namespace gw::ctl
