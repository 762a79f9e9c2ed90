#include "source/filters/json_transform/json_path.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace gw::filters::json {
namespace {

constexpr int64_t kMaxIndex = 1 << 30;

bool allDigits(absl::string_view s) {
  if (s.empty() || s.size() > 10) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<Path> parsePointer(absl::string_view text) {
  Path p;
  for (absl::string_view raw : absl::StrSplit(text.substr(1), '/')) {
    if (raw.find('~') != absl::string_view::npos) {
      for (size_t i = 0; i < raw.size(); i++) {
        if (raw[i] == '~' && (i + 1 == raw.size() || (raw[i + 1] != '0' && raw[i + 1] != '1'))) {
          return absl::InvalidArgumentError(
              absl::StrCat("invalid escape in JSON Pointer token '", raw, "' (~0 or ~1)"));
        }
      }
    }
    Segment s;
    s.key = absl::StrReplaceAll(raw, {{"~1", "/"}, {"~0", "~"}});
    // RFC 6901: an array index is "0" or digits without a leading zero.
    if (allDigits(s.key) && (s.key.size() == 1 || s.key[0] != '0')) {
      int64_t i = 0;
      if (absl::SimpleAtoi(s.key, &i) && i < kMaxIndex) {
        s.index = i;
      }
    }
    s.all = s.key == "*";
    p.segments.push_back(std::move(s));
  }
  return p;
}

absl::StatusOr<Path> parseDotted(absl::string_view text) {
  Path p;
  size_t i = 0;
  bool need_name = true;  // at the start and after '.'
  while (i < text.size()) {
    const char c = text[i];
    if (c == '[') {
      const size_t end = text.find(']', i);
      if (end == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("unterminated '[' at ", i));
      }
      if (need_name && i != 0) {
        return absl::InvalidArgumentError(absl::StrCat("empty name before '[' at ", i));
      }
      const absl::string_view inner = text.substr(i + 1, end - i - 1);
      Segment s;
      s.by_key = false;
      if (inner == "*") {
        s.all = true;
      } else if (allDigits(inner) && absl::SimpleAtoi(inner, &s.index) && s.index < kMaxIndex) {
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid array index '", inner, "' (a number or *)"));
      }
      p.segments.push_back(std::move(s));
      i = end + 1;
      need_name = false;
      if (i < text.size() && text[i] != '.' && text[i] != '[') {
        return absl::InvalidArgumentError(absl::StrCat("expected '.' or '[' at ", i));
      }
      continue;
    }
    if (c == '.') {
      if (need_name) {
        return absl::InvalidArgumentError(absl::StrCat("empty name at ", i));
      }
      need_name = true;
      i++;
      continue;
    }
    if (c == ']') {
      return absl::InvalidArgumentError(absl::StrCat("unexpected ']' at ", i));
    }
    if (!need_name) {
      return absl::InvalidArgumentError(absl::StrCat("expected '.' or '[' at ", i));
    }
    const size_t end = text.find_first_of(".[]", i);
    Segment s;
    s.key = std::string(text.substr(i, end == absl::string_view::npos ? absl::string_view::npos
                                                                        : end - i));
    i += s.key.size();
    p.segments.push_back(std::move(s));
    need_name = false;
  }
  if (need_name) {
    return absl::InvalidArgumentError("path ends with '.'");
  }
  return p;
}

} // namespace

size_t Path::wildcardPrefix() const {
  for (size_t i = segments.size(); i > 0; i--) {
    if (segments[i - 1].all) {
      return i;
    }
  }
  return 0;
}

absl::StatusOr<Path> parsePath(absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError("empty path (the whole body cannot be an operand)");
  }
  auto p = text[0] == '/' ? parsePointer(text) : parseDotted(text);
  if (p.ok()) {
    p->text = std::string(text);
  }
  return p;
}

} // namespace gw::filters::json
