#pragma once

// Test helpers for //test/redis: a real redis-server process, a fake server that resets, and a
// loop driver.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cstdlib>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "source/redis/redis_client.h"

namespace gw::redis::testing {

// ---- a real redis-server on a free loopback port ----

inline std::string findRedisServer() {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    dirs = absl::StrSplit(path, ':', absl::SkipEmpty());
  }
  for (const char* d : {"/usr/bin", "/usr/sbin", "/usr/local/bin"}) {
    dirs.emplace_back(d);
  }
  for (const std::string& d : dirs) {
    const std::string bin = d + "/redis-server";
    if (access(bin.c_str(), X_OK) == 0) {
      return bin;
    }
  }
  return "";
}

inline int freePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

// True when something on the port answers a PING with a RESP reply (+PONG, or -NOAUTH).
inline bool answersPing(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  timeval tv{0, 200 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  char c = 0;
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6 && recv(fd, &c, 1, 0) == 1 &&
                  (c == '+' || c == '-');
  close(fd);
  return ok;
}

class RedisServer {
public:
  explicit RedisServer(std::vector<std::string> extra = {}, bool start_now = true)
      : port_(freePort()), extra_(std::move(extra)) {
    if (start_now) {
      start();
    }
  }
  ~RedisServer() { kill(); }

  // Starts redis-server on the port (again, after kill()) and waits until it answers.
  void start() {
    static const std::string bin = findRedisServer();
    if (bin.empty()) {
      FAIL("redis-server not found (PATH, /usr/bin, /usr/sbin, /usr/local/bin): these tests "
           "need a real Redis; install Debian's redis-server package");
    }
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::vector<std::string> args = {bin,
                                     "--port", std::to_string(port_),
                                     "--bind", "127.0.0.1",
                                     "--save", "",
                                     "--appendonly", "no",
                                     "--enable-debug-command", "yes",
                                     "--dir", tmp != nullptr ? tmp : "/tmp"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      const int null = open("/dev/null", O_RDWR);
      dup2(null, 1);
      dup2(null, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500; i++) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("redis-server exited at start (status " << status << ") on port " << port_);
      }
      if (answersPing(port_)) {
        return;
      }
      usleep(10 * 1000);
    }
    FAIL("redis-server did not answer within 5 s on port " << port_);
  }
  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

private:
  int port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

// ---- the loop ----

struct Loop {
  uv_loop_t loop;
  uv_timer_t tick;  // wakes UV_RUN_ONCE at least every 5 ms while waiting

  Loop() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    CHECK(drain());
    CHECK(uv_loop_close(&loop) == 0);
  }
  // Runs the loop until pred() holds or `ms` pass; returns pred().
  bool runUntil(const std::function<bool()>& pred, uint64_t ms) {
    uv_update_time(&loop);
    const uint64_t deadline = uv_now(&loop) + ms;
    uv_timer_start(&tick, [](uv_timer_t*) {}, 5, 5);
    while (!pred() && uv_now(&loop) < deadline) {
      uv_run(&loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&tick);
    return pred();
  }
  void runFor(uint64_t ms) {
    runUntil([] { return false; }, ms);
  }
  // Runs until nothing keeps the loop alive (no active handle or request, nothing closing);
  // false if that takes over 3 s.
  bool drain() {
    const uint64_t start = uv_hrtime();
    while (uv_loop_alive(&loop) != 0 && uv_hrtime() - start < 3'000'000'000ull) {
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(500);
    }
    return uv_loop_alive(&loop) == 0;
  }
  uint64_t now() {
    uv_update_time(&loop);
    return uv_now(&loop);
  }
};

// ---- commands ----

struct Outcome {
  int calls = 0;
  absl::StatusOr<RedisReply> result = absl::UnknownError("no callback yet");
  bool done() const { return calls > 0; }
};

// Outcomes live in a deque: stable addresses for the callbacks.
struct Calls {
  std::deque<Outcome> outcomes;
  Outcome& issue(RedisClient& c, std::vector<std::string> args, uint64_t* id = nullptr) {
    Outcome& o = outcomes.emplace_back();
    const uint64_t got = c.command(std::move(args), [&o](absl::StatusOr<RedisReply> r) {
      o.calls++;
      o.result = std::move(r);
    });
    if (id != nullptr) {
      *id = got;
    }
    return o;
  }
};

// A fake Redis on the test's loop: answers the handshake PING, then resets the connection
// (SO_LINGER 0: an RST, not a FIN) when the next command arrives.
struct ResettingServer {
  uv_tcp_t listener;
  uv_tcp_t conn;
  bool accepted = false;
  bool reset = false;
  int port = 0;

  explicit ResettingServer(uv_loop_t* loop) {
    uv_tcp_init(loop, &listener);
    listener.data = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", 0, &a);
    REQUIRE(uv_tcp_bind(&listener, reinterpret_cast<sockaddr*>(&a), 0) == 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 8, &onConnection) == 0);
  }
  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    if (accepted && !reset) {
      uv_close(reinterpret_cast<uv_handle_t*>(&conn), nullptr);
    }
  }
  static void onConnection(uv_stream_t* l, int status) {
    auto* self = static_cast<ResettingServer*>(l->data);
    if (status != 0 || self->accepted) {
      return;
    }
    uv_tcp_init(l->loop, &self->conn);
    self->conn.data = self;
    REQUIRE(uv_accept(l, reinterpret_cast<uv_stream_t*>(&self->conn)) == 0);
    self->accepted = true;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&self->conn),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char storage[4096];
          *buf = uv_buf_init(storage, sizeof(storage));
        },
        &onRead);
  }
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<ResettingServer*>(s->data);
    if (n <= 0 || self->reset) {
      return;
    }
    if (absl::StrContains(absl::string_view(buf->base, static_cast<size_t>(n)), "PING")) {
      uv_buf_t pong = uv_buf_init(const_cast<char*>("+PONG\r\n"), 7);
      uv_try_write(s, &pong, 1);
      return;
    }
    self->reset = true;
    uv_tcp_close_reset(&self->conn, nullptr);
  }
};

} // namespace gw::redis::testing
