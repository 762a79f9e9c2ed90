#include "source/common/percent.h"

namespace gw {

int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hexDigitValue(in[i + 1]);
      const int lo = hexDigitValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

std::string percentEncode(absl::string_view in, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size() + 8);
  for (unsigned char c : in) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool queryKeyIs(absl::string_view raw_key, absl::string_view name) {
  return raw_key.find('%') == absl::string_view::npos ? raw_key == name
                                                       : percentDecode(raw_key) == name;
}

void forEachQueryPair(
    absl::string_view query,
    absl::FunctionRef<bool(absl::string_view pair, absl::string_view key, absl::string_view value)>
        fn) {
  for (absl::string_view rest = query; !rest.empty();) {
    const size_t amp = rest.find('&');
    const absl::string_view pair = rest.substr(0, amp);
    rest = amp == absl::string_view::npos ? absl::string_view() : rest.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (!fn(pair, pair.substr(0, eq),
            eq == absl::string_view::npos ? absl::string_view() : pair.substr(eq + 1))) {
      return;
    }
  }
}

} // namespace gw
