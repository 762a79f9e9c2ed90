#include "source/redis/redis_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/string_view.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "source/redis/hiredis_uv.h"

// How the hiredis lifetime rules are met (hiredis 0.14.1 async.c, read for this):
//
// * Every context carries `ac->data = this` while it is ours; dropConnection() and the destructor
//   set it to null before letting go. Every hiredis callback starts by reading ac->data and does
//   nothing when it is null, so whatever hiredis still runs while tearing a context down (the
//   reply callbacks with a NULL reply, the disconnect callback) never reaches a client that
//   forgot the context or no longer exists.
// * Reply callbacks get a NULL reply only from __redisAsyncFree (the context is going away); they
//   ignore it: the loss is handled once, by whoever ended the context.
// * We call redisAsyncFree only from our own code (timers, the destructor) or from inside a reply
//   callback. In a reply callback hiredis has REDIS_IN_CALLBACK set, so redisAsyncFree only marks
//   the context and redisProcessCallbacks frees it when the callback returns (it checks the flag
//   after every callback). It is never called from the connect or disconnect callbacks: after
//   onConnect(REDIS_OK) redisAsyncHandleWrite goes on using the context (a free there is a
//   use-after-free), and after onConnect(REDIS_ERR) or onDisconnect hiredis frees the context
//   itself.
// * No user callback runs inside a hiredis callback other than a reply callback (failures found
//   in connect/disconnect callbacks are deferred to the idle handle), so a user destroying the
//   client can only do so where redisAsyncFree is allowed.
// * A new context is never created inside a hiredis callback: reconnection goes through the state
//   timer, so the old context is gone by then.
// * The loop side (Debian's libuv adapter, with our event hooks) is in hiredis_uv.cc, with its own
//   notes: freeing a context leaves one uv_poll_t closing on the loop, freed by its close callback.

namespace gw::redis {

using internal::attachToLoop;
using internal::convertReply;
using internal::sendArgv;

namespace {

static_assert(sizeof(void*) >= sizeof(uint64_t), "command ids travel as hiredis privdata");

struct HostPort {
  std::string host;
  int port = 0;
  bool is_ip = false;
};

absl::StatusOr<HostPort> parseAddress(absl::string_view address) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("redis address '", address, "': ", why));
  };
  HostPort out;
  absl::string_view port;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos) {
      return bad("missing ']'");
    }
    out.host = std::string(address.substr(1, close - 1));
    absl::string_view rest = address.substr(close + 1);
    if (!absl::ConsumePrefix(&rest, ":")) {
      return bad("missing port");
    }
    port = rest;
    in6_addr a6;
    if (inet_pton(AF_INET6, out.host.c_str(), &a6) != 1) {
      return bad("not an IPv6 address between the brackets");
    }
    out.is_ip = true;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return bad("missing port");
    }
    out.host = std::string(address.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return bad("an IPv6 address needs brackets ([::1]:6379)");
    }
    port = address.substr(colon + 1);
    in_addr a4;
    out.is_ip = inet_pton(AF_INET, out.host.c_str(), &a4) == 1;
  }
  if (out.host.empty()) {
    return bad("missing host");
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return bad("bad port");
  }
  out.port = 0;
  for (const char c : port) {
    out.port = out.port * 10 + (c - '0');
  }
  if (out.port < 1 || out.port > 65535) {
    return bad("bad port");
  }
  return out;
}

// hiredis's errstr is strerror text or its own sentence ("Connection refused", "Server closed the
// connection"); lower-cased at the start to read as the tail of our messages. Redis's own error
// replies ("WRONGPASS ...") are never passed through here.
std::string sentenceTail(const char* text) {
  std::string s = text != nullptr && text[0] != '\0' ? text : "unknown error";
  if (s.size() > 1 && absl::ascii_isupper(s[0]) && absl::ascii_islower(s[1])) {
    s[0] = absl::ascii_tolower(s[0]);
  }
  return s;
}

uint64_t backoffDelay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds max,
                      uint64_t random) {
  int64_t ceiling = std::max<int64_t>(base.count(), 1);
  for (int i = 0; i < attempt && ceiling < max.count(); i++) {
    ceiling *= 2;
  }
  ceiling = std::min<int64_t>(ceiling, max.count());
  return random % static_cast<uint64_t>(ceiling + 1);
}

// Commands that would break in-order reply matching or change connection state behind the
// client's back (see command() in the header).
bool refused(const std::vector<std::string>& args) {
  static constexpr absl::string_view kRefused[] = {
      "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
      "monitor",   "sync",       "psync",      "hello",       "reset",        "auth",
      "select",
  };
  for (const absl::string_view name : kRefused) {
    if (absl::EqualsIgnoreCase(args[0], name)) {
      return true;
    }
  }
  return args.size() > 1 && absl::EqualsIgnoreCase(args[0], "client") &&
         absl::EqualsIgnoreCase(args[1], "reply");
}

} // namespace

absl::Status validateSettings(const RedisSettings& s) {
  absl::StatusOr<HostPort> hp = parseAddress(s.address);
  if (!hp.ok()) {
    return hp.status();
  }
  auto bad = [&](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("redis ", s.address, ": ", field, " ", why));
  };
  if (s.connect_timeout.count() <= 0) {
    return bad("connect_timeout", "must be positive");
  }
  if (s.command_timeout.count() <= 0) {
    return bad("command_timeout", "must be positive");
  }
  if (s.stall_timeout.count() < 0 ||
      (s.stall_timeout.count() > 0 && s.stall_timeout < s.command_timeout)) {
    return bad("stall_timeout", "must be 0 (off) or at least command_timeout");
  }
  if (s.max_pending == 0) {
    return bad("max_pending", "must be at least 1");
  }
  if (s.reconnect_base.count() <= 0 || s.reconnect_max < s.reconnect_base) {
    return bad("reconnect_base/reconnect_max", "must satisfy 0 < base <= max");
  }
  return absl::OkStatus();
}

// The client's libuv handles, on the heap so that they outlive the client until their close
// callbacks (the destructor only starts the close). `owner` is the client until then.
struct RedisClient::Handles {
  uv_timer_t state_timer;    // connect timeout, or the delay before the next attempt
  uv_timer_t command_timer;  // command deadlines and the stall check
  uv_idle_t idle;            // immediate failures, delivered at the next loop iteration
  RedisClient* owner = nullptr;
  int open = 0;

  static Handles* of(void* handle) {
    return static_cast<Handles*>(static_cast<uv_handle_t*>(handle)->data);
  }
  static void onClose(uv_handle_t* h) {
    Handles* self = of(h);
    if (--self->open == 0) {
      delete self;
    }
  }
};

// A uv_getaddrinfo in flight. It cannot be withdrawn once libuv's thread pool runs it, so it owns
// itself: a client that stops waiting sets `owner` to null (and tries uv_cancel), and the
// callback frees the request either way.
struct RedisClient::Resolve {
  uv_getaddrinfo_t req;
  RedisClient* owner = nullptr;

  static void onDone(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
    auto* self = static_cast<Resolve*>(req->data);
    if (self->owner != nullptr) {
      self->owner->resolve_ = nullptr;
      self->owner->onResolved(status, res);
    }
    uv_freeaddrinfo(res);
    delete self;
  }
};

RedisClient::RedisClient(uv_loop_t* loop, RedisSettings settings)
    : loop_(loop), settings_(std::move(settings)), handles_(new Handles) {
  std::random_device rd;
  rng_.seed((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ uv_hrtime());

  handles_->owner = this;
  uv_timer_init(loop_, &handles_->state_timer);
  uv_timer_init(loop_, &handles_->command_timer);
  uv_idle_init(loop_, &handles_->idle);
  handles_->state_timer.data = handles_;
  handles_->command_timer.data = handles_;
  handles_->idle.data = handles_;
  handles_->open = 3;

  const absl::Status valid = validateSettings(settings_);
  if (!valid.ok()) {
    state_ = State::kInvalid;
    last_error_ = std::string(valid.message());
    return;
  }
  HostPort hp = *parseAddress(settings_.address);
  host_ = std::move(hp.host);
  port_ = hp.port;
  host_is_ip_ = hp.is_ip;
  startAttempt();
}

RedisClient::~RedisClient() {
  if (destroyed_ != nullptr) {
    *destroyed_ = true;  // a delivery up the stack must not touch the client any more
  }
  if (resolve_ != nullptr) {
    resolve_->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
  }
  if (ac_ != nullptr) {
    // Null data first: the NULL-reply callbacks and the disconnect callback that hiredis runs
    // while freeing find no owner. Inside a reply callback this only marks the context; hiredis
    // frees it when the callback returns.
    ac_->data = nullptr;
    redisAsyncFree(ac_);
    ac_ = nullptr;
  }
  handles_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->state_timer), &Handles::onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->command_timer), &Handles::onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->idle), &Handles::onClose);
  // callbacks_ goes with the object: callbacks still due are never run.
}

uint64_t RedisClient::command(std::vector<std::string> args, RedisCallback cb) {
  const uint64_t id = next_id_++;
  stats_.commands++;
  if (state_ == State::kInvalid) {
    reject(id, std::move(cb), absl::InvalidArgumentError(last_error_));
    return id;
  }
  if (args.empty() || args.size() > static_cast<size_t>(INT_MAX)) {
    // hiredis asserts on an empty argv (nextArgument finds no '$'): never hand it one.
    reject(id, std::move(cb), absl::InvalidArgumentError(prefixed("empty command")));
    return id;
  }
  if (refused(args)) {
    reject(id, std::move(cb),
           absl::InvalidArgumentError(prefixed(absl::StrCat(
               absl::AsciiStrToUpper(args[0]), " is not supported by this client"))));
    return id;
  }
  if (state_ != State::kReady) {
    reject(id, std::move(cb), notConnectedStatus());
    return id;
  }
  if (sent_.size() >= settings_.max_pending) {
    stats_.rejected_queue_full++;
    reject(id, std::move(cb),
           absl::ResourceExhaustedError(prefixed(
               absl::StrCat(sent_.size(), " commands pending (max_pending ",
                            settings_.max_pending, ")"))));
    return id;
  }
  // The id travels as privdata: a plain integer, nothing for hiredis to keep alive.
  if (!sendArgv(ac_, &onReplyThunk, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), args)) {
    reject(id, std::move(cb), absl::UnavailableError(prefixed("hiredis refused the command")));
    return id;
  }
  callbacks_.emplace(id, std::move(cb));
  // Deadlines grow in send order (uv_now never goes back, the timeout is one for all), so the
  // command timer only needs to move when this command is the first one not yet expired. When
  // it is already armed for an earlier command, it re-arms itself for the next when it fires.
  const bool first_live = expired_ == sent_.size();
  sent_.push_back(Sent{id, uv_now(loop_)});
  if (first_live) {
    armCommandTimer();
  }
  return id;
}

void RedisClient::cancel(uint64_t id) {
  // The command stays in sent_ (its reply is still due from Redis); with no callback left its
  // reply is counted and dropped, or the deferred failure skipped.
  callbacks_.erase(id);
}

void RedisClient::startAttempt() {
  uv_timer_start(
      &handles_->state_timer, [](uv_timer_t* t) { Handles::of(t)->owner->onStateTimer(); },
      static_cast<uint64_t>(settings_.connect_timeout.count()), 0);
  if (host_is_ip_) {
    connectTo(host_);
    return;
  }
  // hiredis would resolve a name with a blocking getaddrinfo on the loop thread.
  state_ = State::kResolving;
  auto* r = new Resolve;
  r->owner = this;
  r->req.data = r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = uv_getaddrinfo(loop_, &r->req, &Resolve::onDone, host_.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete r;
    dropConnection(absl::StrCat("resolve '", host_, "': ", uv_strerror(rc)), false);
    return;
  }
  resolve_ = r;
}

void RedisClient::onResolved(int status, const struct addrinfo* res) {
  if (status != 0) {
    dropConnection(absl::StrCat("resolve '", host_, "': ", uv_strerror(status)), false);
    return;
  }
  const addrinfo* pick = nullptr;
  for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
    if (a->ai_family == AF_INET6 && pick == nullptr) {
      pick = a;
    }
  }
  char ip[INET6_ADDRSTRLEN] = {};
  if (pick == nullptr) {
    dropConnection(absl::StrCat("resolve '", host_, "': no IPv4 or IPv6 address"), false);
    return;
  }
  if (pick->ai_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(pick->ai_addr)->sin_addr, ip,
              sizeof(ip));
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(pick->ai_addr)->sin6_addr, ip,
              sizeof(ip));
  }
  connectTo(ip);
}

void RedisClient::connectTo(const std::string& ip) {
  state_ = State::kConnecting;
  // A non-blocking connect: returns with connect(2) in progress (or already failed, in ac->err).
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), port_);
  if (ac == nullptr) {
    dropConnection("connect failed: out of memory", false);
    return;
  }
  if (ac->err != 0) {
    const std::string err = sentenceTail(ac->errstr);
    // Not attached to the loop, no callbacks: freeing only closes the socket.
    redisAsyncFree(ac);
    dropConnection(absl::StrCat("connect failed: ", err), false);
    return;
  }
  if (!attachToLoop(ac, loop_)) {
    redisAsyncFree(ac);  // attachToLoop made that safe
    dropConnection("connect failed: cannot watch the socket", false);
    return;
  }
  ac->data = this;
  ac_ = ac;
  // Setting the connect callback asks for a write event (the end of connect(2)), so it comes
  // after the attach.
  redisAsyncSetConnectCallback(ac, &onConnectThunk);
  redisAsyncSetDisconnectCallback(ac, &onDisconnectThunk);
  redisEnableKeepAlive(&ac->c);

  // The handshake is queued now and written with connect(2)'s completion. The client is ready at
  // its last reply, which also proves Redis answers (a Redis stuck in a script still completes
  // TCP handshakes from its listen backlog). privdata names the command for error messages.
  handshake_left_ = 0;
  bool ok = true;
  if (!settings_.password.empty()) {
    ok = ok && sendArgv(ac, &onHandshakeThunk, const_cast<char*>("AUTH"),
                    {"AUTH", settings_.password});
    handshake_left_++;
  }
  if (settings_.database != 0) {
    ok = ok && sendArgv(ac, &onHandshakeThunk, const_cast<char*>("SELECT"),
                    {"SELECT", absl::StrCat(settings_.database)});
    handshake_left_++;
  }
  if (handshake_left_ == 0) {
    ok = sendArgv(ac, &onHandshakeThunk, const_cast<char*>("PING"), {"PING"});
    handshake_left_++;
  }
  if (!ok) {
    dropConnection("connect failed: hiredis refused the handshake", true);
  }
}

void RedisClient::onConnectThunk(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (self != nullptr) {
    self->onConnected(status, ac->c.errstr);
  }
}

void RedisClient::onConnected(int status, const char* errstr) {
  if (status == REDIS_OK) {
    return;  // TCP is up; the handshake replies decide
  }
  // hiredis frees the context when this returns (the errstr was set by connect(2)'s error, before
  // hiredis copies it to ac->errstr: read c.errstr).
  dropConnection(absl::StrCat("connect failed: ", sentenceTail(errstr)), false);
}

void RedisClient::onDisconnectThunk(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (self == nullptr) {
    return;
  }
  // Only for a context hiredis ends itself (read/write error, EOF, protocol error); hiredis frees
  // it when this returns. The reply callbacks already ran with NULL replies and did nothing.
  const std::string why = status == REDIS_OK && ac->c.err == 0
                              ? std::string("connection closed")
                              : sentenceTail(ac->c.errstr);
  self->dropConnection(self->state_ == State::kReady
                           ? absl::StrCat("connection lost: ", why)
                           : absl::StrCat("connect failed: connection lost during handshake: ", why),
                       false);
}

void RedisClient::onHandshakeThunk(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (self == nullptr || reply == nullptr) {
    return;  // context going away: whoever ended it reports it
  }
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    // Inside a reply callback: dropConnection's redisAsyncFree is deferred by hiredis until this
    // returns. The client does not keep a connection it could not authenticate or select on:
    // every command would fail with NOAUTH or go to the wrong database.
    self->dropConnection(absl::StrCat(static_cast<const char*>(privdata),
                                      " failed: ", absl::string_view(r->str, r->len)),
                         true);
    return;
  }
  self->onHandshakeReply(r);
}

void RedisClient::onHandshakeReply(const redisReply*) {
  if (--handshake_left_ > 0) {
    return;
  }
  state_ = State::kReady;
  uv_timer_stop(&handles_->state_timer);
  attempt_ = 0;
  if (ever_ready_) {
    stats_.reconnects++;
  }
  ever_ready_ = true;
  last_error_.clear();
}

void RedisClient::onReplyThunk(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (self == nullptr || reply == nullptr) {
    return;  // context going away: the commands on it are failed by whoever ended it
  }
  self->onReply(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata)),
                static_cast<const redisReply*>(reply));
}

void RedisClient::onReply(uint64_t id, const redisReply* reply) {
  if (sent_.empty() || sent_.front().id != id) {
    // Cannot happen (hiredis dispatches in write order and every user command is in sent_); if
    // it did, no reply on this connection could be trusted.
    dropConnection("connection lost: reply stream out of sync", true);
    return;
  }
  sent_.pop_front();
  if (expired_ > 0) {
    expired_--;
  }
  auto it = callbacks_.find(id);
  if (it == callbacks_.end()) {
    stats_.discarded_replies++;  // timed out or cancelled: its reply just keeps the stream in step
    return;
  }
  RedisCallback cb = std::move(it->second);
  callbacks_.erase(it);
  // The user may destroy the client in there: hiredis then frees the context after we return.
  deliver(cb, convertReply(*reply));
}

void RedisClient::onStateTimer() {
  switch (state_) {
  case State::kBackoff:
    startAttempt();
    return;
  case State::kResolving:
  case State::kConnecting:
    // From a timer, not a hiredis callback: the context is freed at once.
    dropConnection(absl::StrCat("connect failed: no answer within ",
                                settings_.connect_timeout.count(), " ms"),
                   true);
    return;
  case State::kReady:
  case State::kInvalid:
    return;
  }
}

void RedisClient::onCommandTimer() {
  const uint64_t now = uv_now(loop_);
  const auto timeout = static_cast<uint64_t>(settings_.command_timeout.count());
  // Ids first, callbacks after: a callback may issue commands (sent_ grows) or cancel others.
  absl::InlinedVector<uint64_t, 8> due;
  while (expired_ < sent_.size() && sent_[expired_].issued + timeout <= now) {
    due.push_back(sent_[expired_].id);
    expired_++;
  }
  for (const uint64_t id : due) {
    auto it = callbacks_.find(id);
    if (it == callbacks_.end()) {
      continue;  // cancelled
    }
    RedisCallback cb = std::move(it->second);
    callbacks_.erase(it);
    stats_.timeouts++;
    if (!deliver(cb, absl::DeadlineExceededError(
                         prefixed(absl::StrCat("no reply within ", timeout, " ms"))))) {
      return;
    }
  }
  if (state_ != State::kReady) {
    return;
  }
  const auto stall = static_cast<uint64_t>(settings_.stall_timeout.count());
  if (stall > 0 && !sent_.empty() && sent_.front().issued + stall <= now) {
    // A timer callback: the context is freed at once and its commands fail with Unavailable.
    dropConnection(absl::StrCat("connection lost: no reply for ", now - sent_.front().issued,
                                " ms (Redis stalled or connection half-open)"),
                   true);
    return;
  }
  armCommandTimer();
}

void RedisClient::armCommandTimer() {
  uint64_t next = std::numeric_limits<uint64_t>::max();
  if (expired_ < sent_.size()) {
    next = sent_[expired_].issued + static_cast<uint64_t>(settings_.command_timeout.count());
  }
  if (settings_.stall_timeout.count() > 0 && !sent_.empty()) {
    next = std::min(next, sent_.front().issued +
                              static_cast<uint64_t>(settings_.stall_timeout.count()));
  }
  if (next == std::numeric_limits<uint64_t>::max()) {
    uv_timer_stop(&handles_->command_timer);
    return;
  }
  // Always in the future when called from the timer (everything due was handled), so a timer
  // re-armed inside its own callback does not run again in the same uv__run_timers pass.
  const uint64_t now = uv_now(loop_);
  uv_timer_start(
      &handles_->command_timer, [](uv_timer_t* t) { Handles::of(t)->owner->onCommandTimer(); },
      next > now ? next - now : 0, 0);
}

void RedisClient::dropConnection(std::string reason, bool free_context) {
  const bool was_ready = state_ == State::kReady;
  if (ac_ != nullptr) {
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    ac->data = nullptr;  // whatever hiredis still runs for it finds no owner
    if (free_context) {
      // From a timer: freed now (its reply callbacks run with NULL and return). From a reply
      // callback: freed by hiredis when the callback returns.
      redisAsyncFree(ac);
    }
  }
  if (resolve_ != nullptr) {
    resolve_->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
    resolve_ = nullptr;
  }
  handshake_left_ = 0;
  // Fail what was on the connection from the next loop iteration, like any immediate failure:
  // this may run inside a hiredis callback, where user code must not run (see the top).
  if (!sent_.empty()) {
    const absl::Status lost = absl::UnavailableError(prefixed(reason));
    for (const Sent& s : sent_) {
      if (callbacks_.contains(s.id)) {
        deferred_.emplace_back(s.id, lost);
      }
    }
    sent_.clear();
    if (!deferred_.empty()) {
      uv_idle_start(&handles_->idle, [](uv_idle_t* h) { Handles::of(h)->owner->runDeferred(); });
    }
  }
  expired_ = 0;
  uv_timer_stop(&handles_->command_timer);
  if (!was_ready) {
    stats_.connect_failures++;
  }
  last_error_ = std::move(reason);

  const uint64_t delay =
      backoffDelay(attempt_, settings_.reconnect_base, settings_.reconnect_max, rng_());
  attempt_ = std::min(attempt_ + 1, 62);
  state_ = State::kBackoff;
  reconnect_at_ = uv_now(loop_) + delay;
  uv_timer_start(
      &handles_->state_timer, [](uv_timer_t* t) { Handles::of(t)->owner->onStateTimer(); }, delay,
      0);
}

void RedisClient::reject(uint64_t id, RedisCallback cb, absl::Status status) {
  callbacks_.emplace(id, std::move(cb));
  deferred_.emplace_back(id, std::move(status));
  // An idle handle, not a 0 ms timer: a timer started inside a timer callback runs in the same
  // uv__run_timers pass, so a callback that retries on failure would spin there forever. Idle
  // callbacks run once per iteration and keep the loop from blocking while any is due.
  uv_idle_start(&handles_->idle, [](uv_idle_t* h) { Handles::of(h)->owner->runDeferred(); });
}

void RedisClient::runDeferred() {
  uv_idle_stop(&handles_->idle);  // restarted by reject() for failures added meanwhile
  std::vector<std::pair<uint64_t, absl::Status>> batch;
  batch.swap(deferred_);
  for (auto& [id, status] : batch) {
    auto it = callbacks_.find(id);
    if (it == callbacks_.end()) {
      continue;  // cancelled
    }
    RedisCallback cb = std::move(it->second);
    callbacks_.erase(it);
    if (!deliver(cb, std::move(status))) {
      return;
    }
  }
}

bool RedisClient::deliver(RedisCallback& cb, absl::StatusOr<RedisReply> result) {
  if (!result.ok()) {
    stats_.errors++;
  }
  bool destroyed = false;
  bool* outer = destroyed_;
  destroyed_ = &destroyed;
  cb(std::move(result));
  if (destroyed) {
    if (outer != nullptr) {
      *outer = true;
    }
    return false;
  }
  destroyed_ = outer;
  return true;
}

absl::Status RedisClient::notConnectedStatus() const {
  if (state_ == State::kBackoff) {
    const uint64_t now = uv_now(loop_);
    return absl::UnavailableError(prefixed(
        absl::StrCat("not connected (", last_error_, "); reconnecting in ",
                     reconnect_at_ > now ? reconnect_at_ - now : 0, " ms")));
  }
  if (last_error_.empty()) {
    return absl::UnavailableError(prefixed("not connected yet (connecting)"));
  }
  return absl::UnavailableError(
      prefixed(absl::StrCat("not connected (", last_error_, "); connecting")));
}

std::string RedisClient::prefixed(absl::string_view what) const {
  return absl::StrCat("redis ", settings_.address, ": ", what);
}

} // namespace gw::redis
