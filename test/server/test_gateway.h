#pragma once

// In-process harness for stream tests: one real Worker (its own loop thread) serving a config,
// demo_upstream processes as upstreams, and a blocking HTTP/1.1 client. Everything on 127.0.0.1,
// every wait bounded.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "source/config/config.h"
#include "source/server/runtime_config.h"
#include "source/server/worker.h"

namespace gw::server::test {

// A free loopback port (bound and released; good enough for tests started one at a time).
inline int freePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline bool canConnect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

inline void waitFor(const std::function<bool()>& pred, int timeout_ms, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    INFO(what);
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The path of a binary the test depends on (Bazel runfiles).
inline std::string runfile(const std::string& path) {
  const char* dir = getenv("TEST_SRCDIR");
  return dir == nullptr ? path : absl::StrCat(dir, "/gateway/", path);
}

// A demo_upstream process (tools/demo_upstream) on a free port.
class Upstream {
public:
  Upstream() : port_(freePort()) {
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const std::string bin = runfile("tools/demo_upstream/demo_upstream");
      const std::string port = std::to_string(port_);
      execl(bin.c_str(), bin.c_str(), "--port", port.c_str(), "--quiet", nullptr);
      _exit(127);
    }
    waitFor([this] { return canConnect(port_); }, 5000, "demo_upstream listening");
  }
  ~Upstream() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

private:
  int port_;
  pid_t pid_;
};

// One Worker serving `yaml` (with {listen} replaced by the listener address).
class Gateway {
public:
  explicit Gateway(const std::string& yaml) {
    port_ = freePort();
    const std::string text = absl::StrReplaceAll(yaml, {{"{listen}", absl::StrCat("127.0.0.1:",
                                                                                 port_)}});
    auto parsed = config::parseConfig(text);
    INFO(parsed.status().ToString());
    REQUIRE(parsed.ok());
    auto compiled = compileConfig(*std::move(parsed));
    INFO(compiled.status().ToString());
    REQUIRE(compiled.ok());
    config_ = *compiled;
    BoundListeners bound;
    for (const auto& l : config_->listeners) {
      bound.emplace_back(l->name, l->addr);
    }
    ServerOptions options;
    options.access_log = false;
    worker_ = std::make_unique<Worker>(0, options);
    REQUIRE(worker_->start(config_, bound).ok());
    waitFor([this] { return canConnect(port_); }, 5000, "worker listening");
  }
  ~Gateway() {
    worker_->stop();
    worker_->join();
  }
  int port() const { return port_; }
  Worker& worker() { return *worker_; }
  // Runs `fn` on the worker's loop and waits for it.
  template <class T> T onLoop(std::function<T(Worker&)> fn) {
    std::promise<T> p;
    worker_->post([&] { p.set_value(fn(*worker_)); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    return f.get();
  }

private:
  int port_ = 0;
  RuntimeConfigConstSharedPtr config_;
  std::unique_ptr<Worker> worker_;
};

struct Response {
  int status = 0;  // 0: no response (connection closed or timed out first)
  std::map<std::string, std::string> headers;  // lower-case names; repeated ones joined by ", "
  std::string body;
  std::string raw;
};

// Parses one HTTP/1.1 response from `raw` (Content-Length, chunked or close-delimited).
inline Response parseResponse(const std::string& raw) {
  Response r;
  r.raw = raw;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) {
    return r;
  }
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
  if (!absl::SimpleAtoi(lines[0].substr(9, 3), &r.status)) {
    r.status = 0;
  }
  for (size_t i = 1; i < lines.size(); i++) {
    const size_t colon = lines[i].find(':');
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    auto [it, fresh] = r.headers.emplace(name, value);
    if (!fresh) {
      it->second += ", " + value;
    }
  }
  std::string rest = raw.substr(end + 4);
  if (r.headers.count("transfer-encoding") != 0) {
    size_t pos = 0;
    while (pos < rest.size()) {
      const size_t nl = rest.find("\r\n", pos);
      if (nl == std::string::npos) {
        break;
      }
      size_t n = 0;
      if (!absl::SimpleHexAtoi(rest.substr(pos, nl - pos), &n) || n == 0) {
        break;
      }
      r.body += rest.substr(nl + 2, n);
      pos = nl + 2 + n + 2;
    }
  } else {
    r.body = rest;
  }
  return r;
}

// A blocking client connection to 127.0.0.1:port.
class Client {
public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~Client() { closeNow(); }
  void send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        return;  // the gateway closed: what it answered is still readable
      }
      off += static_cast<size_t>(n);
    }
  }
  // Everything until the gateway closes the connection (or the 5 s receive timeout).
  std::string readAll() {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  void closeNow() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

private:
  int fd_ = -1;
};

// One request with Connection: close; the parsed response.
inline Response request(int port, const std::string& method, const std::string& path,
                        const std::vector<std::string>& headers = {},
                        const std::string& body = "") {
  Client c(port);
  std::string req = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: test\r\n");
  for (const auto& h : headers) {
    absl::StrAppend(&req, h, "\r\n");
  }
  if (!body.empty() || method == "POST") {
    absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&req, "Connection: close\r\n\r\n", body);
  c.send(req);
  return parseResponse(c.readAll());
}

} // namespace gw::server::test
