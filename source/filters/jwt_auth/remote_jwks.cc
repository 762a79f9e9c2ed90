#include "source/filters/jwt_auth/remote_jwks.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/filters/filter_stats.h"

namespace gw::filters {
namespace {

const FilterCounter kFetchOk{"jwt_auth", "jwks_fetch_ok",
                             "remote_jwks fetches that replaced a worker's key set."};
const FilterCounter kFetchFailed{
    "jwt_auth", "jwks_fetch_failed",
    "remote_jwks fetches that failed (the worker keeps its last good keys)."};
const FilterCounter kKeysLoaded{"jwt_auth", "jwks_keys_loaded",
                                "Keys in the key sets fetched (summed over fetches)."};
const FilterCounter kUnknownKidRefresh{
    "jwt_auth", "jwks_unknown_kid_refresh",
    "Fetches started at once because a token named a kid the key set lacks."};

void logLine(const std::string& line) { fprintf(stderr, "gatewayd: jwt_auth: %s\n", line.c_str()); }

// Per thread, by provider id.
thread_local absl::flat_hash_map<uint64_t, std::unique_ptr<RemoteJwks>> states;

} // namespace

std::function<int64_t()>& RemoteJwks::clock() {
  static std::function<int64_t()> c = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  return c;
}

size_t RemoteJwks::countOnThisThread() { return states.size(); }

RemoteJwks& RemoteJwks::of(const policy::JwtProvider& p, WorkerContext& worker) {
  thread_local uint64_t last_id = 0;
  thread_local RemoteJwks* last = nullptr;
  if (last_id == p.id() && last != nullptr) {
    last->worker_ = &worker;
    return *last;
  }
  absl::erase_if(states, [&p](const auto& kv) {
    if (kv.first != p.id() && kv.second->expired()) {
      kv.second->shutdown();
      return true;
    }
    return false;
  });
  auto it = states.find(p.id());
  if (it == states.end()) {
    it = states
             .emplace(p.id(), std::make_unique<RemoteJwks>(p.weak_from_this(), *p.remote(),
                                                           p.name(), worker))
             .first;
  }
  it->second->worker_ = &worker;
  last_id = p.id();
  last = it->second.get();
  return *last;
}

RemoteJwks::RemoteJwks(std::weak_ptr<const policy::JwtProvider> owner,
                       const policy::RemoteJwksSettings& s, std::string provider,
                       WorkerContext& worker)
    : owner_(std::move(owner)), settings_(s), provider_(std::move(provider)), worker_(&worker) {}

void RemoteJwks::shutdown() {
  if (call_ != 0) {
    worker_->httpClient().cancel(call_);
    call_ = 0;
  }
  // A waiting request pins its config and so this provider: a state is shut down only when no
  // request waits on it (or the thread exits, when nothing runs any more).
  waiters_.clear();
}

bool RemoteJwks::whenFetched(std::function<void()> fn) {
  if (call_ == 0) {
    return false;
  }
  waiters_.push_back(std::move(fn));
  return true;
}

bool RemoteJwks::mayStart() const {
  return call_ == 0 && (!started_ || clock()() - last_start_ms_ >= settings_.min_refresh_ms);
}

void RemoteJwks::maybeRefresh() {
  if (!mayStart()) {
    return;
  }
  if (keys_ == nullptr || clock()() - last_ok_ms_ >= settings_.refresh_ms) {
    fetch();
  }
}

bool RemoteJwks::refreshForUnknownKid() {
  if (!mayStart()) {
    return false;
  }
  kUnknownKidRefresh.inc(*worker_);
  fetch();
  return true;
}

void RemoteJwks::fetch() {
  started_ = true;
  last_start_ms_ = clock()();
  HttpRequest req;
  req.path = settings_.path;
  req.timeout = std::chrono::milliseconds(settings_.timeout_ms);
  req.max_response_bytes = 256 * 1024;
  req.headers.add("accept", "application/json");
  call_ = worker_->httpClient().send(settings_.cluster, std::move(req),
                                    [this](HttpResult&& r) { onResult(std::move(r)); });
}

void RemoteJwks::onResult(HttpResult&& r) {
  call_ = 0;
  std::string why;
  std::shared_ptr<const policy::JwtKeySet> ks;
  std::vector<std::string> skipped;
  if (r.failed) {
    why = absl::StrCat(r.error.code, ": ", r.error.message);
  } else if (r.response.head.status != 200) {
    why = absl::StrCat("status ", r.response.head.status);
  } else if (std::string error;
             (ks = policy::JwtKeySet::fromJwks(r.response.body, skipped, error)) == nullptr) {
    why = absl::StrCat("not a JSON Web Key Set: ", error);
  } else if (ks->size() == 0) {
    why = "no usable key";
    ks = nullptr;
  }
  const int64_t next_ms = ks ? settings_.refresh_ms : settings_.min_refresh_ms;
  WorkerContext& worker = *worker_;
  if (ks == nullptr) {
    kFetchFailed.inc(worker);
    logLine(absl::StrCat("provider '", provider_, "': JWKS fetch from cluster '",
                         settings_.cluster, "' ", settings_.path, " failed (", why, "); ",
                         keys_ ? absl::StrCat("keeping the last ", keys_->size(), " key(s)")
                               : std::string("no keys yet"),
                         "; next try after ", next_ms, " ms"));
  } else {
    kFetchOk.inc(worker);
    kKeysLoaded.inc(worker, ks->size());
    if (!skipped.empty()) {
      logLine(absl::StrCat("provider '", provider_, "': JWKS keys skipped: ",
                           absl::StrJoin(skipped, "; ")));
    }
    keys_ = std::move(ks);
    last_ok_ms_ = clock()();
  }
  // The requests that waited for this fetch decide now (with the new keys, or without).
  std::vector<std::function<void()>> waiting;
  waiting.swap(waiters_);
  for (auto& fn : waiting) {
    fn();
  }
}

} // namespace gw::filters
