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
  const size_t n = in.size();
  if (n % 4 == 1) {
    return false;
  }
  // Exact output size, written in place four characters (three bytes) at a time: this runs three
  // times per JWT on the request path, where a push_back per byte cost twice the HMAC.
  const size_t full = n / 4;
  const size_t rest = n % 4;  // 0, 2 or 3 characters -> 0, 1 or 2 bytes
  out.resize(full * 3 + (rest == 0 ? 0 : rest - 1));
  const auto* src = reinterpret_cast<const unsigned char*>(in.data());
  char* dst = out.data();
  for (size_t i = 0; i < full; i++, src += 4, dst += 3) {
    const int8_t a = kTable[src[0]];
    const int8_t b = kTable[src[1]];
    const int8_t c = kTable[src[2]];
    const int8_t d = kTable[src[3]];
    if ((a | b | c | d) < 0) {
      out.clear();
      return false;
    }
    const uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    dst[0] = static_cast<char>(v >> 16);
    dst[1] = static_cast<char>((v >> 8) & 0xff);
    dst[2] = static_cast<char>(v & 0xff);
  }
  if (rest == 0) {
    return true;
  }
  uint32_t v = 0;
  for (size_t k = 0; k < rest; k++) {
    const int8_t x = kTable[src[k]];
    if (x < 0) {
      out.clear();
      return false;
    }
    v = (v << 6) | static_cast<uint32_t>(x);
  }
  // Leftover bits (4 with 2 characters, 2 with 3) must be zero: otherwise two encodings decode
  // to the same bytes.
  if (rest == 2) {
    if ((v & 0xf) != 0) {
      out.clear();
      return false;
    }
    dst[0] = static_cast<char>(v >> 4);
  } else {
    if ((v & 0x3) != 0) {
      out.clear();
      return false;
    }
    dst[0] = static_cast<char>(v >> 10);
    dst[1] = static_cast<char>((v >> 2) & 0xff);
  }
  return true;
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
