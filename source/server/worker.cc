#include "source/server/worker.h"

#include <sys/socket.h>
#include <cerrno>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <linux/filter.h>

#include "absl/strings/str_cat.h"
#include "source/redis/redis_client.h"
#include "source/server/downstream_connection.h"
#include "source/server/health_status.h"
#include "source/server/h2_client_connection.h"
#include "source/server/upstream_connection.h"
#include "source/server/worker_http_client.h"

namespace gw::server {

// ---------------------------------------------------------------------------------------------
// ClusterState

ClusterState::ClusterState(Worker& worker, const ClusterConfig& config,
                           RuntimeConfigConstSharedPtr owner)
    : worker_(worker), config_(&config), owner_(std::move(owner)), runtime_(config.runtime) {
  std::vector<upstream::Host*> hosts;
  for (const auto& ep : config.endpoints) {
    auto p = std::make_unique<HostPool>();
    p->host.index = static_cast<uint32_t>(pools_.size());
    p->host.shared = &runtime_->health(p->host.index);
    p->host.address = ep.address;
    p->host.sockaddr = ep.addr;
    p->host.sockaddr_len = ep.addr_len;
    p->host.weight = ep.weight;
    hosts.push_back(&p->host);
    pools_.push_back(std::move(p));
  }
  lb_ = upstream::LoadBalancer::create(config.proto.lb_policy(), hosts,
                                       worker.random() ^ static_cast<uint64_t>(worker.index()));
}

ClusterState::~ClusterState() = default;

void ClusterState::rebind(const ClusterConfig& config, RuntimeConfigConstSharedPtr owner) {
  config_ = &config;
  owner_ = std::move(owner);
  if (config.runtime != runtime_) {
    // Not adopted (a config applied without Server::publish, as in tests): follow the new one.
    runtime_ = config.runtime;
    for (auto& p : pools_) {
      p->host.shared = &runtime_->health(p->host.index);
    }
  }
}

void ClusterState::retire() {
  retired_ = true;
  for (auto& p : pools_) {
    std::vector<UpstreamConnection*> idle = p->idle;
    for (UpstreamConnection* c : idle) {
      c->release(false);  // idle: closes
    }
    p->idle.clear();
    H2ClientConnection::drainPool(*p);  // HTTP/2: no new streams, close when empty
  }
}

HostPool* ClusterState::poolOf(const upstream::Host* host) {
  for (auto& p : pools_) {
    if (&p->host == host) {
      return p.get();
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Worker

Worker::Worker(int index, const ServerOptions& options) : index_(index), options_(options) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, [](uv_async_t* a) { static_cast<Worker*>(a->data)->runPosted(); });
  async_.data = this;
  uv_check_init(&loop_, &deferred_check_);
  deferred_check_.data = this;
  uv_check_start(&deferred_check_, [](uv_check_t* c) {
    auto* w = static_cast<Worker*>(c->data);
    while (!w->deferred_.empty()) {
      auto list = std::move(w->deferred_);
      w->deferred_.clear();
    }
    w->flushAccessLog();
  });
  // GATEWAYD_NO_WRITE_BATCH=1 sends every write at once (for A/B measurements).
  if (getenv("GATEWAYD_NO_WRITE_BATCH") == nullptr) {
    write_batch_ = std::make_unique<WriteBatch>(&loop_);
  }
  rng_state_ = 0x9E3779B97F4A7C15ULL ^ (static_cast<uint64_t>(getpid()) << 20) ^
               static_cast<uint64_t>(index) ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

Worker::~Worker() {
  if (!loop_closed_) {
    closeLoop();  // never started, or the thread did not get to it
  }
}

void Worker::closeLoop() {
  // What owns handles closes them itself (its close callbacks free its memory): connections,
  // upstream pools, services, listeners. The loop's own handles (the post queue's async, the
  // deferred-delete check, the write batch) are members: closed with no callback.
  std::vector<DownstreamConnection*> conns;
  for (auto& c : connections_) {
    conns.push_back(c.get());
  }
  for (auto* c : conns) {
    c->close(true);
  }
  deferred_.clear();  // the streams: their filters let go of Redis clients and calls
  for (auto& [name, state] : clusters_) {
    state->retire();
  }
  stopServices();
  accept_stop_timer_.reset();
  for (auto& ls : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&ls.release()->handle),
             [](uv_handle_t* h) { delete static_cast<ListenerSocket*>(h->data); });
  }
  listeners_.clear();
  uv_walk(&loop_, [](uv_handle_t* h, void*) {
    if (!uv_is_closing(h)) {
      uv_close(h, nullptr);
    }
  }, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);  // every handle is closing: runs their close callbacks, returns
  deferred_.clear();
  clusters_.clear();
  loop_closed_ = uv_loop_close(&loop_) == 0;
}

void Worker::stopServices() {
  http_client_.reset();
  redis_.clear();
}

std::shared_ptr<redis::RedisClient> Worker::redis(absl::string_view name) {
  auto it = redis_.find(name);
  return it == redis_.end() ? nullptr : it->second.client;
}

void Worker::applyRedisServers(const RuntimeConfig& config) {
  absl::flat_hash_map<std::string, RedisEntry> next;
  for (const RedisServerConfig& rs : config.redis_servers) {
    auto it = redis_.find(rs.name);
    if (it != redis_.end() && it->second.config == rs) {
      next[rs.name] = std::move(it->second);  // unchanged: the connection carries over
      continue;
    }
    redis::RedisSettings settings;
    settings.address = rs.address;
    settings.connect_timeout = rs.connect_timeout;
    settings.command_timeout = rs.command_timeout;
    settings.stall_timeout = std::max(settings.stall_timeout, rs.command_timeout);
    settings.max_pending = rs.max_pending;
    settings.password = rs.password;
    settings.database = rs.database;
    next[rs.name] = RedisEntry{rs, std::make_shared<redis::RedisClient>(&loop_, settings)};
  }
  // Clients of removed or changed servers go once their last in-flight call lets go.
  redis_ = std::move(next);
}

uint64_t Worker::random() {
  // splitmix64
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

namespace {
// "00" .. "ff": two hex digits per byte, one table load each.
struct HexPairs {
  char pair[256][2];
  constexpr HexPairs() : pair() {
    constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 256; i++) {
      pair[i][0] = kHex[i >> 4];
      pair[i][1] = kHex[i & 0xf];
    }
  }
};
constexpr HexPairs kHexPairs;
} // namespace

std::string Worker::newRequestId() {
  char out[36];
  newRequestId(out);
  return std::string(out, sizeof(out));
}

void Worker::newRequestId(char* out) {
  // A random UUID (version 4 layout: 8-4-4-4-12 hex digits). Formatted by hand: snprintf cost
  // more than the rest of the request id path together.
  uint8_t b[16];
  const uint64_t r0 = random();
  const uint64_t r1 = random();
  memcpy(b, &r0, 8);
  memcpy(b + 8, &r1, 8);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char* o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      *o++ = '-';
    }
    memcpy(o, kHexPairs.pair[b[i]], 2);
    o += 2;
  }
}

event::TimerPtr Worker::createTimer(std::function<void()> cb) {
  return std::make_unique<event::Timer>(&loop_, std::move(cb));
}

filters::HttpClient& Worker::httpClient() {
  if (http_client_ == nullptr) {
    http_client_ = std::make_unique<WorkerHttpClient>(*this);
  }
  return *http_client_;
}

void Worker::deferDelete(std::unique_ptr<DeferredDeletable> obj) {
  deferred_.push_back(std::move(obj));
}

namespace {

socklen_t addressLength(const sockaddr_storage& addr) {
  return addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool sameAddress(const sockaddr_storage& a, const sockaddr_storage& b) {
  return a.ss_family == b.ss_family && memcmp(&a, &b, addressLength(a)) == 0;
}

} // namespace

absl::Status Worker::start(RuntimeConfigConstSharedPtr config, const BoundListeners& bound) {
  applyConfig(config);
  for (const auto& [name, addr] : bound) {
    if (auto st = bindListener(name, addr); !st.ok()) {
      return st;
    }
  }
  thread_ = std::thread([this] {
    uv_run(&loop_, UV_RUN_DEFAULT);
    flushAccessLog();
    closeLoop();
  });
  return absl::OkStatus();
}

absl::Status Worker::bindListener(const std::string& name, const sockaddr_storage& addr) {
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("socket(): ", strerror(errno)));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), addressLength(addr)) != 0) {
    const std::string err = strerror(errno);
    ::close(fd);
    return absl::InternalError(absl::StrCat("listener '", name, "': bind ",
                                            formatAddress(reinterpret_cast<const sockaddr*>(&addr)),
                                            ": ", err));
  }
  auto ls = std::make_unique<ListenerSocket>();
  ls->worker = this;
  ls->name = name;
  ls->addr = addr;
  uv_tcp_init(&loop_, &ls->handle);
  ls->handle.data = ls.get();
  uv_tcp_open(&ls->handle, fd);
  const int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&ls->handle), 1024, onAccept);
  if (rc != 0) {
    // The handle owns the fd now: close it through libuv, then free the socket object.
    uv_close(reinterpret_cast<uv_handle_t*>(&ls.release()->handle), [](uv_handle_t* h) {
      delete static_cast<ListenerSocket*>(h->data);
    });
    return absl::InternalError(absl::StrCat("listener '", name, "': listen: ", uv_strerror(rc)));
  }
  listeners_.push_back(std::move(ls));
  return absl::OkStatus();
}

std::vector<std::string> Worker::updateListeners(const BoundListeners& bound) {
  std::vector<std::string> closed;
  std::vector<std::unique_ptr<ListenerSocket>> keep;
  for (auto& ls : listeners_) {
    bool wanted = false;
    for (const auto& [name, addr] : bound) {
      if (name == ls->name && sameAddress(addr, ls->addr)) {
        wanted = true;
        break;
      }
    }
    if (wanted) {
      keep.push_back(std::move(ls));
      continue;
    }
    // Removed or moved: stop accepting. Connections it accepted drain (see applyConfig).
    closed.push_back(ls->name);
    uv_close(reinterpret_cast<uv_handle_t*>(&ls.release()->handle), [](uv_handle_t* h) {
      delete static_cast<ListenerSocket*>(h->data);
    });
  }
  listeners_ = std::move(keep);
  for (const auto& [name, addr] : bound) {
    bool have = false;
    for (const auto& ls : listeners_) {
      if (ls->name == name) {
        have = true;
        break;
      }
    }
    if (!have) {
      if (auto st = bindListener(name, addr); !st.ok()) {
        // The main thread held the port while workers bind, so this is not expected.
        fprintf(stderr, "gatewayd: worker %d: %s\n", index_, std::string(st.message()).c_str());
        fflush(stderr);
      }
    }
  }
  return closed;
}

void Worker::onAccept(uv_stream_t* server, int status) {
  auto* ls = static_cast<ListenerSocket*>(server->data);
  Worker* w = ls->worker;
  if (status != 0) {
    return;
  }
  // Draining too: a connection the kernel accepted before the listener stopped taking new ones
  // is served (one request, Connection: close) rather than reset.
  auto conn = std::make_unique<DownstreamConnection>(*w, ls->name);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(conn->handle())) != 0) {
    conn->close(true);
    w->connections_.push_back(std::move(conn));
    return;
  }
  DownstreamConnection* c = conn.get();
  w->connections_.push_back(std::move(conn));
  c->start();
  if (w->draining_) {
    c->drain();
  }
}

void Worker::onConnectionClosed(DownstreamConnection* c) {
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (it->get() == c) {
      connections_.erase(it);
      break;
    }
  }
  checkDrained();
}

void Worker::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void Worker::runPosted() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    work.swap(posted_);
  }
  for (auto& fn : work) {
    fn();
  }
}

void Worker::setConfig(RuntimeConfigConstSharedPtr config, BoundListeners bound,
                       std::function<void()> done) {
  post([this, config = std::move(config), bound = std::move(bound),
        done = std::move(done)]() mutable {
    applyConfig(std::move(config));
    std::vector<std::string> closed;
    if (!draining_) {
      closed = updateListeners(bound);
    }
    // Connections of a closed listener socket drain; the others re-pin the new config when idle.
    std::vector<DownstreamConnection*> conns;
    for (auto& c : connections_) {
      conns.push_back(c.get());
    }
    for (auto* c : conns) {
      if (std::find(closed.begin(), closed.end(), c->listenerName()) != closed.end()) {
        c->drain();
      } else {
        c->onConfigChanged();
      }
    }
    if (done) {
      done();
    }
  });
}

void Worker::applyConfig(RuntimeConfigConstSharedPtr config) {
  absl::flat_hash_map<std::string, ClusterStateSharedPtr> next;
  for (const auto& [name, cc] : config->clusters) {
    auto it = clusters_.find(name);
    if (it != clusters_.end() && it->second->config().sameUpstreamsAs(*cc)) {
      it->second->rebind(*cc, config);  // pools, health and counters carry over
      next[name] = it->second;
    } else {
      next[name] = std::make_shared<ClusterState>(*this, *cc, config);
    }
  }
  for (auto& [name, state] : clusters_) {
    auto it = next.find(name);
    if (it == next.end() || it->second != state) {
      state->retire();
    }
  }
  clusters_ = std::move(next);
  applyRedisServers(*config);
  config_ = std::move(config);
}

ClusterStateSharedPtr Worker::cluster(absl::string_view name) {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second;
}

void Worker::drain(std::function<void()> on_empty) {
  post([this, on_empty = std::move(on_empty)]() mutable {
    if (draining_) {
      return;
    }
    draining_ = true;
    on_drained_ = std::move(on_empty);
    stopAccepting();
    std::vector<DownstreamConnection*> conns;
    for (auto& c : connections_) {
      conns.push_back(c.get());
    }
    for (auto* c : conns) {
      c->drain();
    }
    checkDrained();
  });
}

namespace {

// Drops TCP segments with SYN and without ACK (new connection attempts), keeps everything else:
// `ldb [13]` is the TCP flags byte (the filter sees the segment from its TCP header).
bool dropNewConnections(uv_tcp_t* listener) {
  static sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),         // SYN | ACK
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),    // SYN alone?
      BPF_STMT(BPF_RET | BPF_K, 0),                       // drop
      BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),             // keep
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(listener), &fd) != 0) {
    return false;
  }
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == 0;
}

} // namespace

// Closing a listening socket resets every connection in its accept queue: a client whose
// handshake the kernel completed gets RST after sending its request. So new connection attempts
// are dropped first (a socket filter on the listener: the client's SYN goes unanswered and,
// retried a second later, meets the closed port: "connection refused", never a lost request);
// handshakes already under way complete and are accepted and served for kAcceptSettleMs; then
// the listeners close with empty queues.
void Worker::stopAccepting() {
  for (auto& ls : listeners_) {
    dropNewConnections(&ls->handle);
  }
  accept_stop_timer_ = createTimer([this] {
    for (auto& ls : listeners_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&ls.release()->handle), [](uv_handle_t* h) {
        delete static_cast<ListenerSocket*>(h->data);
      });
    }
    listeners_.clear();
    checkDrained();
  });
  accept_stop_timer_->enable(std::chrono::milliseconds(kAcceptSettleMs));
}

void Worker::checkDrained() {
  if (draining_ && connections_.empty() && listeners_.empty() && on_drained_) {
    auto cb = std::move(on_drained_);
    on_drained_ = nullptr;
    cb();
  }
}

void Worker::flushAccessLog() {
  size_t off = 0;
  while (off < access_log_.size()) {
    const ssize_t n = ::write(options_.access_log_fd, access_log_.data() + off,
                              access_log_.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;  // the log sink is gone or full: lines are dropped, requests are not held up
    }
    off += static_cast<size_t>(n);
  }
  access_log_.clear();
  if (access_log_.capacity() > 4 * kAccessLogFlushBytes) {
    std::string().swap(access_log_);
  }
}

void Worker::stop() {
  post([this] {
    for (auto& [name, state] : clusters_) {
      state->retire();
    }
    stopServices();
    uv_stop(&loop_);
  });
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::vector<ClusterSnapshot> Worker::clusterSnapshots() {
  std::vector<ClusterSnapshot> out;
  out.reserve(clusters_.size());
  for (const auto& [name, state] : clusters_) {
    ClusterSnapshot c;
    c.name = name;
    for (const auto& p : state->pools()) {
      EndpointSnapshot e;
      e.address = p->host.address;
      e.weight = p->host.weight;
      e.healthy = p->host.usable();
      e.active_requests = p->host.active_requests;
      e.total_requests = p->host.total_requests;
      e.connections = p->total;
      e.idle_connections = p->idle.size();
      c.endpoints.push_back(std::move(e));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string Worker::clustersJson() {
  const int64_t now = upstream::monotonicNowNs();
  std::string out = "[";
  bool first = true;
  for (const auto& [name, state] : clusters_) {
    if (!first) {
      out += ",";
    }
    first = false;
    out += absl::StrCat("{\"name\":\"", name, "\",\"panic\":",
                        state->runtime().panic() ? "true" : "false", ",");
    if (const upstream::CircuitBreaker* b = state->runtime().breaker()) {
      out += absl::StrCat("\"circuit\":{\"state\":\"",
                          upstream::CircuitBreaker::stateName(b->state(now)),
                          "\",\"open_remaining_ms\":", b->openRemainingNs(now) / 1000000,
                          ",\"opened\":", b->opened(), ",\"rejected\":", b->rejected(), "},");
    }
    out += "\"endpoints\":[";
    bool f2 = true;
    for (const auto& p : state->pools()) {
      if (!f2) {
        out += ",";
      }
      f2 = false;
      out += absl::StrCat("{\"address\":\"", p->host.address, "\",\"weight\":", p->host.weight,
                          endpointHealthJson(state->runtime(), p->host.index, now),
                          ",\"active_requests\":", p->host.active_requests,
                          ",\"total_requests\":", p->host.total_requests,
                          ",\"connections\":", p->total, ",\"idle_connections\":",
                          p->idle.size(), "}");
    }
    out += "]}";
  }
  out += "]";
  return out;
}

} // namespace gw::server
