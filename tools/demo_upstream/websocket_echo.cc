#include "tools/demo_upstream/websocket_echo.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace demo {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const std::string* header(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

bool hasToken(std::string_view list, std::string_view token) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) {
      comma = list.size();
    }
    if (equalsIgnoreCase(trim(list.substr(pos, comma - pos)), token)) {
      return true;
    }
    pos = comma + 1;
  }
  return false;
}

std::string closePayload(uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p.append(reason);
  return p;
}

}  // namespace

std::string webSocketAccept(std::string_view key) {
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

std::string webSocketHandshake(const HeaderList& headers, std::string_view instance, bool* ok) {
  *ok = false;
  const std::string* upgrade = header(headers, "upgrade");
  const std::string* version = header(headers, "sec-websocket-version");
  const std::string* key = header(headers, "sec-websocket-key");
  std::string tail = "x-demo-instance: " + std::string(instance) + "\r\n";
  if (version != nullptr && trim(*version) != "13") {
    return "HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\ncontent-length: 0\r\n" +
           tail + "connection: close\r\n\r\n";
  }
  unsigned char decoded[32];
  const std::string_view k = key != nullptr ? trim(*key) : std::string_view();
  const bool key_ok = k.size() == 24 &&
                      EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(k.data()),
                                      24) == 18;  // 16 bytes (+ 2 for the padding)
  if (upgrade == nullptr || !hasToken(*upgrade, "websocket") || version == nullptr || !key_ok) {
    return "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 26\r\n" +
           tail + "connection: close\r\n\r\nnot a WebSocket handshake\n";
  }
  *ok = true;
  return "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
         "sec-websocket-accept: " +
         webSocketAccept(k) + "\r\n" + tail + "\r\n";
}

void appendWebSocketFrame(uint8_t opcode, std::string_view payload, std::string& out) {
  out.push_back(static_cast<char>(0x80 | opcode));
  const uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    out.push_back(126);
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(127);
    for (int i = 7; i >= 0; i--) {
      out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
  }
  out.append(payload);
}

bool WebSocketEcho::feed(std::string_view data, std::string& out) {
  if (over_) {
    return false;
  }
  buf_.append(data);
  size_t off = 0;
  while (true) {
    const size_t avail = buf_.size() - off;
    if (avail < 2) {
      break;
    }
    const auto* b = reinterpret_cast<const unsigned char*>(buf_.data() + off);
    const bool fin = (b[0] & 0x80) != 0;
    const uint8_t opcode = b[0] & 0x0f;
    const bool masked = (b[1] & 0x80) != 0;
    uint64_t len = b[1] & 0x7f;
    size_t hdr = 2;
    if (len == 126) {
      if (avail < 4) {
        break;
      }
      len = (uint64_t{b[2]} << 8) | b[3];
      hdr = 4;
    } else if (len == 127) {
      if (avail < 10) {
        break;
      }
      len = 0;
      for (int i = 0; i < 8; i++) {
        len = (len << 8) | b[2 + i];
      }
      hdr = 10;
    }
    if ((b[0] & 0x70) != 0 || !masked) {
      // Reserved bits without an extension, or an unmasked client frame (RFC 6455 5.1).
      appendWebSocketFrame(0x8, closePayload(1002, "protocol error"), out);
      over_ = true;
      return false;
    }
    if (len > kMaxWebSocketMessage) {
      appendWebSocketFrame(0x8, closePayload(1009, "message too big"), out);
      over_ = true;
      return false;
    }
    if (avail < hdr + 4 + len) {
      break;
    }
    const unsigned char* mask = b + hdr;
    std::string payload(reinterpret_cast<const char*>(b + hdr + 4), static_cast<size_t>(len));
    for (size_t i = 0; i < payload.size(); i++) {
      payload[i] = static_cast<char>(payload[i] ^ mask[i & 3]);
    }
    off += hdr + 4 + static_cast<size_t>(len);
    if (!onFrame(opcode, fin, payload, out)) {
      over_ = true;
      return false;
    }
  }
  buf_.erase(0, off);
  return true;
}

bool WebSocketEcho::onFrame(uint8_t opcode, bool fin, std::string_view payload, std::string& out) {
  switch (opcode) {
  case 0x0:  // continuation
    if (message_opcode_ == 0 || message_.size() + payload.size() > kMaxWebSocketMessage) {
      appendWebSocketFrame(0x8, closePayload(1002, "unexpected continuation"), out);
      return false;
    }
    message_.append(payload);
    if (fin) {
      appendWebSocketFrame(message_opcode_, message_, out);
      message_.clear();
      message_opcode_ = 0;
    }
    return true;
  case 0x1:  // text
  case 0x2:  // binary
    if (message_opcode_ != 0) {
      appendWebSocketFrame(0x8, closePayload(1002, "message interleaved"), out);
      return false;
    }
    if (!fin) {
      message_opcode_ = opcode;
      message_.assign(payload);
      return true;
    }
    if (opcode == 0x1 && payload == "__server_close__") {
      appendWebSocketFrame(0x8, closePayload(1000, "server closes"), out);
      return false;
    }
    appendWebSocketFrame(opcode, payload, out);
    return true;
  case 0x8:  // close: answered with the client's status code, then the connection ends
    appendWebSocketFrame(0x8, payload.substr(0, std::min<size_t>(payload.size(), 2)), out);
    return false;
  case 0x9:  // ping
    if (!fin || payload.size() > 125) {
      appendWebSocketFrame(0x8, closePayload(1002, "bad ping"), out);
      return false;
    }
    appendWebSocketFrame(0xA, payload, out);
    return true;
  case 0xA:  // pong: nothing to do
    return true;
  default:
    appendWebSocketFrame(0x8, closePayload(1002, "unknown opcode"), out);
    return false;
  }
}

} // namespace demo
