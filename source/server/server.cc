#include "source/server/server.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "source/server/admin.h"
#include "source/server/cache_admin.h"
#include "source/server/health_checker.h"

namespace gw::server {

Server::Server(ServerConfig config, RuntimeConfigConstSharedPtr initial)
    : cfg_(std::move(config)), config_(std::move(initial)), loop_(uv_default_loop()),
      has_config_(!cfg_.wait_for_config) {
  uv_async_init(loop_, &main_async_, [](uv_async_t* a) {
    static_cast<Server*>(a->data)->runMainPosted();
  });
  main_async_.data = this;
  uv_timer_init(loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(loop_, &grace_timer_);
  grace_timer_.data = this;
}

Server::~Server() = default;

void Server::postMain(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(main_mu_);
    main_posted_.push_back(std::move(fn));
  }
  uv_async_send(&main_async_);
}

void Server::runMainPosted() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(main_mu_);
    work.swap(main_posted_);
  }
  for (auto& fn : work) {
    fn();
  }
}

void Server::collect(std::function<std::string(Worker&)> fn,
                     std::function<void(std::vector<std::string>)> done) {
  struct State {
    std::mutex mu;
    std::vector<std::string> results;
    size_t remaining;
    std::function<void(std::vector<std::string>)> done;
  };
  auto st = std::make_shared<State>();
  st->results.resize(workers_.size());
  st->remaining = workers_.size();
  st->done = std::move(done);
  for (size_t i = 0; i < workers_.size(); i++) {
    Worker* w = workers_[i].get();
    w->post([this, st, fn, i, w] {
      std::string r = fn(*w);
      bool last;
      {
        std::lock_guard<std::mutex> lock(st->mu);
        st->results[i] = std::move(r);
        last = --st->remaining == 0;
      }
      if (last) {
        postMain([st] { st->done(std::move(st->results)); });
      }
    });
  }
}

namespace {

// Binds `l`'s address once so that port 0 becomes one concrete port for every worker. The socket
// (SO_REUSEPORT, bound, not listening: it receives no connections) is returned open in `*fd` so
// that nobody else takes the port before the workers have bound it.
absl::StatusOr<sockaddr_storage> reserveListenerAddress(const ListenerConfig& l, int index,
                                                        int* fd) {
  sockaddr_storage addr = l.addr;
  *fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*fd < 0) {
    return absl::InternalError(absl::StrCat("socket(): ", strerror(errno)));
  }
  int one = 1;
  setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(*fd, reinterpret_cast<const sockaddr*>(&addr), l.addr_len) != 0) {
    const std::string err = strerror(errno);
    ::close(*fd);
    *fd = -1;
    return absl::UnavailableError(absl::StrCat("listeners[", index, "].address: listener '", l.name,
                                               "' cannot bind ", l.address, ": ", err));
  }
  socklen_t len = sizeof(addr);
  getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return addr;
}

} // namespace

absl::Status Server::publish(RuntimeConfigConstSharedPtr config, std::function<void()> done) {
  if (draining_) {
    return absl::FailedPreconditionError("gatewayd is draining; no new config is applied");
  }
  config->adoptClusterRuntimes(*config_);
  // Listeners: keep the bound address of every listener whose name and configured address are
  // unchanged (a port-0 listener keeps its port); reserve an address for new or moved ones.
  BoundListeners next;
  auto fds = std::make_shared<std::vector<int>>();
  auto closeFds = [fds] {
    for (int fd : *fds) {
      ::close(fd);
    }
    fds->clear();
  };
  for (size_t i = 0; i < config->listeners.size(); i++) {
    const ListenerConfig& l = *config->listeners[i];
    const ListenerConfig* old = nullptr;
    for (const auto& ol : config_->listeners) {
      if (ol->name == l.name) {
        old = ol.get();
      }
    }
    const sockaddr_storage* kept = nullptr;
    if (old != nullptr && old->address == l.address) {
      for (const auto& [name, addr] : bound_) {
        if (name == l.name) {
          kept = &addr;
        }
      }
    }
    if (kept != nullptr) {
      next.emplace_back(l.name, *kept);
      continue;
    }
    int fd = -1;
    auto addr = reserveListenerAddress(l, static_cast<int>(i), &fd);
    if (!addr.ok()) {
      closeFds();
      return addr.status();
    }
    fds->push_back(fd);
    next.emplace_back(l.name, *addr);
  }
  for (const auto& [name, addr] : next) {
    bool was = false;
    for (const auto& [oname, oaddr] : bound_) {
      was = was || (oname == name && memcmp(&oaddr, &addr, sizeof(addr)) == 0);
    }
    if (!was) {
      fprintf(stderr, "gatewayd: listener '%s' on %s\n", name.c_str(),
              formatAddress(reinterpret_cast<const sockaddr*>(&addr)).c_str());
    }
  }
  for (const auto& [oname, oaddr] : bound_) {
    bool kept = false;
    for (const auto& [name, addr] : next) {
      kept = kept || (oname == name && memcmp(&oaddr, &addr, sizeof(addr)) == 0);
    }
    if (!kept) {
      fprintf(stderr, "gatewayd: listener '%s' on %s closed\n", oname.c_str(),
              formatAddress(reinterpret_cast<const sockaddr*>(&oaddr)).c_str());
    }
  }
  fflush(stderr);
  config_ = config;
  bound_ = next;
  if (health_ != nullptr) {
    health_->reconcile(*config_);  // probes of carried-over runtimes go on; others start/stop
  }
  applyCachePurges();
  has_config_ = true;
  struct Pending {
    size_t remaining;
    std::function<void()> done;
  };
  auto pending = std::make_shared<Pending>(Pending{workers_.size(), std::move(done)});
  auto finish = [pending, closeFds] {
    closeFds();
    if (pending->done) {
      pending->done();
    }
  };
  if (workers_.empty()) {
    finish();
    return absl::OkStatus();
  }
  for (auto& w : workers_) {
    w->setConfig(config, next, [this, pending, finish] {
      postMain([pending, finish] {
        if (--pending->remaining == 0) {
          finish();
        }
      });
    });
  }
  return absl::OkStatus();
}

int Server::run() {
  // Resolve every listener address once (port 0 -> a concrete port shared by all workers).
  std::vector<int> reserved;
  for (size_t i = 0; i < config_->listeners.size(); i++) {
    int fd = -1;
    auto addr = reserveListenerAddress(*config_->listeners[i], static_cast<int>(i), &fd);
    if (!addr.ok()) {
      fprintf(stderr, "gatewayd: %s\n", std::string(addr.status().message()).c_str());
      for (int f : reserved) {
        ::close(f);
      }
      return 1;
    }
    reserved.push_back(fd);
    bound_.emplace_back(config_->listeners[i]->name, *addr);
  }
  for (int i = 0; i < cfg_.workers; i++) {
    workers_.push_back(std::make_unique<Worker>(i, cfg_.options));
  }
  // A startup failure after workers run: stop and join them before returning (a joinable
  // std::thread destroyed with the Server would terminate the process).
  auto stopWorkers = [this] {
    for (auto& w : workers_) {
      w->stop();
    }
    for (auto& w : workers_) {
      w->join();
    }
    workers_.clear();
  };
  for (auto& w : workers_) {
    if (auto st = w->start(config_, bound_); !st.ok()) {
      fprintf(stderr, "gatewayd: %s\n", std::string(st.message()).c_str());
      stopWorkers();
      for (int fd : reserved) {
        ::close(fd);
      }
      return 1;
    }
  }
  for (int fd : reserved) {
    ::close(fd);
  }
  admin_ = std::make_unique<AdminServer>(*this);
  if (auto st = admin_->listen(cfg_.admin_address); !st.ok()) {
    fprintf(stderr, "gatewayd: %s\n", std::string(st.message()).c_str());
    stopWorkers();
    return 1;
  }
  for (const auto& [name, addr] : bound_) {
    fprintf(stderr, "gatewayd: listener '%s' on %s\n", name.c_str(),
            formatAddress(reinterpret_cast<const sockaddr*>(&addr)).c_str());
  }
  health_ = std::make_unique<HealthManager>(loop_);
  health_->reconcile(*config_);
  applyCachePurges();
  fprintf(stderr, "gatewayd: admin on %s, %d worker(s), config version '%s'\n",
          admin_->boundAddress().c_str(), cfg_.workers, config_->version.c_str());
  fflush(stderr);

  uv_signal_init(loop_, &sigterm_);
  uv_signal_init(loop_, &sigint_);
  sigterm_.data = this;
  sigint_.data = this;
  auto on_signal = [](uv_signal_t* s, int signum) {
    static_cast<Server*>(s->data)->onSignal(signum);
  };
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);

  uv_run(loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) {
    w->stop();
  }
  for (auto& w : workers_) {
    w->join();
  }
  return exit_code_;
}

void Server::applyCachePurges() {
  for (const gateway::v1::CachePurge& p : config_->proto.cache_purges()) {
    if (!applied_cache_purges_.insert(p.id()).second) {
      continue;  // carried out when an earlier config brought it
    }
    const char* kind = !p.key().empty() ? "key" : !p.prefix().empty() ? "prefix"
                       : !p.tag().empty() ? "tag" : "all";
    const std::string& value = !p.key().empty() ? p.key() : !p.prefix().empty() ? p.prefix() : p.tag();
    auto removed = cachePurge(kind, value);
    fprintf(stderr, "gatewayd: cache purge '%s' (%s %s): %s\n", p.id().c_str(), kind,
            value.c_str(),
            removed.ok() ? absl::StrCat(*removed, " entries removed").c_str()
                         : std::string(removed.status().message()).c_str());
  }
}

void Server::onSignal(int signum) {
  if (draining_) {
    fprintf(stderr, "gatewayd: second signal (%d), exiting now\n", signum);
    fflush(stderr);
    _exit(1);
  }
  fprintf(stderr, "gatewayd: signal %d, draining (grace %lld ms, timeout %lld ms)\n", signum,
          static_cast<long long>(cfg_.drain_grace.count()),
          static_cast<long long>(cfg_.drain_timeout.count()));
  fflush(stderr);
  startDrain();
}

void Server::startDrain() {
  if (draining_) {
    return;
  }
  draining_ = true;  // /ready answers 503 from now on
  drained_workers_ = 0;
  for (auto& hook : drain_hooks_) {
    hook();
  }
  uv_timer_start(&drain_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Server*>(t->data);
    fprintf(stderr, "gatewayd: drain timeout reached, exiting\n");
    fflush(stderr);
    uv_stop(self->loop_);
  }, cfg_.drain_timeout.count(), 0);
  if (cfg_.drain_grace.count() <= 0) {
    drainWorkers();
    return;
  }
  uv_timer_start(&grace_timer_, [](uv_timer_t* t) {
    static_cast<Server*>(t->data)->drainWorkers();
  }, cfg_.drain_grace.count(), 0);
}

void Server::drainWorkers() {
  fprintf(stderr, "gatewayd: drain grace over: closing listeners, Connection: close on every "
                  "response\n");
  fflush(stderr);
  for (auto& w : workers_) {
    w->drain([this] {
      postMain([this] {
        if (++drained_workers_ == static_cast<int>(workers_.size())) {
          fprintf(stderr, "gatewayd: drained, exiting\n");
          fflush(stderr);
          uv_stop(loop_);
        }
      });
    });
  }
}

} // namespace gw::server
