#include "source/server/health_checker.h"

#include <cstdio>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "source/tls/client_context.h"
#include "source/tls/session.h"

namespace gw::server {

namespace {

uint64_t toMs(int64_t ns) { return static_cast<uint64_t>((ns + 999'999) / 1'000'000); }

std::mt19937_64& rng() {
  static std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

} // namespace

// One endpoint's active check, on the main loop. Waits (interval + jitter), connects (and, on a
// cluster with `tls`, completes a TLS handshake verified as the cluster's requests are, offering
// only http/1.1 by ALPN), writes the request, reads until the status line, closes; one check at a
// time, bounded by the timeout. Owns its timer; each check's connection is its own allocation
// (Check) so that a probe stopped in the middle of a check can go at once while the connection
// finishes closing.
class HealthProbe {
public:
  HealthProbe(uv_loop_t* loop, std::shared_ptr<upstream::ClusterRuntime> runtime, size_t index,
              const EndpointConfig& endpoint, std::shared_ptr<const tls::ClientContext> tls)
      : runtime_(std::move(runtime)), settings_(*runtime_->healthCheck()), index_(index),
        address_(endpoint.address), addr_(endpoint.addr), request_(settings_.request()),
        tls_(std::move(tls)), loop_(loop) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
  }

  // The first check runs soon after start (spread over up to one jitter, at most 100 ms + jitter,
  // so a config with many endpoints does not connect to all at once).
  void start() {
    const int64_t spread = std::min<int64_t>(settings_.interval_ns, 100'000'000);
    wait(static_cast<int64_t>(std::uniform_real_distribution<double>(0, 1)(rng()) *
                              static_cast<double>(spread + settings_.jitter_ns)));
  }

  // Closes the timer (the probe is deleted in its close callback) and abandons a check in flight.
  void stop() {
    abandonCheck();
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
             [](uv_handle_t* h) { delete static_cast<HealthProbe*>(h->data); });
  }

private:
  struct Check {
    uv_tcp_t tcp;
    uv_connect_t connect;
    HealthProbe* probe;  // nullptr once the probe is done with it
    std::string in;      // the response's plaintext so far
    std::unique_ptr<tls::Session> session;  // on a TLS cluster
    bool request_sent = false;
    char buf[4096];
  };
  // One write in flight; owns its bytes (a write may outlive the probe, not the Check: libuv
  // cancels a closing handle's writes before its close callback runs).
  struct Write {
    uv_write_t req;
    std::string data;
    Check* check;
  };

  // Queues `data` on the check's connection. False (and the check finished) on an error.
  bool send(Check* c, std::string data) {
    if (data.empty()) {
      return true;
    }
    auto* w = new Write{uv_write_t{}, std::move(data), c};
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1,
                            [](uv_write_t* req, int st) {
                              auto* w = static_cast<Write*>(req->data);
                              Check* c = w->check;
                              delete w;
                              if (c->probe != nullptr && st != 0) {
                                c->probe->finish(false, absl::StrCat("write: ", uv_strerror(st)));
                              }
                            });
    if (rc != 0) {
      delete w;
      finish(false, absl::StrCat("write: ", uv_strerror(rc)));
      return false;
    }
    return true;
  }

  // Sends the request once it can go: at once in plaintext, after the handshake over TLS.
  bool sendRequest(Check* c) {
    if (c->request_sent || (c->session != nullptr && !c->session->open())) {
      return true;
    }
    c->request_sent = true;
    if (c->session == nullptr) {
      return send(c, request_);
    }
    std::string wire;
    if (!c->session->send(request_, &wire)) {
      finish(false, absl::StrCat("tls: ", c->session->error()));
      return false;
    }
    return send(c, std::move(wire));
  }

  void wait(int64_t ns) {
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<HealthProbe*>(t->data)->begin(); },
                   toMs(ns), 0);
  }

  void begin() {
    check_ = new Check();
    check_->probe = this;
    uv_tcp_init(loop_, &check_->tcp);
    check_->tcp.data = check_;
    check_->connect.data = check_;
    uv_timer_start(&timer_, [](uv_timer_t* t) {
      auto* self = static_cast<HealthProbe*>(t->data);
      self->finish(false, absl::StrCat("timeout after ", toMs(self->settings_.timeout_ns), " ms"));
    }, toMs(settings_.timeout_ns), 0);
    const int rc = uv_tcp_connect(&check_->connect, &check_->tcp,
                                  reinterpret_cast<const sockaddr*>(&addr_), onConnect);
    if (rc != 0) {
      finish(false, absl::StrCat("connect: ", uv_strerror(rc)));
    }
  }

  static void onConnect(uv_connect_t* req, int status) {
    auto* c = static_cast<Check*>(req->data);
    if (c->probe == nullptr) {
      return;
    }
    HealthProbe* self = c->probe;
    if (status != 0) {
      self->finish(false, absl::StrCat("connect: ", uv_strerror(status)));
      return;
    }
    if (self->tls_ != nullptr) {
      c->session = std::make_unique<tls::Session>(
          self->tls_->newSsl(tls::ClientContext::hostOf(self->address_), /*http1_only=*/true),
          self->tls_);
      c->session->connect();
      std::string hello;
      c->session->takeOutput(&hello);
      if (!self->send(c, std::move(hello))) {
        return;
      }
    } else if (!self->sendRequest(c)) {
      return;
    }
    const int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* out) {
          auto* c = static_cast<Check*>(h->data);
          *out = uv_buf_init(c->buf, sizeof(c->buf));
        },
        onRead);
    if (rc != 0) {
      self->finish(false, absl::StrCat("read: ", uv_strerror(rc)));
    }
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* c = static_cast<Check*>(s->data);
    if (c->probe == nullptr) {
      return;
    }
    HealthProbe* self = c->probe;
    if (n == UV_EOF) {
      self->finish(false, "connection closed before a status line");
      return;
    }
    if (n < 0) {
      self->finish(false, absl::StrCat("read: ", uv_strerror(static_cast<int>(n))));
      return;
    }
    if (c->session != nullptr) {
      const bool ok = c->session->receive(c->buf, static_cast<size_t>(n), &c->in);
      std::string reply;  // handshake messages, alerts
      c->session->takeOutput(&reply);
      if (!self->send(c, std::move(reply))) {
        return;
      }
      if (!ok) {
        self->finish(false, absl::StrCat("tls: ", c->session->error()));
        return;
      }
      if (!self->sendRequest(c)) {
        return;
      }
    } else {
      c->in.append(c->buf, static_cast<size_t>(n));
    }
    const int status = upstream::parseStatusLine(c->in);
    if (status < 0) {
      self->finish(false, "malformed response");
    } else if (status > 0) {
      self->finish(self->settings_.expects(status), absl::StrCat("status ", status));
    }
  }

  void abandonCheck() {
    if (check_ == nullptr) {
      return;
    }
    check_->probe = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&check_->tcp),
             [](uv_handle_t* h) { delete static_cast<Check*>(h->data); });
    check_ = nullptr;
  }

  // One check is over: close its connection, apply the result, wait for the next.
  void finish(bool success, const std::string& detail) {
    abandonCheck();
    uv_timer_stop(&timer_);
    (success ? runtime_->health_checks_success : runtime_->health_checks_failure)
        .fetch_add(1, std::memory_order_relaxed);
    using T = upstream::HostCheckTracker::Transition;
    const T t = tracker_.onResult(success, settings_.healthy_threshold,
                                  settings_.unhealthy_threshold);
    if (t != T::None) {
      upstream::HostHealth& h = runtime_->health(index_);
      if (t == T::BecameUnhealthy) {
        h.set(upstream::HostHealth::kActiveCheckFailed);
      } else {
        h.clear(upstream::HostHealth::kActiveCheckFailed);
      }
      fprintf(stderr, "gatewayd: health check: cluster '%s' endpoint %s %s (%s)\n",
              runtime_->name().c_str(), address_.c_str(),
              t == T::BecameUnhealthy ? "unhealthy" : "healthy", detail.c_str());
      fflush(stderr);
      runtime_->recomputePanic();
    }
    wait(settings_.nextWaitNs(std::uniform_real_distribution<double>(0, 1)(rng())));
  }

  const std::shared_ptr<upstream::ClusterRuntime> runtime_;
  const upstream::HealthCheckSettings& settings_;  // owned by runtime_
  const size_t index_;
  const std::string address_;
  const sockaddr_storage addr_;
  const std::string request_;
  const std::shared_ptr<const tls::ClientContext> tls_;  // null: plaintext checks
  uv_loop_t* const loop_;
  uv_timer_t timer_;
  Check* check_ = nullptr;
  upstream::HostCheckTracker tracker_;
};

struct HealthManager::Entry {
  std::shared_ptr<upstream::ClusterRuntime> runtime;
  std::vector<HealthProbe*> probes;  // each deletes itself once stopped
  uv_timer_t* sweep = nullptr;       // outlier un-ejection; deleted in its close callback
};

HealthManager::HealthManager(uv_loop_t* loop) : loop_(loop) {}

HealthManager::~HealthManager() { stop(); }

size_t HealthManager::probeCount() const {
  size_t n = 0;
  for (const auto& [rt, e] : entries_) {
    n += e->probes.size();
  }
  return n;
}

void HealthManager::reconcile(const RuntimeConfig& config) {
  absl::flat_hash_map<const upstream::ClusterRuntime*, const ClusterConfig*> wanted;
  for (const auto& [name, cc] : config.clusters) {
    const upstream::ClusterRuntime* rt = cc->runtime.get();
    if (rt != nullptr && (rt->healthCheck() != nullptr || rt->outlier() != nullptr)) {
      wanted[rt] = cc.get();
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!wanted.contains(it->first)) {
      stopEntry(*it->second);
      entries_.erase(it++);
    } else {
      ++it;
    }
  }
  for (const auto& [rt, cc] : wanted) {
    if (entries_.contains(rt)) {
      continue;  // carried over: probes and ejections go on
    }
    auto entry = std::make_unique<Entry>();
    entry->runtime = cc->runtime;
    start(*cc, *entry);
    entries_[rt] = std::move(entry);
  }
}

void HealthManager::start(const ClusterConfig& cluster, Entry& entry) {
  const std::shared_ptr<upstream::ClusterRuntime>& rt = entry.runtime;
  if (rt->healthCheck() != nullptr) {
    for (size_t i = 0; i < cluster.endpoints.size() && i < rt->hostCount(); i++) {
      auto* p = new HealthProbe(loop_, rt, i, cluster.endpoints[i], cluster.tls);
      p->start();
      entry.probes.push_back(p);
    }
  }
  if (rt->outlier() != nullptr) {
    entry.sweep = new uv_timer_t;
    uv_timer_init(loop_, entry.sweep);
    entry.sweep->data = rt.get();
    const uint64_t every = toMs(rt->outlier()->settings().interval_ns);
    uv_timer_start(entry.sweep, [](uv_timer_t* t) {
      static_cast<upstream::ClusterRuntime*>(t->data)->outlier()->sweep(
          upstream::monotonicNowNs());
    }, every, every);
  }
}

void HealthManager::stopEntry(Entry& entry) {
  for (HealthProbe* p : entry.probes) {
    p->stop();
  }
  entry.probes.clear();
  if (entry.sweep != nullptr) {
    uv_timer_stop(entry.sweep);
    // The timer's data points into the runtime: keep the runtime alive until the handle closes.
    auto* keep = new std::shared_ptr<upstream::ClusterRuntime>(entry.runtime);
    entry.sweep->data = keep;
    uv_close(reinterpret_cast<uv_handle_t*>(entry.sweep), [](uv_handle_t* h) {
      delete static_cast<std::shared_ptr<upstream::ClusterRuntime>*>(h->data);
      delete reinterpret_cast<uv_timer_t*>(h);
    });
    entry.sweep = nullptr;
  }
}

void HealthManager::stop() {
  for (auto& [rt, e] : entries_) {
    stopEntry(*e);
  }
  entries_.clear();
}

} // namespace gw::server
