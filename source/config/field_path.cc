#include "source/config/field_path.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gw::config {
namespace {

bool isIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool isIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

// True for "a", "a_b[3]", "a.b[0].c": a field path as used in our messages and protobuf's.
bool isFieldPath(absl::string_view s) {
  size_t i = 0;
  while (true) {
    if (i >= s.size() || !isIdentStart(s[i])) {
      return false;
    }
    while (i < s.size() && isIdentChar(s[i])) {
      i++;
    }
    while (i < s.size() && s[i] == '[') {
      const size_t close = s.find(']', i);
      if (close == absl::string_view::npos || close == i + 1) {
        return false;
      }
      for (size_t k = i + 1; k < close; k++) {
        if (!absl::ascii_isdigit(s[k])) {
          return false;
        }
      }
      i = close + 1;
    }
    if (i == s.size()) {
      return true;
    }
    if (s[i] != '.') {
      return false;
    }
    i++;
  }
}

} // namespace

std::string joinPath(absl::string_view base, absl::string_view sub) {
  if (base.empty()) {
    return std::string(sub);
  }
  if (sub.empty()) {
    return std::string(base);
  }
  return absl::StrCat(base, ".", sub);
}

ConfigError splitFieldPath(absl::string_view msg) {
  if (!msg.empty() && msg.front() == '(') {
    const size_t close = msg.find(')');
    if (close != absl::string_view::npos && isFieldPath(msg.substr(1, close - 1))) {
      const absl::string_view inner = msg.substr(1, close - 1);
      absl::string_view rest = msg.substr(close + 1);
      if (absl::StartsWith(rest, ": ")) {
        return {std::string(inner), std::string(rest.substr(2))};
      }
      if (absl::StartsWith(rest, " ")) {
        ConfigError sub = splitFieldPath(rest.substr(1));
        if (!sub.path.empty()) {
          return {joinPath(inner, sub.path), sub.message};
        }
      }
    }
    return {"", std::string(msg)};
  }
  const size_t colon = msg.find(": ");
  if (colon != absl::string_view::npos && isFieldPath(msg.substr(0, colon))) {
    return {std::string(msg.substr(0, colon)), std::string(msg.substr(colon + 2))};
  }
  return {"", std::string(msg)};
}


bool uniqueName(const std::string& name, const std::string& base, absl::string_view what,
                std::map<std::string, std::string>& names, bool required,
                std::vector<ConfigError>* errors) {
  if (name.empty()) {
    if (required) {
      errors->push_back({base + ".name", "required"});
    }
    return false;
  }
  if (auto [it, inserted] = names.emplace(name, base); !inserted) {
    errors->push_back({base + ".name", absl::StrCat("duplicate ", what, " name '", name,
                                                    "' (also ", it->second, ")")});
    return false;
  }
  return true;
}

} // namespace gw::config
