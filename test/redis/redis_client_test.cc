#include "source/redis/redis_client.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "test/redis/redis_test_util.h"

namespace gw::redis {
namespace {

using Type = RedisReply::Type;
using testing::Calls;
using testing::Loop;
using testing::Outcome;
using testing::RedisServer;
using testing::ResettingServer;

RedisSettings settingsFor(const std::string& address) {
  RedisSettings s;
  s.address = address;
  s.command_timeout = std::chrono::milliseconds(1000);
  s.reconnect_base = std::chrono::milliseconds(20);
  s.reconnect_max = std::chrono::milliseconds(200);
  return s;
}

// Issues one command and runs the loop until its callback; fails the test after 2 s.
absl::StatusOr<RedisReply> roundTrip(Loop& loop, RedisClient& c, std::vector<std::string> args) {
  Calls calls;
  Outcome& o = calls.issue(c, std::move(args));
  REQUIRE(loop.runUntil([&] { return o.done(); }, 2000));
  CHECK(o.calls == 1);
  return o.result;
}

void requireConnected(Loop& loop, RedisClient& c, uint64_t ms = 3000) {
  REQUIRE(loop.runUntil([&] { return c.connected(); }, ms));
}

TEST_CASE("redis client: reply types, binary-safe arguments, error replies", "[redis]") {
  Loop loop;
  RedisServer server;
  RedisClient c(&loop.loop, settingsFor(server.address()));
  requireConnected(loop, c);

  auto r = roundTrip(loop, c, {"SET", "k", "v"});
  REQUIRE(r.ok());
  CHECK(r->type == Type::Status);
  CHECK(r->str == "OK");

  r = roundTrip(loop, c, {"GET", "k"});
  REQUIRE(r.ok());
  CHECK(r->type == Type::String);
  CHECK(r->str == "v");

  r = roundTrip(loop, c, {"GET", "missing"});
  REQUIRE(r.ok());
  CHECK(r->isNil());

  r = roundTrip(loop, c, {"INCR", "n"});
  REQUIRE(r.ok());
  CHECK(r->type == Type::Integer);
  CHECK(r->integer == 1);
  r = roundTrip(loop, c, {"INCRBY", "n", "-43"});
  REQUIRE(r.ok());
  CHECK(r->integer == -42);

  const std::string binary("a\0b\r\n\xff", 6);
  REQUIRE(roundTrip(loop, c, {"SET", binary, binary}).ok());
  r = roundTrip(loop, c, {"GET", binary});
  REQUIRE(r.ok());
  CHECK(r->str == binary);
  CHECK(describe(*r) == "\"a\\x00b\\x0d\\x0a\\xff\"");
  REQUIRE(roundTrip(loop, c, {"SET", "empty", ""}).ok());
  r = roundTrip(loop, c, {"GET", "empty"});
  REQUIRE(r.ok());
  CHECK(r->type == Type::String);
  CHECK(r->str.empty());

  REQUIRE(roundTrip(loop, c, {"RPUSH", "l", "a", "b"}).ok());
  r = roundTrip(loop, c, {"LRANGE", "l", "0", "-1"});
  REQUIRE(r.ok());
  REQUIRE(r->type == Type::Array);
  REQUIRE(r->elements.size() == 2);
  CHECK(r->elements[1].str == "b");
  r = roundTrip(loop, c, {"LRANGE", "nothing", "0", "-1"});
  REQUIRE(r.ok());
  CHECK(r->type == Type::Array);
  CHECK(r->elements.empty());

  // Nested arrays, with a nil inside (Lua false).
  r = roundTrip(loop, c, {"EVAL", "return {1, {2, 'x'}, false}", "0"});
  REQUIRE(r.ok());
  CHECK(describe(*r) == "[(integer) 1, [(integer) 2, \"x\"], nil]");

  // An error reply is a reply: ok() status, Type::Error.
  r = roundTrip(loop, c, {"LPUSH", "k", "x"});
  REQUIRE(r.ok());
  CHECK(r->isError());
  CHECK(absl::StartsWith(r->str, "WRONGTYPE"));
  r = roundTrip(loop, c, {"NOSUCHCOMMAND"});
  REQUIRE(r.ok());
  CHECK(r->isError());

  CHECK(c.stats().errors == 0);
  CHECK(c.stats().commands == 15);
}

TEST_CASE("redis client: commands pipelined in one iteration get their replies in order",
          "[redis]") {
  Loop loop;
  RedisServer server;
  RedisSettings s = settingsFor(server.address());
  s.max_pending = 1400;
  RedisClient c(&loop.loop, s);
  requireConnected(loop, c);

  std::vector<int64_t> got;
  for (int i = 0; i < 1000; i++) {
    c.command({"INCR", "counter"}, [&got](absl::StatusOr<RedisReply> r) {
      got.push_back(r.ok() ? r->integer : -1);  // no REQUIRE here: it would throw through hiredis
    });
  }
  Calls calls;
  for (int i = 0; i < 200; i++) {
    calls.issue(c, {"SET", absl::StrCat("k", i), absl::StrCat("v", i)});
    calls.issue(c, {"GET", absl::StrCat("k", i)});
  }
  REQUIRE(loop.runUntil([&] { return calls.outcomes.back().done(); }, 5000));
  REQUIRE(got.size() == 1000);
  for (int i = 0; i < 1000; i++) {
    REQUIRE(got[i] == i + 1);
  }
  for (int i = 0; i < 200; i++) {
    const Outcome& get = calls.outcomes[2 * i + 1];
    REQUIRE(get.calls == 1);
    REQUIRE(get.result.ok());
    REQUIRE(get.result->str == absl::StrCat("v", i));
  }
}

TEST_CASE("redis client: a timed-out command's late reply is discarded; the next command gets "
          "its own reply",
          "[redis]") {
  Loop loop;
  RedisServer server;
  RedisSettings s = settingsFor(server.address());
  s.command_timeout = std::chrono::milliseconds(50);
  s.stall_timeout = std::chrono::milliseconds(2000);
  RedisClient c(&loop.loop, s);
  requireConnected(loop, c);
  REQUIRE(roundTrip(loop, c, {"SET", "k", "v"}).ok());

  Calls calls;
  const uint64_t start = loop.now();
  Outcome& sleep = calls.issue(c, {"DEBUG", "SLEEP", "0.5"});
  Outcome& behind = calls.issue(c, {"GET", "k"});  // pipelined behind the sleep
  REQUIRE(loop.runUntil([&] { return sleep.done() && behind.done(); }, 1000));
  const uint64_t elapsed = loop.now() - start;
  CHECK(elapsed >= 50);
  CHECK(elapsed < 400);  // well before Redis wakes up
  CHECK(sleep.result.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(absl::StrContains(sleep.result.status().message(), "no reply within 50 ms"));
  CHECK(behind.result.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(c.connected());  // one timeout does not condemn the connection

  // Redis wakes up and sends +OK and $1 v: both are read and dropped.
  REQUIRE(loop.runUntil([&] { return c.stats().discarded_replies == 2; }, 1000));
  auto r = roundTrip(loop, c, {"GET", "k"});
  REQUIRE(r.ok());
  CHECK(describe(*r) == "\"v\"");
  r = roundTrip(loop, c, {"INCR", "n"});
  REQUIRE(r.ok());
  CHECK(describe(*r) == "(integer) 1");

  CHECK(sleep.calls == 1);
  CHECK(behind.calls == 1);
  CHECK(c.stats().timeouts == 2);
  CHECK(c.stats().errors == 2);
  CHECK(c.stats().reconnects == 0);
}

TEST_CASE("redis client: a connection whose replies stop is dropped and made again", "[redis]") {
  Loop loop;
  RedisServer server;
  RedisSettings s = settingsFor(server.address());
  s.command_timeout = std::chrono::milliseconds(50);
  s.stall_timeout = std::chrono::milliseconds(150);
  RedisClient c(&loop.loop, s);
  requireConnected(loop, c);
  REQUIRE(roundTrip(loop, c, {"SET", "k", "v"}).ok());

  Calls calls;
  const uint64_t start = loop.now();
  Outcome& sleep = calls.issue(c, {"DEBUG", "SLEEP", "1"});
  REQUIRE(loop.runUntil([&] { return !c.connected(); }, 1000));
  const uint64_t elapsed = loop.now() - start;
  CHECK(elapsed >= 150);
  CHECK(elapsed < 800);
  CHECK(sleep.calls == 1);  // the timeout, not a second outcome at the drop
  CHECK(sleep.result.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(absl::StrContains(c.lastError(), "no reply for"));

  // Reconnects once Redis answers again (its PING waits out the sleep).
  requireConnected(loop, c, 3000);
  CHECK(c.stats().reconnects == 1);
  auto r = roundTrip(loop, c, {"GET", "k"});
  REQUIRE(r.ok());
  CHECK(r->str == "v");
}

TEST_CASE("redis client: a cancelled command's callback never runs", "[redis]") {
  Loop loop;
  RedisServer server;
  RedisClient c(&loop.loop, settingsFor(server.address()));
  requireConnected(loop, c);
  REQUIRE(roundTrip(loop, c, {"SET", "k", "v"}).ok());

  Calls calls;
  uint64_t id = 0;
  Outcome& sleep = calls.issue(c, {"DEBUG", "SLEEP", "0.1"}, &id);
  CHECK(id != 0);
  c.cancel(id);
  Outcome& get = calls.issue(c, {"GET", "k"});
  REQUIRE(loop.runUntil([&] { return get.done(); }, 2000));
  REQUIRE(get.result.ok());
  CHECK(get.result->str == "v");
  CHECK(c.stats().discarded_replies == 1);

  // Unknown, finished and already cancelled ids: no effect.
  c.cancel(id);
  c.cancel(123456789);
  c.cancel(0);

  // Cancelled from inside another command's callback.
  Outcome& second = calls.outcomes.emplace_back();
  uint64_t second_id = 0;
  Outcome& first = calls.outcomes.emplace_back();
  c.command({"GET", "k"}, [&](absl::StatusOr<RedisReply> r) {
    first.calls++;
    first.result = std::move(r);
    c.cancel(second_id);
  });
  second_id = c.command({"GET", "k"}, [&second](absl::StatusOr<RedisReply>) { second.calls++; });
  REQUIRE(loop.runUntil([&] { return first.done(); }, 2000));
  loop.runFor(50);
  CHECK(second.calls == 0);
  CHECK(c.stats().discarded_replies == 2);

  // An immediate failure (here: refused command) cancelled before the next iteration.
  uint64_t refused_id = 0;
  Outcome& refused = calls.issue(c, {"SUBSCRIBE", "ch"}, &refused_id);
  c.cancel(refused_id);
  loop.runFor(30);
  CHECK(refused.calls == 0);

  auto r = roundTrip(loop, c, {"GET", "k"});
  REQUIRE(r.ok());
  CHECK(r->str == "v");
  CHECK(sleep.calls == 0);
}

TEST_CASE("redis client: Redis killed and restarted on the same port", "[redis]") {
  Loop loop;
  RedisServer server;
  RedisSettings s = settingsFor(server.address());
  s.command_timeout = std::chrono::milliseconds(3000);
  s.stall_timeout = std::chrono::milliseconds(5000);
  RedisClient c(&loop.loop, s);
  requireConnected(loop, c);
  REQUIRE(roundTrip(loop, c, {"SET", "k", "v"}).ok());

  Calls calls;
  Outcome& sleep = calls.issue(c, {"DEBUG", "SLEEP", "2"});
  Outcome& behind = calls.issue(c, {"GET", "k"});
  loop.runFor(50);  // written
  server.kill();
  const uint64_t killed = loop.now();
  REQUIRE(loop.runUntil([&] { return sleep.done() && behind.done(); }, 1000));
  CHECK(loop.now() - killed < 500);
  for (const Outcome* o : {&sleep, &behind}) {
    CHECK(o->result.status().code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(o->result.status().message(),
                            absl::StrCat("redis ", server.address(), ": connection lost")));
  }
  CHECK_FALSE(c.connected());

  // While down: fails fast, never inside command().
  for (int i = 0; i < 3; i++) {
    Outcome& o = calls.issue(c, {"GET", "k"});
    CHECK(o.calls == 0);
    const uint64_t t = loop.now();
    REQUIRE(loop.runUntil([&] { return o.done(); }, 1000));
    CHECK(loop.now() - t < 100);
    CHECK(o.result.status().code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(o.result.status().message(), "not connected"));
    INFO(o.result.status().ToString());
    loop.runFor(60);  // let a few refused attempts happen
  }
  CHECK(c.stats().connect_failures >= 1);
  CHECK(absl::StrContains(c.lastError(), "connection refused"));

  server.start();
  requireConnected(loop, c, 3000);  // backoff capped at 200 ms
  CHECK(c.stats().reconnects == 1);
  REQUIRE(roundTrip(loop, c, {"SET", "k", "again"}).ok());
  auto r = roundTrip(loop, c, {"GET", "k"});
  REQUIRE(r.ok());
  CHECK(r->str == "again");
}

TEST_CASE("redis client: a connection reset is noticed at once", "[redis]") {
  // The reset reaches the client as POLLERR, which Debian's libuv adapter would have swallowed
  // (see onPoll in redis_client.cc): the command would have waited for stall_timeout.
  Loop loop;
  ResettingServer fake(&loop.loop);
  RedisSettings s = settingsFor(absl::StrCat("127.0.0.1:", fake.port));
  s.command_timeout = std::chrono::milliseconds(3000);
  s.stall_timeout = std::chrono::milliseconds(5000);
  {
    RedisClient c(&loop.loop, s);
    requireConnected(loop, c);
    Calls calls;
    Outcome& o = calls.issue(c, {"GET", "k"});
    const uint64_t start = loop.now();
    REQUIRE(loop.runUntil([&] { return o.done(); }, 4000));
    CHECK(loop.now() - start < 500);
    CHECK(fake.reset);
    CHECK(o.result.status().code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(o.result.status().message(), "connection lost: connection reset"));
    INFO(o.result.status().ToString());
  }
  fake.close();
}

TEST_CASE("redis client: Redis down from the start, then up", "[redis]") {
  Loop loop;
  RedisServer server({}, /*start_now=*/false);
  RedisClient c(&loop.loop, settingsFor(server.address()));
  Calls calls;
  Outcome& early = calls.issue(c, {"PING"});  // still connecting
  REQUIRE(loop.runUntil([&] { return c.stats().connect_failures >= 2; }, 2000));
  REQUIRE(early.done());
  CHECK(early.result.status().code() == absl::StatusCode::kUnavailable);

  Outcome& down = calls.issue(c, {"PING"});
  REQUIRE(loop.runUntil([&] { return down.done(); }, 1000));
  CHECK(down.result.status().code() == absl::StatusCode::kUnavailable);
  const std::string msg(down.result.status().message());
  INFO(msg);
  CHECK(absl::StartsWith(msg, absl::StrCat("redis ", server.address(), ": not connected")));
  CHECK(absl::StrContains(msg, "connection refused"));

  server.start();
  requireConnected(loop, c, 3000);
  CHECK(c.stats().reconnects == 0);  // the first connection
  CHECK(c.lastError().empty());
  auto r = roundTrip(loop, c, {"PING"});
  REQUIRE(r.ok());
  CHECK(r->str == "PONG");
}

TEST_CASE("redis client: a full pipeline refuses more with ResourceExhausted", "[redis]") {
  Loop loop;
  RedisServer server;
  RedisSettings s = settingsFor(server.address());
  s.max_pending = 4;
  RedisClient c(&loop.loop, s);
  requireConnected(loop, c);
  REQUIRE(roundTrip(loop, c, {"SET", "k", "v"}).ok());

  Calls calls;
  calls.issue(c, {"DEBUG", "SLEEP", "0.1"});
  for (int i = 0; i < 5; i++) {
    calls.issue(c, {"GET", "k"});
  }
  CHECK(calls.outcomes[4].calls == 0);  // not inside command()
  REQUIRE(loop.runUntil([&] { return calls.outcomes[5].done(); }, 1000));
  CHECK_FALSE(calls.outcomes[3].done());  // the fifth and sixth fail before the sleep ends
  for (int i = 4; i < 6; i++) {
    CHECK(calls.outcomes[i].result.status().code() == absl::StatusCode::kResourceExhausted);
  }
  REQUIRE(loop.runUntil([&] { return calls.outcomes[3].done(); }, 2000));
  for (int i = 0; i < 4; i++) {
    CHECK(calls.outcomes[i].result.ok());
  }
  CHECK(c.stats().rejected_queue_full == 2);
  CHECK(roundTrip(loop, c, {"GET", "k"}).ok());  // room again
}

TEST_CASE("redis client: destruction drops callbacks and leaves nothing on the loop", "[redis]") {
  Loop loop;
  RedisServer server;
  RedisSettings s = settingsFor(server.address());
  auto c = std::make_unique<RedisClient>(&loop.loop, s);
  Calls calls;

  SECTION("with commands in flight") {
    requireConnected(loop, *c);
    calls.issue(*c, {"DEBUG", "SLEEP", "0.2"});
    for (int i = 0; i < 5; i++) {
      calls.issue(*c, {"GET", "k"});
    }
    loop.runFor(20);
    c.reset();
  }
  SECTION("from inside a reply callback, with more replies in the same read") {
    requireConnected(loop, *c);
    int ran = 0;
    for (int i = 0; i < 10; i++) {
      c->command({"PING"}, [&, i](absl::StatusOr<RedisReply>) {
        ran++;
        if (i == 2) {
          c.reset();
        }
      });
    }
    REQUIRE(loop.runUntil([&] { return c == nullptr; }, 2000));
    loop.runFor(30);
    CHECK(ran == 3);
  }
  SECTION("from inside a timeout callback") {
    c.reset();
    s.command_timeout = std::chrono::milliseconds(30);
    c = std::make_unique<RedisClient>(&loop.loop, s);
    requireConnected(loop, *c);
    int ran = 0;
    for (int i = 0; i < 3; i++) {
      c->command({"DEBUG", "SLEEP", "0.1"}, [&](absl::StatusOr<RedisReply> r) {
        CHECK(r.status().code() == absl::StatusCode::kDeadlineExceeded);
        ran++;
        c.reset();
      });
    }
    REQUIRE(loop.runUntil([&] { return c == nullptr; }, 2000));
    loop.runFor(150);
    CHECK(ran == 1);
  }
  SECTION("from inside an immediate-failure callback") {
    int ran = 0;
    for (int i = 0; i < 3; i++) {
      c->command({}, [&](absl::StatusOr<RedisReply>) {
        ran++;
        c.reset();
      });
    }
    REQUIRE(loop.runUntil([&] { return c == nullptr; }, 2000));
    loop.runFor(20);
    CHECK(ran == 1);
  }
  SECTION("right after construction (connecting, handshake queued)") {
    calls.issue(*c, {"PING"});  // deferred failure
    c.reset();
  }
  SECTION("while waiting to reconnect") {
    server.kill();
    REQUIRE(loop.runUntil([&] { return c->stats().connect_failures >= 1; }, 2000));
    calls.issue(*c, {"PING"});
    c.reset();
  }
  SECTION("while a host name is being resolved") {
    c.reset();
    c = std::make_unique<RedisClient>(&loop.loop,
                                      settingsFor(absl::StrCat("localhost:", server.port())));
    c.reset();
  }
  CHECK(c == nullptr);
  CHECK(loop.drain());
  for (const Outcome& o : calls.outcomes) {
    CHECK(o.calls == 0);
  }
}

TEST_CASE("redis client: AUTH and SELECT at connection; a wrong password says so", "[redis]") {
  Loop loop;
  RedisServer server({"--requirepass", "s3cret"});

  RedisSettings s = settingsFor(server.address());
  s.password = "s3cret";
  s.database = 3;
  RedisClient db3(&loop.loop, s);
  s.database = 0;
  RedisClient db0(&loop.loop, s);
  requireConnected(loop, db3);
  requireConnected(loop, db0);
  REQUIRE(roundTrip(loop, db3, {"SET", "k", "in3"}).ok());
  auto r = roundTrip(loop, db3, {"GET", "k"});
  REQUIRE(r.ok());
  CHECK(r->str == "in3");
  r = roundTrip(loop, db0, {"GET", "k"});
  REQUIRE(r.ok());
  CHECK(r->isNil());

  s.password = "wrong";
  RedisClient wrong(&loop.loop, s);
  REQUIRE(loop.runUntil([&] { return wrong.stats().connect_failures >= 1; }, 2000));
  CHECK_FALSE(wrong.connected());
  CHECK(absl::StartsWith(wrong.lastError(), "AUTH failed: WRONGPASS"));
  r = roundTrip(loop, wrong, {"GET", "k"});
  CHECK(r.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(r.status().message(), "AUTH failed: WRONGPASS"));
  INFO(r.status().ToString());

  s.password.clear();
  RedisClient none(&loop.loop, s);
  REQUIRE(loop.runUntil([&] { return none.stats().connect_failures >= 1; }, 2000));
  CHECK_FALSE(none.connected());
  CHECK(absl::StartsWith(none.lastError(), "PING failed: NOAUTH"));
}

TEST_CASE("redis client: refused commands and bad settings", "[redis]") {
  CHECK(validateSettings(settingsFor("127.0.0.1:6379")).ok());
  CHECK(validateSettings(settingsFor("[::1]:6379")).ok());
  CHECK(validateSettings(settingsFor("redis.internal:6379")).ok());
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":6379", "[::1]6379", "[::1:6379", "::1:6379",
                          "[nothex]:6379", "h:0", "h:65536", "h:+1", "h:12a"}) {
    INFO(bad);
    CHECK(validateSettings(settingsFor(bad)).code() == absl::StatusCode::kInvalidArgument);
  }
  RedisSettings s = settingsFor("127.0.0.1:6379");
  s.stall_timeout = std::chrono::milliseconds(500);  // below command_timeout
  CHECK_FALSE(validateSettings(s).ok());
  s.stall_timeout = std::chrono::milliseconds(0);
  CHECK(validateSettings(s).ok());
  s.max_pending = 0;
  CHECK(absl::StrContains(validateSettings(s).message(), "max_pending"));

  Loop loop;
  {
    RedisClient invalid(&loop.loop, settingsFor("nowhere"));
    auto r = roundTrip(loop, invalid, {"PING"});
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(r.status().message(), "missing port"));
    CHECK_FALSE(invalid.connected());
  }

  RedisServer server;
  RedisClient c(&loop.loop, settingsFor(server.address()));
  requireConnected(loop, c);
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {}, {"subscribe", "ch"}, {"PSUBSCRIBE", "*"}, {"MONITOR"}, {"client", "REPLY", "OFF"},
           {"SELECT", "2"}, {"AUTH", "x"}, {"HELLO", "3"}, {"RESET"}}) {
    auto r = roundTrip(loop, c, args);
    INFO(r.status().ToString());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  }
  auto r = roundTrip(loop, c, {"CLIENT", "SETNAME", "gw"});  // other CLIENT subcommands pass
  REQUIRE(r.ok());
  CHECK(r->str == "OK");
  CHECK(c.connected());
}

TEST_CASE("redis client: a host name is resolved off the loop", "[redis]") {
  Loop loop;
  RedisServer server;
  RedisClient c(&loop.loop, settingsFor(absl::StrCat("localhost:", server.port())));
  requireConnected(loop, c);
  auto r = roundTrip(loop, c, {"PING"});
  REQUIRE(r.ok());
  CHECK(r->str == "PONG");

  RedisClient unknown(&loop.loop, settingsFor("no-such-host.invalid:6379"));
  REQUIRE(loop.runUntil([&] { return unknown.stats().connect_failures >= 1; }, 3000));
  // Where DNS answers NXDOMAIN slowly, connect_timeout ends the attempt first.
  INFO(unknown.lastError());
  CHECK((absl::StartsWith(unknown.lastError(), "resolve 'no-such-host.invalid'") ||
         absl::StrContains(unknown.lastError(), "no answer within")));
}

} // namespace
} // namespace gw::redis
