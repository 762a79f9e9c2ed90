#include "source/policy/base64url.h"

#include <array>
#include <cstdint>

namespace gw::policy {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> makeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  for (int i = 0; i < 64; i++) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return t;
}
constexpr std::array<int8_t, 256> kTable = makeTable();

} // namespace

bool base64UrlDecode(absl::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 == 1) {
    return false;
  }
  out.reserve(in.size() * 3 / 4 + 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    const int8_t v = kTable[c];
    if (v < 0) {
      return false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits (2 or 4) must be zero: otherwise two encodings decode to the same bytes.
  return bits == 0 || (acc & ((1u << bits) - 1)) == 0;
}

void base64UrlEncode(absl::string_view in, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) {
    out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  }
}

} // namespace gw::policy
