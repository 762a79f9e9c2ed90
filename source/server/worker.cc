#include "source/server/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "source/server/connection_manager.h"

namespace gw::server {

// ---------------------------------------------------------------------------------------------
// ClusterState

ClusterState::ClusterState(Worker& worker, const ClusterConfig& config,
                           RuntimeConfigConstSharedPtr owner)
    : worker_(worker), config_(&config), owner_(std::move(owner)) {
  std::vector<upstream::Host*> hosts;
  for (const auto& ep : config.endpoints) {
    auto p = std::make_unique<HostPool>();
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

void ClusterState::retire() {
  retired_ = true;
  for (auto& p : pools_) {
    std::vector<UpstreamConnection*> idle = p->idle;
    for (UpstreamConnection* c : idle) {
      c->release(false);  // idle: closes
    }
    p->idle.clear();
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
  });
  rng_state_ = 0x9E3779B97F4A7C15ULL ^ (static_cast<uint64_t>(getpid()) << 20) ^
               static_cast<uint64_t>(index) ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

Worker::~Worker() { uv_loop_close(&loop_); }

uint64_t Worker::random() {
  // splitmix64
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string Worker::newRequestId() {
  // A random UUID (version 4 layout).
  const uint64_t a = random();
  const uint64_t b = random();
  char buf[40];
  snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<uint32_t>(a >> 32),
           static_cast<uint32_t>((a >> 16) & 0xffff), static_cast<uint32_t>(a & 0xfff),
           static_cast<uint32_t>(((b >> 48) & 0x3fff) | 0x8000),
           static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

void Worker::runAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
  struct Timer {
    uv_timer_t handle;
    std::function<void()> fn;
  };
  auto* t = new Timer{uv_timer_t{}, std::move(fn)};
  uv_timer_init(&loop_, &t->handle);
  t->handle.data = t;
  uv_timer_start(&t->handle, [](uv_timer_t* h) {
    auto* t = static_cast<Timer*>(h->data);
    std::function<void()> fn = std::move(t->fn);
    uv_close(reinterpret_cast<uv_handle_t*>(h),
             [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
    fn();
  }, static_cast<uint64_t>(delay.count()), 0);
}

void Worker::deferDelete(std::unique_ptr<DeferredDeletable> obj) {
  deferred_.push_back(std::move(obj));
}

absl::Status Worker::start(RuntimeConfigConstSharedPtr config,
                           const std::vector<std::pair<std::string, sockaddr_storage>>& bound) {
  applyConfig(config);
  for (const auto& [name, addr] : bound) {
    const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return absl::InternalError(absl::StrCat("socket(): ", strerror(errno)));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    const socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
      const std::string err = strerror(errno);
      ::close(fd);
      return absl::InternalError(absl::StrCat("listener '", name, "': bind ",
                                              formatAddress(reinterpret_cast<const sockaddr*>(&addr)),
                                              ": ", err));
    }
    auto ls = std::make_unique<ListenerSocket>();
    ls->worker = this;
    ls->name = name;
    uv_tcp_init(&loop_, &ls->handle);
    ls->handle.data = ls.get();
    uv_tcp_open(&ls->handle, fd);
    const int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&ls->handle), 1024, onAccept);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("listen: ", uv_strerror(rc)));
    }
    listeners_.push_back(std::move(ls));
  }
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  return absl::OkStatus();
}

void Worker::onAccept(uv_stream_t* server, int status) {
  auto* ls = static_cast<ListenerSocket*>(server->data);
  Worker* w = ls->worker;
  if (status != 0 || w->draining_) {
    return;
  }
  auto conn = std::make_unique<DownstreamConnection>(*w, ls->name);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(conn->handle())) != 0) {
    conn->close(true);
    w->connections_.push_back(std::move(conn));
    return;
  }
  DownstreamConnection* c = conn.get();
  w->connections_.push_back(std::move(conn));
  c->start();
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

void Worker::setConfig(RuntimeConfigConstSharedPtr config) {
  post([this, config = std::move(config)]() mutable { applyConfig(std::move(config)); });
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
  config_ = std::move(config);
}

ClusterStateSharedPtr Worker::cluster(absl::string_view name) {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second;
}

void Worker::drain(std::function<void()> on_empty) {
  post([this, on_empty = std::move(on_empty)]() mutable {
    draining_ = true;
    on_drained_ = std::move(on_empty);
    for (auto& ls : listeners_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&ls->handle), nullptr);
    }
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

void Worker::checkDrained() {
  if (draining_ && connections_.empty() && on_drained_) {
    auto cb = std::move(on_drained_);
    on_drained_ = nullptr;
    cb();
  }
}

void Worker::stop() {
  post([this] {
    for (auto& [name, state] : clusters_) {
      state->retire();
    }
    uv_stop(&loop_);
  });
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string Worker::clustersJson() {
  std::string out = "[";
  bool first = true;
  for (const auto& [name, state] : clusters_) {
    if (!first) {
      out += ",";
    }
    first = false;
    out += absl::StrCat("{\"name\":\"", name, "\",\"endpoints\":[");
    bool f2 = true;
    for (const auto& p : state->pools()) {
      if (!f2) {
        out += ",";
      }
      f2 = false;
      out += absl::StrCat("{\"address\":\"", p->host.address, "\",\"weight\":", p->host.weight,
                          ",\"healthy\":", p->host.healthy ? "true" : "false",
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
