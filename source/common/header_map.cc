#include "source/common/header_map.h"

#include <algorithm>

namespace gw {

void HeaderMap::set(absl::string_view name, absl::string_view value) {
  // The common cases without moving anything: absent (append) or present once (assign in place).
  size_t found = entries_.size();
  size_t n = 0;
  for (size_t i = 0; i < entries_.size(); i++) {
    if (entries_[i].first == name) {
      found = n++ == 0 ? i : found;
    }
  }
  if (n == 0) {
    add(name, value);
    return;
  }
  entries_[found].second.assign(value.data(), value.size());
  if (n > 1) {
    // Keep the first occurrence (with the new value), drop the others.
    size_t seen = 0;
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [&](const Entry& e) { return e.first == name && seen++ > 0; }),
                   entries_.end());
  }
}

size_t HeaderMap::remove(absl::string_view name) {
  if (get(name) == nullptr) {
    return 0;
  }
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

bool isToken(absl::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (unsigned char c : s) {
    if (!isTokenChar(c)) {
      return false;
    }
  }
  return true;
}

bool isLowerToken(absl::string_view s) {
  if (!isToken(s)) {
    return false;
  }
  for (unsigned char c : s) {
    if (c >= 'A' && c <= 'Z') {
      return false;
    }
  }
  return true;
}

} // namespace gw
