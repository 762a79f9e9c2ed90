#pragma once

#include <uv.h>

namespace gw::server {

// libuv's alloc callback for every socket of a worker: one 64 KiB buffer per loop thread, since
// each read is consumed (parsed or copied) before the loop reads again.
inline void threadReadBuffer(uv_handle_t*, size_t, uv_buf_t* buf) {
  thread_local char storage[64 * 1024];
  buf->base = storage;
  buf->len = sizeof(storage);
}

} // namespace gw::server
