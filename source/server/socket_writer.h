#pragma once

#include <uv.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gw::tls {
class Session;
} // namespace gw::tls

namespace gw::server {

// The write side of one libuv stream, shaped for the proxy's small-message traffic:
//
// * A write first goes straight to the socket with send() (sendmsg() for two buffers; libuv's
//   uv_try_write when the stream is not a socket): when the kernel takes it all
//   (the common case for heads and small bodies) there is no uv_write_t, no copy of the data, no
//   completion callback and no epoll re-arm (libuv re-arms the watcher after every completed
//   queued write, which costs an epoll_ctl per request otherwise). Only what the socket does not
//   take is copied and queued with uv_write, after which writes queue behind it in order.
// * While corked, writes gather in one buffer and leave in one syscall at uncork(): the response
//   head and a small body, or the responses to several pipelined requests, become one write.
//
// * With a WriteBatch (one per event loop), small writes are not sent at once either: they gather
//   and leave when the loop has run every callback of the current iteration (see WriteBatch). A
//   loop that has read 50 requests sends the 50 upstream requests back to back, instead of
//   interleaving each send with the next read: the receiver is woken once for the burst rather
//   than once per message, which on loopback is most of what a send costs beyond the copy.
//
// * With a TLS session attached (setTls, by TlsTransport), every byte is encrypted at send time:
//   what gathered under a cork or in the batch becomes one SSL_write, so few records.
//
// The owner is told when queued writes finish (see `Done`), so it can apply watermarks and close
// after the last byte. Not thread-safe: the stream's loop thread only.
class WriteBatch;

class SocketWriter {
public:
  // Called after each queued (uv_write) write completes, with libuv's status. Not called for
  // writes that completed synchronously.
  using Done = void (*)(void* owner, int status);

  // `batch` may be null (every write leaves at once, or at uncork()).
  SocketWriter(uv_stream_t* stream, void* owner, Done done, WriteBatch* batch = nullptr)
      : stream_(stream), owner_(owner), done_(done), batch_(batch) {}
  ~SocketWriter();
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
  // Before a reset or close: drops gathered bytes still under a cork, and sends at once those
  // released to the end-of-iteration batch (without the batch they would already be out).
  void discard();

  // Bytes accepted but not yet handed to the kernel: queued writes plus gathered bytes.
  size_t queuedBytes() const;
  // Queued uv_write requests still in flight.
  int pendingWrites() const { return pending_; }

  // Encrypts everything sent from now on with `session` (nullptr: plaintext again).
  void setTls(tls::Session* session) { tls_ = session; }
  // Sends what the TLS session has to say by itself (handshake messages, tickets, alerts): now,
  // or, when plaintext is gathered, with it (the session's output is then sent first).
  int sendTlsOutput();

private:
  friend class WriteBatch;
  int write(absl::string_view data, std::string* owned);
  int send(absl::string_view data, std::string* owned);
  int sendEncrypted(absl::string_view data);
  int sendRaw(std::string&& wire);
  void clearGathered() {
    gathered_.clear();
    released_ = 0;
  }
  int sendGathered();
  // Sends what gathered when the stream's loop iteration ends (WriteBatch), or now without one.
  int sendSoon();
  int queue(absl::string_view data, std::string* owned);
  // Called by the batch at the end of the loop iteration.
  void flushBatched();

  uv_stream_t* stream_;
  void* owner_;
  Done done_;
  WriteBatch* batch_;
  tls::Session* tls_ = nullptr;  // set: bytes are encrypted in send()
  std::string gathered_;
  int corked_ = 0;
  int pending_ = 0;
  // Leading bytes of gathered_ released to the batch (written or uncorked, not under a cork).
  size_t released_ = 0;
  // Position in batch_'s list while a flush is due; -1 when none.
  int batch_slot_ = -1;
};

// The writers of one event loop that have bytes to send at the end of the loop iteration. They
// are flushed by a check handle (after the iteration's I/O callbacks) and by a prepare handle
// (before the loop blocks in epoll, for writes made by timers or close callbacks), so no write
// waits for another event. Both handles are unreferenced: they never keep the loop alive.
// Loop thread only.
class WriteBatch {
public:
  explicit WriteBatch(uv_loop_t* loop);
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  void add(SocketWriter* w);
  void forget(SocketWriter* w);
  // Sends for every writer in the list (also those added while flushing).
  void flush();
  // Flushes, then closes the loop handles (the object must outlive the loop's next run, which
  // finishes the close).
  void close();

private:
  uv_check_t check_;
  uv_prepare_t prepare_;
  std::vector<SocketWriter*> writers_;
};

} // namespace gw::server
