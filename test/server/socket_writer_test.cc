#include "source/server/socket_writer.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace gw::server {
namespace {

// A libuv pipe over one end of a socketpair; the test reads the other end directly.
struct Pair {
  uv_loop_t loop;
  uv_pipe_t pipe;
  int peer = -1;
  std::vector<int> done;  // statuses reported to the owner
  SocketWriter writer{reinterpret_cast<uv_stream_t*>(&pipe), this,
                      [](void* self, int status) { static_cast<Pair*>(self)->done.push_back(status); }};

  Pair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    peer = fds[1];
    uv_loop_init(&loop);
    uv_pipe_init(&loop, &pipe, 0);
    REQUIRE(uv_pipe_open(&pipe, fds[0]) == 0);
  }
  ~Pair() {
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(peer);
  }
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

} // namespace
} // namespace gw::server
