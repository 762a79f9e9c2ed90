#include "source/control/diff.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"

namespace gw::control {
namespace {

using gateway::v1::Config;
using gateway::v1::ResourceChange;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

// The fields of `a` and `b` (same type) that differ, in declaration order, except `skip`.
std::vector<std::string> changedFields(const Message& a, const Message& b,
                                       const std::set<std::string>& skip = {}) {
  std::vector<std::string> out;
  const auto* desc = a.GetDescriptor();
  for (int i = 0; i < desc->field_count(); i++) {
    const FieldDescriptor* f = desc->field(i);
    if (skip.count(f->name()) > 0) {
      continue;
    }
    MessageDifferencer d;  // map fields (google.protobuf.Struct) compare as maps
    // An `optional` scalar set to its default is not the same as unset (token_cache_size: 0
    // turns the cache off, unset means 256; enabled: false revokes a key); the differencer
    // compares values only.
    const bool presence_differs =
        f->has_presence() && f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE &&
        a.GetReflection()->HasField(a, f) != b.GetReflection()->HasField(b, f);
    if (presence_differs || !d.CompareWithFields(a, b, {f}, {f})) {
      out.push_back(f->name());
    }
  }
  return out;
}

// A named resource in config order. Keys are unique: a duplicate name (an invalid config can
// still be diffed) gets "#<index>" appended.
template <class T>
struct Named {
  std::string key;
  std::string group;  // routes: "<listener>/<virtual host>"
  const T* item;
};

std::string nameOr(const std::string& name, int index) {
  return name.empty() ? absl::StrCat("#", index) : name;
}

template <class T>
void addUnique(std::vector<Named<T>>& out, absl::flat_hash_set<std::string>& seen, std::string key,
               std::string group, const T* item, int index) {
  while (!seen.insert(key).second) {
    absl::StrAppend(&key, "#", index);
  }
  out.push_back(Named<T>{std::move(key), std::move(group), item});
}

// Named resources of a repeated field (listeners, clusters, auth providers, rate-limit policies).
template <class T>
std::vector<Named<T>> namedOf(const google::protobuf::RepeatedPtrField<T>& list) {
  std::vector<Named<T>> out;
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < list.size(); i++) {
    addUnique(out, seen, nameOr(list[i].name(), i), "", &list[i], i);
  }
  return out;
}

// API keys are named by their id.
std::vector<Named<gateway::v1::ApiKey>> apiKeysOf(const Config& c) {
  std::vector<Named<gateway::v1::ApiKey>> out;
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < c.api_keys_size(); i++) {
    addUnique(out, seen, nameOr(c.api_keys(i).id(), i), "", &c.api_keys(i), i);
  }
  return out;
}

std::vector<Named<gateway::v1::Route>> routesOf(const Config& c) {
  std::vector<Named<gateway::v1::Route>> out;
  absl::flat_hash_set<std::string> seen;
  for (const auto& l : namedOf(c.listeners())) {
    for (int v = 0; v < l.item->virtual_hosts_size(); v++) {
      const auto& vh = l.item->virtual_hosts(v);
      const std::string group = absl::StrCat(l.key, "/", nameOr(vh.name(), v));
      for (int r = 0; r < vh.routes_size(); r++) {
        addUnique(out, seen, absl::StrCat(group, "/", nameOr(vh.routes(r).name(), r)), group,
                  &vh.routes(r), r);
      }
    }
  }
  return out;
}

void addChange(gateway::v1::Diff& diff, const std::string& type, const std::string& name,
               ResourceChange::Kind kind, std::vector<std::string> fields = {}) {
  auto* c = diff.add_changes();
  c->set_resource_type(type);
  c->set_name(name);
  c->set_kind(kind);
  for (auto& f : fields) {
    c->add_fields(std::move(f));
  }
}

// Generic by-key diff: ADDED/CHANGED in `to` order, then REMOVED in `from` order.
template <class T, class FieldsFn>
void diffNamed(gateway::v1::Diff& diff, const std::string& type, const std::vector<Named<T>>& from,
               const std::vector<Named<T>>& to, FieldsFn fields_of) {
  absl::flat_hash_map<std::string, const Named<T>*> old_by_key;
  for (const auto& n : from) {
    old_by_key[n.key] = &n;
  }
  absl::flat_hash_set<std::string> new_keys;
  for (const auto& n : to) {
    new_keys.insert(n.key);
    auto it = old_by_key.find(n.key);
    if (it == old_by_key.end()) {
      addChange(diff, type, n.key, ResourceChange::ADDED);
      continue;
    }
    std::vector<std::string> fields = fields_of(*it->second, n);
    if (!fields.empty()) {
      addChange(diff, type, n.key, ResourceChange::CHANGED, std::move(fields));
    }
  }
  for (const auto& n : from) {
    if (new_keys.count(n.key) == 0) {
      addChange(diff, type, n.key, ResourceChange::REMOVED);
    }
  }
}

// The keys of routes present in both configs whose order relative to each other changed within
// their virtual host: those outside a longest common (order-preserving) subsequence.
absl::flat_hash_set<std::string> movedRoutes(const std::vector<Named<gateway::v1::Route>>& from,
                                             const std::vector<Named<gateway::v1::Route>>& to) {
  absl::flat_hash_map<std::string, int> old_index;
  for (int i = 0; i < static_cast<int>(from.size()); i++) {
    old_index[from[i].key] = i;
  }
  // Per group, the old indices of the common routes in new order.
  std::map<std::string, std::vector<std::pair<int, std::string>>> groups;
  for (const auto& n : to) {
    auto it = old_index.find(n.key);
    if (it != old_index.end()) {
      groups[n.group].emplace_back(it->second, n.key);
    }
  }
  absl::flat_hash_set<std::string> moved;
  for (const auto& [group, seq] : groups) {
    // Longest increasing subsequence, O(n^2): route lists are short.
    const size_t n = seq.size();
    std::vector<int> len(n, 1), prev(n, -1);
    int best = -1;
    for (size_t i = 0; i < n; i++) {
      for (size_t j = 0; j < i; j++) {
        if (seq[j].first < seq[i].first && len[j] + 1 > len[i]) {
          len[i] = len[j] + 1;
          prev[i] = static_cast<int>(j);
        }
      }
      if (best < 0 || len[i] > len[best]) {
        best = static_cast<int>(i);
      }
    }
    std::vector<bool> keep(n, false);
    for (int i = best; i >= 0; i = prev[i]) {
      keep[i] = true;
    }
    for (size_t i = 0; i < n; i++) {
      if (!keep[i]) {
        moved.insert(seq[i].second);
      }
    }
  }
  return moved;
}

gateway::v1::Listener withoutRoutes(const gateway::v1::Listener& l) {
  gateway::v1::Listener out = l;
  for (auto& vh : *out.mutable_virtual_hosts()) {
    vh.clear_routes();
  }
  return out;
}

} // namespace

gateway::v1::Diff diffConfigs(const Config& from, const Config& to) {
  gateway::v1::Diff diff;
  diffNamed(diff, "listener", namedOf(from.listeners()), namedOf(to.listeners()),
            [](const Named<gateway::v1::Listener>& a, const Named<gateway::v1::Listener>& b) {
              return changedFields(withoutRoutes(*a.item), withoutRoutes(*b.item));
            });
  const auto old_routes = routesOf(from);
  const auto new_routes = routesOf(to);
  const auto moved = movedRoutes(old_routes, new_routes);
  diffNamed(diff, "route", old_routes, new_routes,
            [&moved](const Named<gateway::v1::Route>& a, const Named<gateway::v1::Route>& b) {
              std::vector<std::string> fields = changedFields(*a.item, *b.item);
              if (moved.count(b.key) > 0) {
                fields.push_back("order");
              }
              return fields;
            });
  diffNamed(diff, "cluster", namedOf(from.clusters()), namedOf(to.clusters()),
            [](const Named<gateway::v1::Cluster>& a, const Named<gateway::v1::Cluster>& b) {
              return changedFields(*a.item, *b.item);
            });
  // Field names only, never values: a changed secret shows as "(secret)".
  diffNamed(diff, "auth_provider", namedOf(from.auth_providers()), namedOf(to.auth_providers()),
            [](const Named<gateway::v1::AuthProvider>& a,
               const Named<gateway::v1::AuthProvider>& b) {
              return changedFields(*a.item, *b.item);
            });
  diffNamed(diff, "rate_limit_policy", namedOf(from.rate_limit_policies()),
            namedOf(to.rate_limit_policies()),
            [](const Named<gateway::v1::RateLimitPolicy>& a,
               const Named<gateway::v1::RateLimitPolicy>& b) {
              return changedFields(*a.item, *b.item);
            });
  diffNamed(diff, "redis_server", namedOf(from.redis_servers()), namedOf(to.redis_servers()),
            [](const Named<gateway::v1::RedisServer>& a, const Named<gateway::v1::RedisServer>& b) {
              return changedFields(*a.item, *b.item);
            });
  diffNamed(diff, "usage_plan", namedOf(from.usage_plans()), namedOf(to.usage_plans()),
            [](const Named<gateway::v1::UsagePlan>& a, const Named<gateway::v1::UsagePlan>& b) {
              return changedFields(*a.item, *b.item);
            });
  diffNamed(diff, "api_key", apiKeysOf(from), apiKeysOf(to),
            [](const Named<gateway::v1::ApiKey>& a, const Named<gateway::v1::ApiKey>& b) {
              return changedFields(*a.item, *b.item);
            });
  // Field names only ("~ secret edge-cert (certificate_chain, private_key)"): never a value.
  diffNamed(diff, "secret", namedOf(from.secrets()), namedOf(to.secrets()),
            [](const Named<gateway::v1::Secret>& a, const Named<gateway::v1::Secret>& b) {
              return changedFields(*a.item, *b.item);
            });
  return diff;
}

bool sameConfig(const Config& a, const Config& b) {
  return changedFields(a, b, {"version"}).empty();
}

std::string formatDiff(const gateway::v1::Diff& diff) {
  if (diff.changes().empty()) {
    return "no changes";
  }
  std::vector<std::string> lines;
  for (const auto& c : diff.changes()) {
    const char* sign = c.kind() == ResourceChange::ADDED     ? "+"
                       : c.kind() == ResourceChange::REMOVED ? "-"
                                                             : "~";
    std::string line = absl::StrCat(sign, " ", c.resource_type(), " ", c.name());
    if (!c.fields().empty()) {
      absl::StrAppend(&line, " (", absl::StrJoin(c.fields(), ", "), ")");
    }
    lines.push_back(std::move(line));
  }
  return absl::StrJoin(lines, "\n");
}

} // namespace gw::control
