#pragma once
// The demo upstream's WebSocket echo endpoint (RFC 6455) at /ws/echo: the opening handshake's
// answer, and an echo session over the frames that follow. Text and binary messages come back as
// they were sent (fragmented ones reassembled, sent back as one frame), a ping is answered with
// a pong, a close is answered with a close and the connection ends. The text message
// "__server_close__" makes the server start the close handshake itself (close code 1000).
#include <cstdint>
#include <string>
#include <string_view>

#include "tools/demo_upstream/text_util.h"

namespace demo {

inline constexpr std::string_view kWebSocketEchoPath = "/ws/echo";
inline constexpr size_t kMaxWebSocketMessage = 16 << 20;

// base64(SHA-1(key + the RFC 6455 GUID)): the Sec-WebSocket-Accept for `key`.
std::string webSocketAccept(std::string_view key);

// The answer to an upgrade request for the echo endpoint: a 101 with Sec-WebSocket-Accept when
// the request is a valid WebSocket handshake (Upgrade: websocket, Sec-WebSocket-Version: 13, a
// Sec-WebSocket-Key of 16 base64-encoded bytes); otherwise a 400 (426 for another version).
// `ok` tells which.
std::string webSocketHandshake(const HeaderList& headers, std::string_view instance, bool* ok);

class WebSocketEcho {
public:
  // Feeds bytes from the client and appends the frames to send back to `out`. Returns false once
  // the session is over (a close was exchanged or the client broke the protocol): send `out`,
  // then close the connection.
  bool feed(std::string_view data, std::string& out);

private:
  // Handles one complete frame; false ends the session.
  bool onFrame(uint8_t opcode, bool fin, std::string_view payload, std::string& out);

  std::string buf_;      // bytes of an incomplete frame
  std::string message_;  // a fragmented message so far
  uint8_t message_opcode_ = 0;  // 0: no fragmented message in progress
  bool over_ = false;
};

// Appends an unmasked server frame.
void appendWebSocketFrame(uint8_t opcode, std::string_view payload, std::string& out);

} // namespace demo
