#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace gw {

// An ordered list of HTTP header fields. Names are stored lower-cased (the codec lower-cases them
// once on input), so lookups compare bytes. A flat vector beats a map for the ~10-30 headers of a
// typical request: no per-node allocation, cache-friendly scans.
class HeaderMap {
public:
  using Entry = std::pair<std::string, std::string>;

  // `name` must already be lower-case.
  void add(absl::string_view name, absl::string_view value) {
    entries_.emplace_back(std::string(name), std::string(value));
  }
  // Replaces every existing value of `name` with one value.
  void set(absl::string_view name, absl::string_view value);
  // Removes every field named `name`; returns how many were removed.
  size_t remove(absl::string_view name);
  // First value of `name`, or nullptr.
  const std::string* get(absl::string_view name) const;
  // Number of fields named `name`.
  size_t count(absl::string_view name) const;
  bool has(absl::string_view name) const { return get(name) != nullptr; }

  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& entries() { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

private:
  std::vector<Entry> entries_;
};

// Lower-cases ASCII in place.
void toLowerAscii(std::string& s);

namespace detail {
struct TokenTable {
  bool tchar[256] = {};
  constexpr TokenTable() {
    for (int c = '0'; c <= '9'; c++) tchar[c] = true;
    for (int c = 'a'; c <= 'z'; c++) tchar[c] = true;
    for (int c = 'A'; c <= 'Z'; c++) tchar[c] = true;
    for (const char* p = "!#$%&'*+-.^_`|~"; *p; p++) tchar[static_cast<unsigned char>(*p)] = true;
  }
};
inline constexpr TokenTable kTokenTable;
} // namespace detail

// RFC 9110 token characters ("tchar"): what field names and methods are made of. Inline: the
// HTTP/1 head scanner calls it per byte of every field name.
inline bool isTokenChar(unsigned char c) { return detail::kTokenTable.tchar[c]; }
// A non-empty run of token characters (a valid header field name).
bool isToken(absl::string_view s);
// A token without upper-case letters: a header name as configs must write it (lower case).
bool isLowerToken(absl::string_view s);

// `s` equals `lower` (lower-case ASCII) ignoring ASCII case. Inline: connection tokens are
// compared on every request and response; absl::EqualsIgnoreCase is an out-of-line call into a
// byte-wise table loop.
inline bool equalsLowerAscii(absl::string_view s, absl::string_view lower) {
  if (s.size() != lower.size()) {
    return false;
  }
  for (size_t i = 0; i < s.size(); i++) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (static_cast<char>(static_cast<unsigned>(c - 'A') < 26u ? c | 0x20 : c) != lower[i]) {
      return false;
    }
  }
  return true;
}

// Calls fn(token) for each comma-separated element of a list header value, with optional
// whitespace (SP, HTAB) trimmed and empty elements skipped (RFC 9110 5.6.1).
template <class Fn> void forEachListToken(absl::string_view v, Fn fn) {
  size_t i = 0;
  while (i <= v.size()) {
    size_t end = v.find(',', i);
    if (end == absl::string_view::npos) {
      end = v.size();
    }
    size_t b = i, e = end;
    while (b < e && (v[b] == ' ' || v[b] == '\t')) {
      b++;
    }
    while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
      e--;
    }
    if (e > b) {
      fn(v.substr(b, e - b));
    }
    i = end + 1;
  }
}

} // namespace gw
