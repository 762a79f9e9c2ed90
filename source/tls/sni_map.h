#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace gw::tls {

// Which certificate a TLS server name (SNI) selects: an exact name first, then a one-label
// wildcard ("*.example.com" matches "api.example.com", not "example.com" nor "a.b.example.com"),
// then the default. Names compare case-insensitively; a trailing dot is ignored. Immutable once
// built; lookups allocate nothing for names up to 255 bytes.
class SniMap {
public:
  explicit SniMap(size_t default_index = 0) : default_(default_index) {}

  // Adds `name` (exact or "*.suffix") for certificate `index`. False if the name is already
  // mapped (the first mapping stays) or malformed.
  bool add(absl::string_view name, size_t index);
  // The certificate for `server_name`; the default for an empty or unknown name.
  size_t select(absl::string_view server_name) const;
  size_t defaultIndex() const { return default_; }

private:
  absl::flat_hash_map<std::string, size_t> exact_;
  absl::flat_hash_map<std::string, size_t> wildcard_;  // keyed by the suffix after "*."
  size_t default_;
};

// Whether `name` is a valid SNI pattern: a host name or "*." followed by one.
bool validServerNamePattern(absl::string_view name);

} // namespace gw::tls
