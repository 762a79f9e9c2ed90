#pragma once
// The key set of an auth provider with `remote_jwks`, per worker: each worker fetches its own
// copy with its HttpClient (N workers, N fetches per refresh; no state shared between threads).
// The first request of a provider on a worker starts the first fetch; requests with a token wait
// for it (whenFetched), and get 503 jwks_unavailable only when it fails. Refreshes are driven by
// requests (no timer: an idle worker fetches nothing): the first request refresh_interval after
// the last successful fetch starts one (the request itself goes on with the current keys), and a
// token naming a kid the set lacks starts one at once and waits for it (a key rotated in before
// this worker's refresh costs that request a fetch's time, not a 401). Either way at most one fetch per
// min_refresh_interval (so random kids cannot hammer the IdP). A failed fetch (connect error,
// non-200, not a JWKS, no usable key) keeps the last good set, is counted
// (gateway_filter_jwt_auth_jwks_fetch_failed_total) and logged; the next request after
// min_refresh_interval tries again.
//
// Lifetime: the states live in a thread_local map of the worker thread, by provider id; a state
// whose provider went with an old config is dropped (its in-flight call cancelled) when the
// thread next looks up another provider. At thread exit nothing is cancelled (the worker's
// HttpClient is gone by then and never runs a callback).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "source/filters/worker_context.h"
#include "source/policy/jwt.h"

namespace gw::filters {

class RemoteJwks {
public:
  // This thread's state for `p` (a remote provider), created on first use. The states of
  // providers gone with old configs are dropped when another provider is looked up.
  static RemoteJwks& of(const policy::JwtProvider& p, WorkerContext& worker);
  // States this thread holds (tests).
  static size_t countOnThisThread();
  // Milliseconds of a monotonic clock; tests replace it.
  static std::function<int64_t()>& clock();

  RemoteJwks(std::weak_ptr<const policy::JwtProvider> owner, const policy::RemoteJwksSettings& s,
             std::string provider, WorkerContext& worker);
  ~RemoteJwks() = default;
  RemoteJwks(const RemoteJwks&) = delete;
  RemoteJwks& operator=(const RemoteJwks&) = delete;

  // The last good key set; nullptr before the first successful fetch.
  const policy::JwtKeySet* keys() const { return keys_.get(); }
  // A token named a kid the set lacks: fetch now, unless a fetch is in flight or the last one
  // started less than min_refresh_interval ago. True when a fetch was started.
  bool refreshForUnknownKid();
  // Called per request: starts a fetch when none succeeded yet or the set is older than
  // refresh_interval (and min_refresh_interval passed since the last start).
  void maybeRefresh();
  bool fetching() const { return call_ != 0; }
  // Runs `fn` once the fetch in flight ends, whether it brought keys or failed (the HTTP call's
  // timeout bounds the wait), so that a request needing keys the fetch may bring waits for it
  // instead of failing. False, and `fn` dropped, when no fetch is in flight.
  bool whenFetched(std::function<void()> fn);
  bool expired() const { return owner_.expired(); }
  // Cancels an in-flight fetch (before the state is dropped).
  void shutdown();

private:
  bool mayStart() const;
  void fetch();
  void onResult(HttpResult&& r);

  std::weak_ptr<const policy::JwtProvider> owner_;
  const policy::RemoteJwksSettings settings_;
  const std::string provider_;
  WorkerContext* worker_;  // the worker of the last lookup (always the same one outside tests)
  uint64_t call_ = 0;
  int64_t last_start_ms_ = 0;
  int64_t last_ok_ms_ = 0;
  bool started_ = false;
  std::shared_ptr<const policy::JwtKeySet> keys_;
  std::vector<std::function<void()>> waiters_;  // run when the fetch in flight ends
};

} // namespace gw::filters
