#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"

namespace gw::filters {

// One object in a request's filter state. `describe()` is what the access log (under
// "filter_state") and `explain` show for it; empty keeps it out of both.
class FilterStateObject {
public:
  virtual ~FilterStateObject() = default;
  virtual std::string describe() const { return {}; }
};

// A typed key: the name it is stored under and, by its type, what is stored. Declare one per
// kind of state, next to the type, e.g. `inline constexpr FilterStateKey<Identity> kIdentity{
// "identity"};`. Two keys with one name must have one type.
template <class T> struct FilterStateKey {
  absl::string_view name;
};

// Typed per-request state (Envoy's filterState, Pingora's CTX): a filter writes an object and
// later filters of any stage, the access log and `explain` read it. Lives as long as the
// request; objects are destroyed with it. Loop thread only. A handful of entries per request,
// so a small vector searched by name beats a map.
class FilterState {
public:
  // Stores `value` under the key's name, replacing an object stored there before.
  template <class T> T& set(const FilterStateKey<T>& key, std::unique_ptr<T> value) {
    T& ref = *value;
    for (auto& e : entries_) {
      if (e.first == key.name) {
        e.second = std::move(value);
        return ref;
      }
    }
    entries_.emplace_back(key.name, std::move(value));
    return ref;
  }
  template <class T> T& emplace(const FilterStateKey<T>& key) {
    return set(key, std::make_unique<T>());
  }
  // The object stored under the key's name, or nullptr.
  template <class T> T* get(const FilterStateKey<T>& key) const {
    for (const auto& e : entries_) {
      if (e.first == key.name) {
        return static_cast<T*>(e.second.get());
      }
    }
    return nullptr;
  }
  bool has(absl::string_view name) const {
    for (const auto& e : entries_) {
      if (e.first == name) {
        return true;
      }
    }
    return false;
  }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }
  // In the order they were first set.
  const auto& entries() const { return entries_; }

private:
  // Names are the keys' string literals: stored as views, never copied.
  absl::InlinedVector<std::pair<absl::string_view, std::unique_ptr<FilterStateObject>>, 2>
      entries_;
};

} // namespace gw::filters
