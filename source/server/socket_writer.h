#pragma once

#include <uv.h>

#include <string>

#include "absl/strings/string_view.h"

namespace gw::server {

// The write side of one libuv stream, shaped for the proxy's small-message traffic:
//
// * A write first goes straight to the socket with uv_try_write: when the kernel takes it all
//   (the common case for heads and small bodies) there is no uv_write_t, no copy of the data, no
//   completion callback and no epoll re-arm (libuv re-arms the watcher after every completed
//   queued write, which costs an epoll_ctl per request otherwise). Only what the socket does not
//   take is copied and queued with uv_write, after which writes queue behind it in order.
// * While corked, writes gather in one buffer and leave in one syscall at uncork(): the response
//   head and a small body, or the responses to several pipelined requests, become one write.
//
// The owner is told when queued writes finish (see `Done`), so it can apply watermarks and close
// after the last byte. Not thread-safe: the stream's loop thread only.
class SocketWriter {
public:
  // Called after each queued (uv_write) write completes, with libuv's status. Not called for
  // writes that completed synchronously.
  using Done = void (*)(void* owner, int status);

  SocketWriter(uv_stream_t* stream, void* owner, Done done)
      : stream_(stream), owner_(owner), done_(done) {}
  SocketWriter(const SocketWriter&) = delete;
  SocketWriter& operator=(const SocketWriter&) = delete;

  // Returns 0 or a libuv error (the caller closes the stream). `data` is copied only if it has
  // to wait.
  int write(absl::string_view data);
  // The same; the string is moved into the queue instead of copied if it has to wait.
  int write(std::string&& data);

  void cork() { corked_++; }
  // Sends what gathered while corked when the outermost cork is removed. Returns 0 or an error.
  int uncork();
  bool corked() const { return corked_ > 0; }
  // Sends what gathered now, corked or not (before a graceful close). Returns 0 or an error.
  int flush();
  // Drops gathered, unsent bytes (the stream is being reset).
  void discard() { gathered_.clear(); }

  // Bytes accepted but not yet handed to the kernel: queued writes plus gathered bytes.
  size_t queuedBytes() const;
  // Queued uv_write requests still in flight.
  int pendingWrites() const { return pending_; }

private:
  int send(absl::string_view data, std::string* owned);
  int queue(absl::string_view data, std::string* owned);

  uv_stream_t* stream_;
  void* owner_;
  Done done_;
  std::string gathered_;
  int corked_ = 0;
  int pending_ = 0;
};

} // namespace gw::server
