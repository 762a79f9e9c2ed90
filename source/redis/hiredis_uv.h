#pragma once

#include <uv.h>

#include <string>
#include <vector>

#include <hiredis/async.h>

#include "source/redis/reply.h"

// The hiredis side of RedisClient that does not depend on its state: putting a context on a libuv
// loop, sending argv commands, copying replies. Internal to //source/redis.
namespace gw::redis::internal {

// Puts a fresh, not yet watched context on `loop` through Debian's hiredis libuv adapter
// (<hiredis/adapters/libuv.h>), with the adapter's event hooks replaced by ones that pass socket
// errors on to hiredis (see hiredis_uv.cc). False when the adapter fails; the context is then
// still the caller's and safe to redisAsyncFree.
bool attachToLoop(redisAsyncContext* ac, uv_loop_t* loop);

// Queues one command in argv form (binary-safe). False when hiredis refuses it (out of memory,
// or the context is disconnecting). `args` must not be empty (hiredis asserts).
bool sendArgv(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata,
              const std::vector<std::string>& args);

// A deep copy of a RESP2 reply tree.
RedisReply convertReply(const redisReply& r);

} // namespace gw::redis::internal
