#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/redis/reply.h"

struct redisAsyncContext;  // hiredis
struct redisReply;         // hiredis

namespace gw::redis {

struct RedisSettings {
  // "host:port": an IPv4 literal, "[v6 literal]:port" or a name. A name is resolved with
  // uv_getaddrinfo (libuv's thread pool, so the loop never blocks on DNS) at every connection
  // attempt; the first IPv4 address is used, else the first IPv6 one (hiredis's own order).
  std::string address;
  // From the start of an attempt (resolution included) until Redis has answered the handshake
  // (AUTH, SELECT, or a PING when neither is configured).
  std::chrono::milliseconds connect_timeout{1000};
  // Per command, from when command() is called (loop time, uv_now) until its reply is read.
  std::chrono::milliseconds command_timeout{250};
  // The oldest reply the connection waits for (timed-out and cancelled commands included, their
  // replies are still due) may be this late before the connection is considered dead: it is
  // closed, every command on it fails with Unavailable and the client reconnects. This is what
  // catches a half-open TCP connection (a peer gone without a RST: no error would ever arrive)
  // and a Redis stuck in a long script. 0 disables it; otherwise at least command_timeout.
  std::chrono::milliseconds stall_timeout{2000};
  // Commands written to the connection whose reply has not been read yet, timed-out and
  // cancelled ones included (their replies still occupy the pipe); one more fails with
  // ResourceExhausted.
  uint32_t max_pending = 1024;
  // Delay before reconnection attempt n (0 after a loss or the first failure): uniform in
  // [0, min(reconnect_max, reconnect_base * 2^n)] ("full jitter"). n restarts at 0 once a
  // connection is ready.
  std::chrono::milliseconds reconnect_base{100};
  std::chrono::milliseconds reconnect_max{5000};
  // AUTH <password> at connection when non-empty (Redis 6 ACL users: not supported).
  std::string password;
  // SELECT <database> at connection when non-zero.
  uint32_t database = 0;
};

// Ok() unless the address does not parse or a duration/limit is out of range; the message names
// the field ("redis address 'x': missing port").
absl::Status validateSettings(const RedisSettings& settings);

// A command's outcome, exactly once: ok() with Redis's reply (which may be an error reply, see
// RedisReply), or a status:
//   Unavailable        not connected ("redis 127.0.0.1:6379: not connected (connect failed:
//                      connection refused); reconnecting in 400 ms"), or the connection was lost
//                      with the command on it ("redis ...: connection lost: server closed the
//                      connection"); the command may or may not have run.
//   DeadlineExceeded   no reply within command_timeout ("redis ...: no reply within 250 ms"); the
//                      command may still run.
//   ResourceExhausted  max_pending commands already pending.
//   InvalidArgument    an empty command, a command the client refuses (see command()), or
//                      settings that do not validate.
// Cancelled is never delivered: a cancelled command's callback does not run at all.
using RedisCallback = std::function<void(absl::StatusOr<RedisReply>)>;

// An asynchronous Redis client on one libuv loop (hiredis 0.14 with its libuv adapter): one
// connection, commands pipelined on it, replies matched to commands in order.
//
// * Commands are accepted only while connected. While disconnected (connecting, waiting to
//   reconnect, or after a failed handshake) they fail at once with Unavailable: nothing is queued
//   for a later connection, so a dead Redis costs a request one loop iteration, not a timeout.
//   Right after construction the client is still connecting: wait for connected().
// * A command that times out or is cancelled keeps its place in hiredis's reply queue (hiredis
//   cannot forget a callback); its reply is read and discarded when it comes, so the following
//   commands still get their own replies. stall_timeout bounds how long that may take.
// * A lost connection fails every command on it with Unavailable, then the client reconnects with
//   backoff (see RedisSettings).
//
// Loop thread only, including construction and destruction. Not copyable or movable (hiredis
// and the loop handles point at it).
class RedisClient {
public:
  // Starts connecting at once; never fails here (bad settings make every command fail with
  // InvalidArgument and no connection is attempted).
  RedisClient(uv_loop_t* loop, RedisSettings settings);
  // Callbacks still due are dropped, never run. Allowed anywhere on the loop thread, including
  // inside one of this client's callbacks (the remaining ones are dropped too). The connection is
  // freed through hiredis (at once, or when hiredis's reply dispatch returns when called from a
  // reply callback) and the libuv handles are closed: their memory is released by their close
  // callbacks, so the loop must run once more to free it, and then has nothing left of the client
  // (uv_run returns, uv_loop_close succeeds; a name resolution still in libuv's thread pool keeps
  // the loop until it finishes).
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends a command in argv form ({"SET", key, value}; arguments are binary-safe). Returns an id
  // for cancel(), never 0. The callback runs exactly once, later, on the loop thread, unless
  // cancel(id) comes first; never inside command() itself: immediate failures (not connected,
  // queue full, invalid) are delivered from the next loop iteration (a uv_idle handle), in order.
  // A callback may call command(), cancel() and the destructor.
  //
  // Refused with InvalidArgument, because they change the connection's reply pattern (hiredis
  // would dispatch replies to the wrong callbacks or abort) or its state (lost silently on
  // reconnect): SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBE forms, MONITOR, SYNC,
  // PSYNC, CLIENT REPLY, HELLO, RESET, AUTH, SELECT (set password/database in the settings).
  // MULTI/EXEC work as separate commands; a reconnection between them aborts the transaction.
  // Blocking commands (BLPOP, WAIT, ...) hold the connection: keep their own timeout well below
  // command_timeout.
  uint64_t command(std::vector<std::string> args, RedisCallback cb);

  // The command's callback will not run. A no-op for an unknown, finished or already cancelled id.
  // The command itself is not withdrawn (it may already be in Redis); its reply is discarded.
  void cancel(uint64_t id);

  // True while a connection has completed its handshake and commands are accepted.
  bool connected() const { return state_ == State::kReady; }
  // Why the client is not connected ("connect failed: connection refused"); empty when connected
  // or before the first attempt ends.
  const std::string& lastError() const { return last_error_; }

  struct Stats {
    uint64_t commands = 0;             // command() calls
    uint64_t errors = 0;               // callbacks run with a status (any kind)
    uint64_t timeouts = 0;             // callbacks run with DeadlineExceeded
    uint64_t reconnects = 0;           // connections made ready after the first one
    uint64_t rejected_queue_full = 0;  // commands refused with ResourceExhausted
    uint64_t connect_failures = 0;     // attempts that ended before the handshake completed
    uint64_t discarded_replies = 0;    // replies read for timed-out or cancelled commands
  };
  const Stats& stats() const { return stats_; }

private:
  enum class State { kBackoff, kResolving, kConnecting, kReady, kInvalid };
  struct Handles;
  struct Resolve;
  // A command written to the connection, in write (= reply) order.
  struct Sent {
    uint64_t id;
    uint64_t issued;  // uv_now at command()
  };

  static void onConnectThunk(const redisAsyncContext* ac, int status);
  static void onDisconnectThunk(const redisAsyncContext* ac, int status);
  static void onReplyThunk(redisAsyncContext* ac, void* reply, void* privdata);
  static void onHandshakeThunk(redisAsyncContext* ac, void* reply, void* privdata);

  void startAttempt();
  void onResolved(int status, const struct addrinfo* res);
  void connectTo(const std::string& ip);
  void onConnected(int status, const char* errstr);
  void onHandshakeReply(const redisReply* reply);
  void onReply(uint64_t id, const redisReply* reply);
  void onStateTimer();
  void onCommandTimer();
  void runDeferred();
  // Ends the current attempt or connection: frees the hiredis context when `free_context` (else
  // hiredis is freeing it already), fails the commands on it, schedules the next attempt.
  void dropConnection(std::string reason, bool free_context);
  void armCommandTimer();
  void reject(uint64_t id, RedisCallback cb, absl::Status status);
  absl::Status notConnectedStatus() const;
  std::string prefixed(absl::string_view what) const;
  // Runs a callback taken out of callbacks_; false when it destroyed the client.
  bool deliver(RedisCallback& cb, absl::StatusOr<RedisReply> result);

  uv_loop_t* loop_;
  RedisSettings settings_;
  std::string host_;  // without brackets
  int port_ = 0;
  bool host_is_ip_ = false;
  Handles* handles_;              // heap: outlives the client until the close callbacks
  Resolve* resolve_ = nullptr;    // heap: the uv_getaddrinfo in flight, if any
  redisAsyncContext* ac_ = nullptr;
  State state_ = State::kBackoff;
  int handshake_left_ = 0;        // handshake replies still due on ac_
  int attempt_ = 0;               // backoff exponent
  bool ever_ready_ = false;
  uint64_t reconnect_at_ = 0;     // loop time of the next attempt (kBackoff)
  std::string last_error_;
  uint64_t next_id_ = 1;
  // Callbacks still due, by command id: in flight, or failed and waiting in deferred_.
  absl::flat_hash_map<uint64_t, RedisCallback> callbacks_;
  std::deque<Sent> sent_;
  size_t expired_ = 0;            // sent_[0, expired_) have passed their command deadline
  std::vector<std::pair<uint64_t, absl::Status>> deferred_;
  std::mt19937_64 rng_;
  Stats stats_;
  bool* destroyed_ = nullptr;     // set by the destructor for a delivery in progress
};

} // namespace gw::redis
