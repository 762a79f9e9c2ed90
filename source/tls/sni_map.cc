#include "source/tls/sni_map.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace gw::tls {
namespace {

constexpr size_t kMaxName = 255;

bool validHostName(absl::string_view n) {
  if (n.empty() || n.size() > kMaxName || n.front() == '.' || n.back() == '.' ||
      n.find("..") != absl::string_view::npos) {
    return false;
  }
  for (char c : n) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_')) {
      return false;
    }
  }
  return true;
}

// Lower-cases `in` into `buf` (without a trailing dot); empty when too long.
absl::string_view normalize(absl::string_view in, char (&buf)[kMaxName + 1]) {
  if (!in.empty() && in.back() == '.') {
    in.remove_suffix(1);
  }
  if (in.size() > kMaxName) {
    return {};
  }
  for (size_t i = 0; i < in.size(); i++) {
    buf[i] = absl::ascii_tolower(in[i]);
  }
  return absl::string_view(buf, in.size());
}

} // namespace

bool validServerNamePattern(absl::string_view name) {
  if (absl::StartsWith(name, "*.")) {
    name.remove_prefix(2);
  }
  return validHostName(name);
}

bool SniMap::add(absl::string_view name, size_t index) {
  if (!validServerNamePattern(name)) {
    return false;
  }
  std::string lower = absl::AsciiStrToLower(name);
  if (absl::StartsWith(lower, "*.")) {
    return wildcard_.emplace(lower.substr(2), index).second;
  }
  return exact_.emplace(std::move(lower), index).second;
}

size_t SniMap::select(absl::string_view server_name) const {
  char buf[kMaxName + 1];
  const absl::string_view name = normalize(server_name, buf);
  if (name.empty()) {
    return default_;
  }
  if (auto it = exact_.find(name); it != exact_.end()) {
    return it->second;
  }
  const size_t dot = name.find('.');
  if (dot != absl::string_view::npos && dot > 0 && !wildcard_.empty()) {
    if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) {
      return it->second;
    }
  }
  return default_;
}

} // namespace gw::tls
