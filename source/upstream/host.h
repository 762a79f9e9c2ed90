#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace gw::upstream {

// One upstream endpoint as seen by one worker. The address part is immutable config; the counters
// are owned by the worker (never shared across threads).
struct Host {
  std::string address;          // "host:port" as configured
  sockaddr_storage sockaddr{};  // resolved at config load
  socklen_t sockaddr_len = 0;
  uint32_t weight = 1;
  bool healthy = true;
  uint32_t active_requests = 0;  // in flight on this worker
  uint64_t total_requests = 0;
};

} // namespace gw::upstream
