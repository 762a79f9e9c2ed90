#pragma once

// A raw HTTP/2 peer for the session tests: builds client frames (HPACK literals without
// indexing, no Huffman) and parses the server's frames, decoding header blocks with nghttp2's
// HPACK inflater.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gw::http2::testing {

using Fields = std::vector<std::pair<std::string, std::string>>;

inline std::string frame(uint8_t type, uint8_t flags, uint32_t sid, const std::string& payload) {
  std::string f;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int i = 3; i >= 0; i--) {
    f.push_back(static_cast<char>((sid >> (8 * i)) & 0xff));
  }
  return f + payload;
}

inline void hpackInt(uint32_t v, int prefix, uint8_t first, std::string& out) {
  const uint32_t limit = (1u << prefix) - 1;
  if (v < limit) {
    out.push_back(static_cast<char>(first | v));
    return;
  }
  out.push_back(static_cast<char>(first | limit));
  v -= limit;
  while (v >= 128) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline std::string literals(const Fields& fields) {
  std::string out;
  for (const auto& [n, v] : fields) {
    out.push_back(0);
    hpackInt(static_cast<uint32_t>(n.size()), 7, 0, out);
    out += n;
    hpackInt(static_cast<uint32_t>(v.size()), 7, 0, out);
    out += v;
  }
  return out;
}

inline Fields get(const std::string& path, Fields extra = {}) {
  Fields f = {{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"},
              {":path", path}};
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}

inline std::string headersFrame(uint32_t sid, const Fields& fields, bool end_stream) {
  return frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | (end_stream ? 1 : 0), sid,
               literals(fields));
}

inline std::string dataFrame(uint32_t sid, const std::string& data, bool end_stream) {
  return frame(NGHTTP2_DATA, end_stream ? 1 : 0, sid, data);
}

inline std::string u32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; i++) s[i] = static_cast<char>((v >> (8 * (3 - i))) & 0xff);
  return s;
}

inline std::string preface(const std::string& settings_payload = "") {
  return std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24) +
         frame(NGHTTP2_SETTINGS, 0, 0, settings_payload);
}

struct ServerFrame {
  uint8_t type;
  uint8_t flags;
  uint32_t sid;
  std::string payload;
  Fields fields;  // HEADERS, decoded
  uint32_t errorCode() const {
    const size_t at = type == NGHTTP2_GOAWAY ? 4 : 0;
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(payload[at + i]);
    return v;
  }
};

// Parses what the server wrote (incrementally); header blocks without CONTINUATION.
class ServerOutput {
public:
  ServerOutput() { nghttp2_hd_inflate_new(&inflater_); }
  ~ServerOutput() { nghttp2_hd_inflate_del(inflater_); }

  std::vector<ServerFrame> parse(std::string& buf) {
    std::vector<ServerFrame> out;
    while (buf.size() >= 9) {
      const uint32_t n = (static_cast<uint8_t>(buf[0]) << 16) |
                         (static_cast<uint8_t>(buf[1]) << 8) | static_cast<uint8_t>(buf[2]);
      if (buf.size() < 9 + n) break;
      ServerFrame f;
      f.type = static_cast<uint8_t>(buf[3]);
      f.flags = static_cast<uint8_t>(buf[4]);
      f.sid = ((static_cast<uint8_t>(buf[5]) & 0x7f) << 24) | (static_cast<uint8_t>(buf[6]) << 16) |
              (static_cast<uint8_t>(buf[7]) << 8) | static_cast<uint8_t>(buf[8]);
      f.payload = buf.substr(9, n);
      buf.erase(0, 9 + n);
      if (f.type == NGHTTP2_HEADERS) {
        decode(f);
      }
      out.push_back(std::move(f));
    }
    return out;
  }

private:
  void decode(ServerFrame& f) {
    const uint8_t* in = reinterpret_cast<const uint8_t*>(f.payload.data());
    size_t left = f.payload.size();
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      const ssize_t rv = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
      if (rv < 0) return;
      in += rv;
      left -= static_cast<size_t>(rv);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        f.fields.emplace_back(std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                              std::string(reinterpret_cast<char*>(nv.value), nv.valuelen));
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater_);
        return;
      }
      if (left == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) return;
    }
  }
  nghttp2_hd_inflater* inflater_ = nullptr;
};

} // namespace gw::http2::testing
