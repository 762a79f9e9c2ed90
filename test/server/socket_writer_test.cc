#include "source/server/socket_writer.h"
#include "source/server/deadline_timer.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace gw::server {
namespace {

// A libuv pipe over one end of a socketpair; the test reads the other end directly.
struct Sock {
  uv_loop_t loop;
  uv_pipe_t pipe;
  int peer = -1;
  std::vector<int> done;  // statuses reported to the owner

  Sock() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    peer = fds[1];
    uv_loop_init(&loop);
    uv_pipe_init(&loop, &pipe, 0);
    REQUIRE(uv_pipe_open(&pipe, fds[0]) == 0);
  }
  ~Sock() { shutdown(); }
  // Closes the pipe and runs the loop out; a WriteBatch on the loop must still be alive.
  void shutdown() {
    if (shut_) {
      return;
    }
    shut_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);  // every handle closed
    if (peer >= 0) {
      close(peer);
    }
  }
  bool shut_ = false;
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&pipe); }
  static void onDone(void* self, int status) { static_cast<Sock*>(self)->done.push_back(status); }
  // Reads what is available now from the peer (non-blocking).
  std::string readAvailable() {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) {
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }
};

// A writer without a batch: writes leave at once (or at uncork).
struct Pair : Sock {
  SocketWriter writer{stream(), this, &Sock::onDone};
};

TEST_CASE("socket writer: an uncorked write goes straight to the socket", "[socket_writer]") {
  Pair p;
  REQUIRE(p.writer.write(absl::string_view("hello")) == 0);
  CHECK(p.writer.pendingWrites() == 0);  // written synchronously: no queued request
  CHECK(p.writer.queuedBytes() == 0);
  CHECK(p.readAvailable() == "hello");
  CHECK(p.done.empty());  // no completion callback for a synchronous write
}

TEST_CASE("socket writer: corked writes wait and leave together at the outermost uncork",
          "[socket_writer]") {
  Pair p;
  p.writer.cork();
  p.writer.cork();
  REQUIRE(p.writer.write(absl::string_view("HTTP/1.1 200 OK\r\n\r\n")) == 0);
  REQUIRE(p.writer.write(std::string("body")) == 0);
  CHECK(p.readAvailable().empty());  // nothing sent while corked
  CHECK(p.writer.queuedBytes() == 23);
  REQUIRE(p.writer.uncork() == 0);
  CHECK(p.readAvailable().empty());  // still corked once
  REQUIRE(p.writer.uncork() == 0);
  CHECK(p.readAvailable() == "HTTP/1.1 200 OK\r\n\r\nbody");
  CHECK(p.writer.queuedBytes() == 0);
}

TEST_CASE("socket writer: a large write while corked flushes what gathered first, in order",
          "[socket_writer]") {
  Pair p;
  p.writer.cork();
  REQUIRE(p.writer.write(absl::string_view("head|")) == 0);
  const std::string big(64 * 1024, 'x');
  REQUIRE(p.writer.write(absl::string_view(big)) == 0);  // over the gather limit: sent now
  std::string got = p.readAvailable();
  REQUIRE(p.writer.uncork() == 0);
  while (p.writer.pendingWrites() > 0) {
    uv_run(&p.loop, UV_RUN_NOWAIT);
    got += p.readAvailable();
  }
  got += p.readAvailable();
  CHECK(got == "head|" + big);
}

TEST_CASE("socket writer: what the socket does not take is queued and keeps its order",
          "[socket_writer]") {
  Pair p;
  int sz = 4096;
  setsockopt(p.peer, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  // Fill the socket: the first write is partly taken, the rest queues, later writes queue behind.
  std::string expected;
  for (int i = 0; i < 8; i++) {
    std::string chunk(100 * 1024, static_cast<char>('a' + i));
    expected += chunk;
    REQUIRE(p.writer.write(std::move(chunk)) == 0);
  }
  CHECK(p.writer.pendingWrites() > 0);
  CHECK(p.writer.queuedBytes() > 0);
  std::string got = p.readAvailable();
  while (got.size() < expected.size()) {
    uv_run(&p.loop, UV_RUN_NOWAIT);
    got += p.readAvailable();
  }
  CHECK(got == expected);
  uv_run(&p.loop, UV_RUN_NOWAIT);
  CHECK(p.writer.pendingWrites() == 0);
  CHECK(!p.done.empty());
  for (int s : p.done) {
    CHECK(s == 0);
  }
}

TEST_CASE("socket writer: discard drops gathered bytes; flush sends them while still corked",
          "[socket_writer]") {
  Pair p;
  p.writer.cork();
  REQUIRE(p.writer.write(absl::string_view("dropped")) == 0);
  p.writer.discard();
  REQUIRE(p.writer.write(absl::string_view("kept")) == 0);
  REQUIRE(p.writer.flush() == 0);
  CHECK(p.readAvailable() == "kept");
  REQUIRE(p.writer.uncork() == 0);
  CHECK(p.readAvailable().empty());
}

TEST_CASE("socket writer: a write to a closed peer reports the error", "[socket_writer]") {
  signal(SIGPIPE, SIG_IGN);  // as gatewayd does: errors, not signals
  Pair p;
  close(p.peer);
  p.peer = -1;
  std::string big(256 * 1024, 'z');
  int rc = p.writer.write(absl::string_view(big));
  // The first write may be taken by the kernel buffer or fail at once with EPIPE; a queued one
  // completes with an error.
  if (rc == 0) {
    for (int i = 0; i < 100 && p.writer.pendingWrites() > 0; i++) {
      uv_run(&p.loop, UV_RUN_NOWAIT);
    }
    REQUIRE(!p.done.empty());
    CHECK(p.done.back() != 0);
  } else {
    CHECK(rc < 0);
  }
}


TEST_CASE("socket writer: a stream that is not a socket (a pipe) is written through libuv",
          "[socket_writer]") {
  // send() refuses a pipe (ENOTSOCK); the writer falls back to uv_try_write, so the bytes
  // still arrive, in order, with and without a second gathered buffer.
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_pipe_t handle;
  uv_pipe_init(&loop, &handle, 0);
  REQUIRE(uv_pipe_open(&handle, fds[1]) == 0);
  std::vector<int> done;
  const std::string big(20 * 1024, 'b');
  const std::string expected = "one two " + big + " three";
  {
    SocketWriter writer(reinterpret_cast<uv_stream_t*>(&handle), &done,
                        [](void* d, int status) { static_cast<std::vector<int>*>(d)->push_back(status); });
    REQUIRE(writer.write(absl::string_view("one ")) == 0);
    writer.cork();
    REQUIRE(writer.write(absl::string_view("two ")) == 0);
    // Larger than the gather limit: leaves at once behind "two " (two buffers, one call).
    REQUIRE(writer.write(absl::string_view(big)) == 0);
    REQUIRE(writer.write(absl::string_view(" three")) == 0);
    REQUIRE(writer.uncork() == 0);
    CHECK(writer.pendingWrites() == 0);
  }
  std::string got;
  char buf[65536];
  while (got.size() < expected.size()) {
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    REQUIRE(n > 0);
    got.append(buf, static_cast<size_t>(n));
  }
  CHECK(got == expected);
  CHECK(done.empty());
  uv_close(reinterpret_cast<uv_handle_t*>(&handle), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  close(fds[0]);
}

// A writer on a loop with a WriteBatch: writes leave when the loop iteration ends.
struct BatchedPair : Sock {
  std::unique_ptr<WriteBatch> batch = std::make_unique<WriteBatch>(&loop);
  std::unique_ptr<SocketWriter> writer =
      std::make_unique<SocketWriter>(stream(), this, &Sock::onDone, batch.get());

  ~BatchedPair() {
    writer.reset();
    batch->close();
    shutdown();  // while the batch (its closing loop handles) still exists
  }

  // One loop iteration from inside a callback (as the proxy writes: from an I/O or timer
  // callback), so that the batch's check handle runs after it.
  void runInCallback(void (*fn)(BatchedPair*)) {
    struct Ctx {
      BatchedPair* self;
      void (*fn)(BatchedPair*);
    } ctx{this, fn};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &ctx;
    uv_timer_start(&t, [](uv_timer_t* h) {
      auto* c = static_cast<Ctx*>(h->data);
      c->fn(c->self);
      uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
    }, 0, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
};

TEST_CASE("socket writer: with a batch, writes of one loop iteration leave together at its end",
          "[socket_writer]") {
  BatchedPair p;
  static std::string seen_inside;
  p.runInCallback([](BatchedPair* b) {
    REQUIRE(b->writer->write(absl::string_view("GET / HTTP/1.1\r\n")) == 0);
    REQUIRE(b->writer->write(std::string("host: a\r\n\r\n")) == 0);
    seen_inside = b->readAvailable();  // nothing has left yet
    CHECK(b->writer->queuedBytes() == 27);
  });
  CHECK(seen_inside.empty());
  CHECK(p.readAvailable() == "GET / HTTP/1.1\r\nhost: a\r\n\r\n");  // one write, in order
  CHECK(p.writer->queuedBytes() == 0);
  CHECK(p.done.empty());
}

TEST_CASE("socket writer: with a batch, a corked write waits for uncork, then for the iteration",
          "[socket_writer]") {
  BatchedPair p;
  p.runInCallback([](BatchedPair* b) {
    b->writer->cork();
    REQUIRE(b->writer->write(absl::string_view("head")) == 0);
  });
  CHECK(p.readAvailable().empty());  // still corked after the iteration
  p.runInCallback([](BatchedPair* b) { REQUIRE(b->writer->uncork() == 0); });
  CHECK(p.readAvailable() == "head");
}

TEST_CASE("socket writer: with a batch, discard sends released bytes and drops corked ones",
          "[socket_writer]") {
  BatchedPair p;
  static std::string seen_inside;
  p.runInCallback([](BatchedPair* b) {
    REQUIRE(b->writer->write(absl::string_view("released")) == 0);
    b->writer->cork();
    REQUIRE(b->writer->write(absl::string_view("+corked")) == 0);
    b->writer->discard();  // a reset: what was written goes out first, as it did unbatched
    seen_inside = b->readAvailable();
  });
  CHECK(seen_inside == "released");
  CHECK(p.readAvailable().empty());
  CHECK(p.writer->queuedBytes() == 0);
}

TEST_CASE("socket writer: a writer destroyed with a batched write pending is forgotten",
          "[socket_writer]") {
  BatchedPair p;
  p.runInCallback([](BatchedPair* b) {
    REQUIRE(b->writer->write(absl::string_view("lost")) == 0);
    b->writer.reset();  // the batch must not touch it at the end of the iteration
  });
  CHECK(p.readAvailable().empty());
}

// DeadlineTimer: re-armed and cancelled without touching libuv's timer heap each time.
struct TimerFixture {
  uv_loop_t loop;
  DeadlineTimer timer;
  std::vector<uint64_t> fired_at;  // loop time of each callback
  uint64_t start = 0;

  TimerFixture() {
    uv_loop_init(&loop);
    timer.init(&loop, this);
    start = uv_now(&loop);
  }
  ~TimerFixture() {
    uv_close(timer.asHandle(), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  static void record(void* owner) {
    auto* f = static_cast<TimerFixture*>(owner);
    f->fired_at.push_back(uv_now(&f->loop) - f->start);
  }
};

TEST_CASE("deadline timer: fires once at its deadline, never before", "[deadline_timer]") {
  TimerFixture f;
  f.timer.arm(30, &TimerFixture::record);
  CHECK(f.timer.armed());
  uv_run(&f.loop, UV_RUN_DEFAULT);
  REQUIRE(f.fired_at.size() == 1);
  CHECK(f.fired_at[0] >= 30);
  CHECK_FALSE(f.timer.armed());
}

TEST_CASE("deadline timer: a cancelled timer never calls back and lets the loop end",
          "[deadline_timer]") {
  TimerFixture f;
  f.timer.arm(20, &TimerFixture::record);
  f.timer.disarm();
  uv_run(&f.loop, UV_RUN_DEFAULT);  // the libuv timer fires once, finds no callback, stops
  CHECK(f.fired_at.empty());
  CHECK_FALSE(uv_is_active(f.timer.asHandle()));
}

TEST_CASE("deadline timer: moving the deadline later delays the callback to the new deadline",
          "[deadline_timer]") {
  TimerFixture f;
  f.timer.arm(10, &TimerFixture::record);
  f.timer.arm(60, &TimerFixture::record);  // the running libuv timer (10 ms) is left alone
  uv_run(&f.loop, UV_RUN_DEFAULT);
  REQUIRE(f.fired_at.size() == 1);
  CHECK(f.fired_at[0] >= 60);
}

TEST_CASE("deadline timer: moving the deadline earlier fires at the earlier one",
          "[deadline_timer]") {
  TimerFixture f;
  f.timer.arm(5000, &TimerFixture::record);
  f.timer.arm(20, &TimerFixture::record);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  REQUIRE(f.fired_at.size() == 1);
  CHECK(f.fired_at[0] >= 20);
  CHECK(f.fired_at[0] < 1000);
}

TEST_CASE("deadline timer: re-armed after a cancel, the new callback and deadline hold",
          "[deadline_timer]") {
  TimerFixture f;
  f.timer.arm(10, &TimerFixture::record);
  f.timer.disarm();
  f.timer.arm(40, &TimerFixture::record);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  REQUIRE(f.fired_at.size() == 1);
  CHECK(f.fired_at[0] >= 40);
}

} // namespace
} // namespace gw::server
