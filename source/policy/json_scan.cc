#include "source/policy/json_scan.h"

#include <array>
#include <cstdint>

#include "absl/strings/ascii.h"

namespace gw::policy {
namespace {

constexpr int kMaxDepth = 32;
constexpr int kMaxMembers = 64;

class Scanner {
public:
  explicit Scanner(absl::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      i_++;
    }
  }
  bool atEnd() const { return i_ >= s_.size(); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool eat(char c) {
    if (peek() == c && !atEnd()) {
      i_++;
      return true;
    }
    return false;
  }

  // After the opening quote; leaves i_ after the closing quote.
  bool string(absl::string_view& raw, bool& escaped) {
    const size_t start = i_;
    escaped = false;
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        raw = s_.substr(start, i_ - start);
        i_++;
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c == '\\') {
        escaped = true;
        if (i_ + 1 >= s_.size()) {
          return false;
        }
        const char e = s_[i_ + 1];
        if (e == 'u') {
          // UTF-16 surrogates only as a pair, high then low (as jsonUnescape reads them): a
          // value with a lone surrogate is refused here, not accepted and then unreadable.
          uint32_t cp = 0;
          if (!unicodeEscape(i_, &cp) || (cp >= 0xdc00 && cp <= 0xdfff)) {
            return false;
          }
          i_ += 6;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo = 0;
            if (!unicodeEscape(i_, &lo) || lo < 0xdc00 || lo > 0xdfff) {
              return false;
            }
            i_ += 6;
          }
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
            e != 't') {
          return false;
        }
        i_ += 2;
        continue;
      }
      i_++;
    }
    return false;
  }

  // A "\uXXXX" escape at `at`: its code unit in *cp, false when there is none.
  bool unicodeEscape(size_t at, uint32_t* cp) const {
    if (at + 6 > s_.size() || s_[at] != '\\' || s_[at + 1] != 'u') {
      return false;
    }
    *cp = 0;
    for (size_t k = at + 2; k < at + 6; k++) {
      const char c = s_[k];
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
        return false;
      }
      *cp = *cp << 4 | static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return true;
  }

  bool number() {
    const size_t start = i_;
    eat('-');
    if (eat('0')) {
    } else {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(peek())) || peek() == '0' || atEnd()) {
        return false;
      }
      while (!atEnd() && absl::ascii_isdigit(static_cast<unsigned char>(peek()))) {
        i_++;
      }
    }
    if (eat('.')) {
      if (atEnd() || !absl::ascii_isdigit(static_cast<unsigned char>(peek()))) {
        return false;
      }
      while (!atEnd() && absl::ascii_isdigit(static_cast<unsigned char>(peek()))) {
        i_++;
      }
    }
    if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
      i_++;
      if (!atEnd() && (peek() == '+' || peek() == '-')) {
        i_++;
      }
      if (atEnd() || !absl::ascii_isdigit(static_cast<unsigned char>(peek()))) {
        return false;
      }
      while (!atEnd() && absl::ascii_isdigit(static_cast<unsigned char>(peek()))) {
        i_++;
      }
    }
    return i_ > start;
  }

  bool literal(absl::string_view word) {
    if (s_.substr(i_, word.size()) != word) {
      return false;
    }
    i_ += word.size();
    return true;
  }

  // Any value; fills `v`.
  bool value(JsonValue& v, int depth) {
    if (depth > kMaxDepth) {
      return false;
    }
    ws();
    const size_t start = i_;
    switch (peek()) {
    case '"':
      i_++;
      v.type = JsonType::String;
      return string(v.raw, v.escaped);
    case '{': {
      i_++;
      ws();
      if (!eat('}')) {
        while (true) {
          ws();
          absl::string_view k;
          bool esc;
          if (!eat('"') || !string(k, esc)) {
            return false;
          }
          ws();
          if (!eat(':')) {
            return false;
          }
          JsonValue inner;
          if (!value(inner, depth + 1)) {
            return false;
          }
          ws();
          if (eat('}')) {
            break;
          }
          if (!eat(',')) {
            return false;
          }
        }
      }
      v.type = JsonType::Object;
      v.raw = s_.substr(start, i_ - start);
      v.escaped = false;
      return true;
    }
    case '[': {
      i_++;
      ws();
      if (!eat(']')) {
        while (true) {
          JsonValue inner;
          if (!value(inner, depth + 1)) {
            return false;
          }
          ws();
          if (eat(']')) {
            break;
          }
          if (!eat(',')) {
            return false;
          }
        }
      }
      v.type = JsonType::Array;
      v.raw = s_.substr(start, i_ - start);
      v.escaped = false;
      return true;
    }
    case 't':
      v.type = JsonType::True;
      break;
    case 'f':
      v.type = JsonType::False;
      break;
    case 'n':
      v.type = JsonType::Null;
      break;
    default:
      if (!number()) {
        return false;
      }
      v.type = JsonType::Number;
      v.raw = s_.substr(start, i_ - start);
      v.escaped = false;
      return true;
    }
    const absl::string_view word = v.type == JsonType::True    ? "true"
                                   : v.type == JsonType::False ? "false"
                                                               : "null";
    if (!literal(word)) {
      return false;
    }
    v.raw = word;
    v.escaped = false;
    return true;
  }

  size_t pos() const { return i_; }

private:
  absl::string_view s_;
  size_t i_ = 0;
};

void appendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

uint32_t hex4(absl::string_view s) {
  uint32_t v = 0;
  for (char c : s.substr(0, 4)) {
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v |= c - 'a' + 10;
    } else {
      v |= c - 'A' + 10;
    }
  }
  return v;
}

} // namespace

bool jsonUnescape(absl::string_view raw, std::string& out) {
  out.clear();
  for (size_t i = 0; i < raw.size(); i++) {
    if (raw[i] != '\\') {
      out.push_back(raw[i]);
      continue;
    }
    if (i + 1 >= raw.size()) {
      return false;
    }
    const char e = raw[++i];
    switch (e) {
    case '"': out.push_back('"'); break;
    case '\\': out.push_back('\\'); break;
    case '/': out.push_back('/'); break;
    case 'b': out.push_back('\b'); break;
    case 'f': out.push_back('\f'); break;
    case 'n': out.push_back('\n'); break;
    case 'r': out.push_back('\r'); break;
    case 't': out.push_back('\t'); break;
    case 'u': {
      if (i + 5 > raw.size()) {
        return false;
      }
      uint32_t cp = hex4(raw.substr(i + 1, 4));
      i += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        // A high surrogate must be followed by an escaped low surrogate.
        if (i + 7 > raw.size() || raw[i + 1] != '\\' || raw[i + 2] != 'u') {
          return false;
        }
        const uint32_t lo = hex4(raw.substr(i + 3, 4));
        if (lo < 0xdc00 || lo > 0xdfff) {
          return false;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return false;
      }
      appendUtf8(cp, out);
      break;
    }
    default:
      return false;
    }
  }
  return true;
}

bool scanJsonObject(absl::string_view json,
                    absl::FunctionRef<bool(absl::string_view key, const JsonValue& value)> fn) {
  // Keys seen so far (for the duplicate check). Escaped keys are unescaped into `storage`.
  std::array<absl::string_view, kMaxMembers> keys;
  thread_local std::array<std::string, kMaxMembers> storage;
  int n = 0;
  Scanner s(json);
  s.ws();
  if (!s.eat('{')) {
    return false;
  }
  s.ws();
  if (!s.eat('}')) {
    while (true) {
      s.ws();
      absl::string_view key;
      bool escaped = false;
      if (!s.eat('"') || !s.string(key, escaped)) {
        return false;
      }
      if (n >= kMaxMembers) {
        return false;
      }
      if (escaped) {
        if (!jsonUnescape(key, storage[n])) {
          return false;
        }
        key = storage[n];
      }
      for (int k = 0; k < n; k++) {
        if (keys[k] == key) {
          return false;
        }
      }
      keys[n++] = key;
      s.ws();
      if (!s.eat(':')) {
        return false;
      }
      JsonValue v;
      if (!s.value(v, 1)) {
        return false;
      }
      if (!fn(key, v)) {
        return false;
      }
      s.ws();
      if (s.eat('}')) {
        break;
      }
      if (!s.eat(',')) {
        return false;
      }
    }
  }
  s.ws();
  return s.atEnd();
}

bool jsonScalarText(const JsonValue& v, std::string& out) {
  switch (v.type) {
  case JsonType::String:
    if (v.escaped) {
      return jsonUnescape(v.raw, out);
    }
    out.assign(v.raw.data(), v.raw.size());
    return true;
  case JsonType::Number:
  case JsonType::True:
  case JsonType::False:
    out.assign(v.raw.data(), v.raw.size());
    return true;
  default:
    return false;
  }
}

bool forEachJsonArrayElement(absl::string_view array_raw,
                             absl::FunctionRef<bool(const JsonValue&)> fn) {
  Scanner s(array_raw);
  s.ws();
  if (!s.eat('[')) {
    return false;
  }
  s.ws();
  if (s.eat(']')) {
    s.ws();
    return s.atEnd();
  }
  while (true) {
    JsonValue v;
    if (!s.value(v, 1) || !fn(v)) {
      return false;
    }
    s.ws();
    if (s.eat(']')) {
      break;
    }
    if (!s.eat(',')) {
      return false;
    }
  }
  s.ws();
  return s.atEnd();
}

} // namespace gw::policy
