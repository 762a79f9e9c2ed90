#pragma once

// One coalesced miss in flight: the leader's response as it arrives (head, then body pieces),
// shared with the waiters that joined it. The leader writes on its loop; each waiter reads from
// its own position on its own loop, woken by a post to its worker whenever there is something new
// for it (at most one wake outstanding per waiter).
//
// Memory stays bounded by the route's per-entry maximum: while the body fits, every piece is kept
// (a waiter that starts late begins at byte 0); once it outgrows the maximum the flight
// overflows: waiters that have not started go upstream, pieces every started waiter has written
// are dropped, and a started waiter still more than the maximum behind is cut off (aborted).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/filters/cache/entry.h"

namespace gw::filters {
class WorkerContext;
}

namespace gw::filters::cache {

class Flight {
public:
  using Piece = std::shared_ptr<const std::string>;
  explicit Flight(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Leader side (the leader's loop).
  // The head is known: `head` is the entry being made, without its body (key set: the waiters
  // compare it with their own variant).
  void setHead(CacheEntryConstPtr head);
  void append(absl::string_view piece);
  // The whole response is here. `stored`: the entry as stored (nullptr when the leader did not
  // store it, e.g. a non-storable REFRESH). Without a head before, this publishes `stored` at
  // once (a leader answered from Redis or by revalidation).
  void complete(CacheEntryConstPtr stored);
  // Nothing usable comes (uncacheable, failed, the leader went away): waiters that have not
  // started go upstream; started ones are aborted.
  void fail();

  // Waiter side (any loop). `wake` is posted to `worker` when there is something new.
  uint64_t subscribe(WorkerContext& worker, std::function<void()> wake);
  void unsubscribe(uint64_t id);

  // What a waiter does next, from take().
  struct Take {
    enum class Kind : uint8_t {
      Nothing,     // no head yet (not started), or no new piece (started)
      GoUpstream,  // not started and nothing usable will come: fetch it yourself
      Whole,       // not started and the response is complete: `entry` has it all
      Start,       // not started: `head` now, then `pieces` (and end when `end`)
      More,        // started: the next `pieces` (and end when `end`)
      Abort,       // started, and the response failed or this waiter was cut off
    };
    Kind kind = Kind::Nothing;
    CacheEntryConstPtr head;   // Start
    CacheEntryConstPtr entry;  // Whole
    std::vector<Piece> pieces;
    bool end = false;
  };
  // Called by waiter `id` on its loop (after a wake, or on resuming from backpressure); marks it
  // started on Start, and moves its position past the pieces returned.
  Take take(uint64_t id);
  // The head, once known and while the flight has not failed (for the waiter's Vary check).
  CacheEntryConstPtr head() const;

  bool overflowed() const;
  size_t retainedBytes() const;

private:
  struct Sub {
    uint64_t id;
    WorkerContext* worker;
    std::function<void()> wake;
    uint64_t pos = 0;     // absolute index of the next piece to write
    bool started = false;
    bool woken = false;   // a wake is posted and not yet taken
    bool cut = false;     // lagged too far behind after the overflow
  };
  enum class State : uint8_t { Waiting, Streaming, Complete, Failed };

  void wakeAllLocked(std::vector<std::pair<WorkerContext*, std::function<void()>>>& out);
  void trimLocked();
  static void post(std::vector<std::pair<WorkerContext*, std::function<void()>>>& wakes);

  const uint64_t max_bytes_;
  mutable std::mutex mu_;
  State state_ = State::Waiting;
  bool overflowed_ = false;
  CacheEntryConstPtr head_;
  CacheEntryConstPtr entry_;
  std::deque<Piece> pieces_;
  uint64_t first_ = 0;          // absolute index of pieces_.front()
  uint64_t total_bytes_ = 0;    // appended so far
  uint64_t retained_bytes_ = 0; // held in pieces_
  std::vector<Sub> subs_;
  uint64_t next_id_ = 1;
};

} // namespace gw::filters::cache
