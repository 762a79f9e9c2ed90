#include "source/redis/hiredis_uv.h"

// hiredis 0.14 (Debian 12). The adapter header defines its functions `static`: it is included in
// this translation unit only.
#include <hiredis/adapters/libuv.h>
#include <hiredis/hiredis.h>

#include "absl/container/inlined_vector.h"

namespace gw::redis::internal {

namespace {

// Debian's hiredis 0.14.1 libuv adapter returns from its poll callback without telling hiredis
// when libuv reports an error, and libuv reports a socket with POLLERR only as an error (UV_EBADF,
// events 0) after stopping the watcher. A refused connect(2) and a connection reset are such
// sockets: with the adapter's hooks hiredis never hears of them, so a connect would hang until
// connect_timeout and a reset connection until stall_timeout (upstream fixed the adapter in
// 9ce15c4, hiredis 1.0; the unit tests cover both cases). So after
// redisLibuvAttach (which allocates the adapter's redisLibuvEvents, inits its uv_poll_t and
// installs the cleanup hook that closes and frees it) the four event hooks are replaced by these,
// which keep the same bookkeeping on the adapter's struct with a poll callback that, on an error,
// runs hiredis's handlers for the events it waits for: their read(2) or getsockopt(SO_ERROR)
// then fails with the real error (ECONNREFUSED, ECONNRESET) and hiredis ends the context.
void onPoll(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<redisLibuvEvents*>(handle->data);
  const int ev = status != 0 ? p->events : events;
  if (p->context != nullptr && (ev & UV_READABLE) != 0) {
    redisAsyncHandleRead(p->context);
  }
  // p->context is null when the read above freed the context (the cleanup hook nulls it; p itself
  // lives until the uv_close callback).
  if (p->context != nullptr && (ev & UV_WRITABLE) != 0) {
    redisAsyncHandleWrite(p->context);
  }
}

void setEvents(void* privdata, int events) {
  auto* p = static_cast<redisLibuvEvents*>(privdata);
  // hiredis asks for reads after every read and write: only a change, or a watcher libuv stopped
  // on an error, needs uv_poll_start (each costs epoll_ctl calls).
  if (events == p->events && (events == 0 || uv_is_active(reinterpret_cast<uv_handle_t*>(
                                                 &p->handle)) != 0)) {
    return;
  }
  p->events = events;
  if (events != 0) {
    uv_poll_start(&p->handle, events, &onPoll);
  } else {
    uv_poll_stop(&p->handle);
  }
}

void addRead(void* p) { setEvents(p, static_cast<redisLibuvEvents*>(p)->events | UV_READABLE); }
void delRead(void* p) { setEvents(p, static_cast<redisLibuvEvents*>(p)->events & ~UV_READABLE); }
void addWrite(void* p) { setEvents(p, static_cast<redisLibuvEvents*>(p)->events | UV_WRITABLE); }
void delWrite(void* p) { setEvents(p, static_cast<redisLibuvEvents*>(p)->events & ~UV_WRITABLE); }

} // namespace

bool attachToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  // The adapter allocates its redisLibuvEvents, inits the uv_poll_t on the socket and installs
  // its hooks; its cleanup hook (run by __redisAsyncFree, before redisFree closes the socket)
  // nulls p->context and uv_closes the poll handle, whose close callback frees p. So a freed
  // context leaves one closing handle on the loop for one iteration, then nothing.
  if (redisLibuvAttach(ac, loop) != REDIS_OK) {
    // uv_poll_init failed after the adapter installed its hooks but before their data: its
    // cleanup hook would dereference NULL inside redisAsyncFree. (The adapter's own small
    // allocation leaks on this path; a TCP socket does not fail uv_poll_init.)
    ac->ev.cleanup = nullptr;
    return false;
  }
  // Nothing is watched yet (no hook has run): from here on only ours do.
  ac->ev.addRead = &addRead;
  ac->ev.delRead = &delRead;
  ac->ev.addWrite = &addWrite;
  ac->ev.delWrite = &delWrite;
  return true;
}

bool sendArgv(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata,
              const std::vector<std::string>& args) {
  absl::InlinedVector<const char*, 8> argv;
  absl::InlinedVector<size_t, 8> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAsyncCommandArgv(ac, fn, privdata, static_cast<int>(args.size()), argv.data(),
                               lens.data()) == REDIS_OK;
}

RedisReply convertReply(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
  case REDIS_REPLY_INTEGER:
    out.type = RedisReply::Type::Integer;
    out.integer = r.integer;
    break;
  case REDIS_REPLY_STRING:
    out.type = RedisReply::Type::String;
    out.str.assign(r.str, r.len);
    break;
  case REDIS_REPLY_STATUS:
    out.type = RedisReply::Type::Status;
    out.str.assign(r.str, r.len);
    break;
  case REDIS_REPLY_ERROR:
    out.type = RedisReply::Type::Error;
    out.str.assign(r.str, r.len);
    break;
  case REDIS_REPLY_ARRAY:
    out.type = RedisReply::Type::Array;
    out.elements.reserve(r.elements);
    for (size_t i = 0; i < r.elements; i++) {
      out.elements.push_back(convertReply(*r.element[i]));
    }
    break;
  default:  // REDIS_REPLY_NIL; RESP2 has no other type
    out.type = RedisReply::Type::Nil;
    break;
  }
  return out;
}

} // namespace gw::redis::internal
