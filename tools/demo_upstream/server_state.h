#pragma once
// The demo upstream's process-wide state: limits, options, counters and the globals every
// connection shares (one thread: no locks).
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

#include "llhttp.h"

namespace demo {

constexpr size_t kReadBufferSize = 64 * 1024;
constexpr size_t kFastChunkSize = 64 * 1024;
constexpr size_t kSlowChunkSize = 16 * 1024;
// Stop producing response bytes while more than this is queued in libuv, resume below low water.
constexpr size_t kWriteHighWater = 256 * 1024;
constexpr size_t kWriteLowWater = 64 * 1024;
// Pipelined input buffered while a response is in progress; reading stops above this.
constexpr size_t kMaxPendingInput = 256 * 1024;
constexpr size_t kMaxUrlBytes = 64 * 1024;
constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxHeaderCount = 256;
constexpr uint64_t kLingerMs = 2000;
constexpr uint64_t kMaxDelayMs = 24ull * 3600 * 1000;
constexpr uint64_t kMaxStreamBytes = 1ull << 50;
constexpr char kFillerPattern[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-\n";
static_assert(sizeof(kFillerPattern) - 1 == 64, "filler pattern must be 64 bytes");

struct Options {
  std::string address = "127.0.0.1";
  int port = -1;
  std::string service = "demo";
  std::string instance;
  uint64_t delayMs = 0;
  int failStatus = 0;
  std::optional<uint64_t> streamBytes;
  bool quiet = false;
  std::string jwksDir;
};

struct Stats {
  uint64_t requests = 0;
  uint64_t connectionsAccepted = 0;
  uint64_t activeConnections = 0;
};

class Connection;

struct Server {
  Options options;
  Stats stats;
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  std::unordered_set<Connection*> connections;
  bool stopping = false;
};

extern Server gServer;
extern char gFiller[kFastChunkSize];  // kFillerPattern repeated (main.cc fills it)
extern llhttp_settings_t gSettings;   // the parser callbacks (main.cc)

} // namespace demo
