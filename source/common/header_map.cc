#include "source/common/header_map.h"

#include <algorithm>

namespace gw {

void HeaderMap::set(absl::string_view name, absl::string_view value) {
  remove(name);
  add(name, value);
}

size_t HeaderMap::remove(absl::string_view name) {
  const size_t before = entries_.size();
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& e) { return e.first == name; }),
                 entries_.end());
  return before - entries_.size();
}

const std::string* HeaderMap::get(absl::string_view name) const {
  for (const auto& e : entries_) {
    if (e.first == name) {
      return &e.second;
    }
  }
  return nullptr;
}

size_t HeaderMap::count(absl::string_view name) const {
  size_t n = 0;
  for (const auto& e : entries_) {
    n += e.first == name ? 1 : 0;
  }
  return n;
}

void toLowerAscii(std::string& s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + ('a' - 'A'));
    }
  }
}

} // namespace gw
