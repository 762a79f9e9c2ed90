#include "source/server/socket_writer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <utility>

#include "source/tls/session.h"

namespace gw::server {

namespace {

// Corked writes gather up to this many bytes; a larger write goes out at once (with what gathered
// before it, in one writev), so big bodies are never copied into the gather buffer.
constexpr size_t kMaxGather = 16 * 1024;
// The gather buffer keeps its capacity between requests up to this size (idle connections stay
// small; the common head + small body fits).
constexpr size_t kKeepCapacity = 2048;

struct WriteReq {
  uv_write_t req;
  std::string data;
  SocketWriter* writer;
};

// uv_try_write without its write()/writev(): send() on a socket skips the VFS layer that write()
// goes through (sendmsg when there are two buffers). The same
// contract: bytes written, UV_EAGAIN when nothing could be, or a negative libuv error. Streams
// that are not sockets (ENOTSOCK) go through libuv.
int trySend(uv_stream_t* stream, uv_buf_t* bufs, unsigned n) {
  if (stream->connect_req != nullptr || stream->write_queue_size != 0) {
    return UV_EAGAIN;  // libuv still has bytes of this stream queued: they go first
  }
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(stream), &fd) != 0) {
    return uv_try_write(stream, bufs, n);
  }
  iovec iov[2];
  for (unsigned i = 0; i < n; i++) {
    iov[i].iov_base = bufs[i].base;
    iov[i].iov_len = bufs[i].len;
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  for (;;) {
    const ssize_t rc = n == 1 ? ::send(fd, bufs[0].base, bufs[0].len, MSG_NOSIGNAL | MSG_DONTWAIT)
                              : ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (rc >= 0) {
      return static_cast<int>(rc);
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      return UV_EAGAIN;
    }
    if (errno == ENOTSOCK) {
      return uv_try_write(stream, bufs, n);
    }
    return -errno;  // libuv errors are negated errno values on Unix
  }
}

} // namespace

SocketWriter::~SocketWriter() {
  if (batch_slot_ >= 0) {
    batch_->forget(this);
  }
}

int SocketWriter::write(absl::string_view data) { return write(data, nullptr); }

int SocketWriter::write(std::string&& data) { return write(data, &data); }

int SocketWriter::write(absl::string_view data, std::string* owned) {
  if (data.empty()) {
    return 0;
  }
  if ((corked_ > 0 || batch_ != nullptr) && gathered_.size() + data.size() <= kMaxGather) {
    gathered_.append(data.data(), data.size());
    return corked_ > 0 ? 0 : sendSoon();
  }
  return send(data, owned);
}

int SocketWriter::uncork() {
  if (corked_ == 0 || --corked_ > 0 || gathered_.empty()) {
    return 0;
  }
  return sendSoon();
}

int SocketWriter::sendSoon() {
  if (batch_ == nullptr) {
    return sendGathered();
  }
  if (batch_slot_ < 0 && !gathered_.empty()) {
    batch_->add(this);
  }
  released_ = gathered_.size();
  return 0;
}

void SocketWriter::discard() {
  if (released_ > 0 && released_ <= gathered_.size()) {
    gathered_.resize(released_);
    sendGathered();  // an error here changes nothing: the stream is going away
  }
  clearGathered();
}

int SocketWriter::flush() { return sendGathered(); }

int SocketWriter::sendGathered() {
  if (gathered_.empty()) {
    return 0;
  }
  std::string out;
  out.swap(gathered_);
  released_ = 0;
  const int rc = send(out, &out);
  if (out.capacity() <= kKeepCapacity && gathered_.capacity() < out.capacity()) {
    out.clear();
    gathered_.swap(out);  // keep the buffer (its bytes were sent, or copied into the queue)
  }
  return rc;
}

void SocketWriter::flushBatched() {
  if (corked_ > 0) {
    return;  // uncork() adds it again
  }
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(stream_))) {
    clearGathered();
    return;
  }
  const int rc = sendGathered();
  if (rc != 0) {
    done_(owner_, rc);  // the owner closes, as for a failed queued write
  }
}

size_t SocketWriter::queuedBytes() const {
  return uv_stream_get_write_queue_size(stream_) + gathered_.size();
}

int SocketWriter::sendTlsOutput() {
  if (tls_ == nullptr || !tls_->hasOutput()) {
    return 0;
  }
  if (!gathered_.empty()) {
    // The next encryption appends after the session's pending output, in order.
    return corked_ > 0 ? 0 : sendSoon();
  }
  std::string wire;
  tls_->takeOutput(&wire);
  return sendRaw(std::move(wire));
}

// The gathered plaintext (if any) and `data`, encrypted together, then sent as ciphertext.
int SocketWriter::sendEncrypted(absl::string_view data) {
  std::string wire;
  const bool prefix = !gathered_.empty() && data.data() != gathered_.data();
  bool ok = true;
  if (prefix) {
    ok = tls_->send(gathered_, &wire);
    clearGathered();
  }
  ok = ok && tls_->send(data, &wire);
  if (!ok) {
    return UV_EPROTO;
  }
  return sendRaw(std::move(wire));
}

int SocketWriter::sendRaw(std::string&& wire) {
  if (wire.empty()) {
    return 0;
  }
  tls::Session* session = tls_;
  tls_ = nullptr;  // send() as plaintext: these bytes are already ciphertext
  const int rc = send(wire, &wire);
  tls_ = session;
  return rc;
}

// Sends what gathered (if anything) followed by `data`, in one syscall. `owned`, when set, is the
// string `data` views, which may be moved into the queue. With TLS, encrypted first.
int SocketWriter::send(absl::string_view data, std::string* owned) {
  if (tls_ != nullptr) {
    return sendEncrypted(data);
  }
  uv_buf_t bufs[2];
  unsigned n = 0;
  const bool prefix = !gathered_.empty() && data.data() != gathered_.data();
  if (prefix) {
    bufs[n++] = uv_buf_init(gathered_.data(), static_cast<unsigned>(gathered_.size()));
  }
  bufs[n++] = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  const size_t total = (prefix ? gathered_.size() : 0) + data.size();
  size_t written = 0;
  if (pending_ == 0) {
    const int rc = trySend(stream_, bufs, n);
    if (rc >= 0) {
      written = static_cast<size_t>(rc);
    } else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
      clearGathered();
      return rc;
    }
  }
  if (written == total) {
    if (prefix) {
      clearGathered();
    }
    return 0;
  }
  // Queue the rest, in order: what remains of the gathered bytes, then of `data`.
  if (prefix) {
    std::string rest;
    if (written < gathered_.size()) {
      rest.reserve(total - written);
      rest.append(gathered_, written, std::string::npos);
      written = 0;
    } else {
      written -= gathered_.size();
    }
    clearGathered();
    if (!rest.empty()) {
      rest.append(data.data(), data.size());
      return queue(rest, &rest);
    }
  }
  data.remove_prefix(written);
  return queue(data, written == 0 ? owned : nullptr);
}

int SocketWriter::queue(absl::string_view data, std::string* owned) {
  auto* w = new WriteReq{uv_write_t{}, owned != nullptr ? std::move(*owned) : std::string(data),
                         this};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  pending_++;
  const int rc = uv_write(&w->req, stream_, &buf, 1, [](uv_write_t* req, int status) {
    auto* w = static_cast<WriteReq*>(req->data);
    SocketWriter* self = w->writer;
    delete w;
    self->pending_--;
    self->done_(self->owner_, status);
  });
  if (rc != 0) {
    pending_--;
    delete w;
  }
  return rc;
}

// ---------------------------------------------------------------------------------------------
// WriteBatch

WriteBatch::WriteBatch(uv_loop_t* loop) {
  uv_check_init(loop, &check_);
  check_.data = this;
  uv_check_start(&check_, [](uv_check_t* h) { static_cast<WriteBatch*>(h->data)->flush(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  uv_prepare_init(loop, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_,
                   [](uv_prepare_t* h) { static_cast<WriteBatch*>(h->data)->flush(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
}

void WriteBatch::add(SocketWriter* w) {
  w->batch_slot_ = static_cast<int>(writers_.size());
  writers_.push_back(w);
}

void WriteBatch::forget(SocketWriter* w) {
  writers_[static_cast<size_t>(w->batch_slot_)] = nullptr;
  w->batch_slot_ = -1;
}

void WriteBatch::flush() {
  // Index loop: a flush can add writers (an error closes a connection, which answers another).
  for (size_t i = 0; i < writers_.size(); i++) {
    SocketWriter* w = writers_[i];
    if (w != nullptr) {
      w->batch_slot_ = -1;
      writers_[i] = nullptr;
      w->flushBatched();
    }
  }
  writers_.clear();
}

void WriteBatch::close() {
  flush();
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
}

} // namespace gw::server
