#include "source/filters/cache/flight.h"

#include <algorithm>
#include <utility>

#include "source/filters/worker_context.h"

namespace gw::filters::cache {

using Wakes = std::vector<std::pair<WorkerContext*, std::function<void()>>>;

void Flight::post(Wakes& wakes) {
  for (auto& [worker, fn] : wakes) {
    worker->post(std::move(fn));
  }
}

void Flight::wakeAllLocked(Wakes& out) {
  for (Sub& s : subs_) {
    if (!s.woken) {
      s.woken = true;
      out.emplace_back(s.worker, s.wake);
    }
  }
}

void Flight::setHead(CacheEntryConstPtr head) {
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::Waiting) {
      return;
    }
    head_ = std::move(head);
    state_ = State::Streaming;
    wakeAllLocked(wakes);
  }
  post(wakes);
}

void Flight::append(absl::string_view piece) {
  if (piece.empty()) {
    return;
  }
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::Streaming) {
      return;
    }
    total_bytes_ += piece.size();
    if (!overflowed_ && total_bytes_ > max_bytes_) {
      overflowed_ = true;  // waiters that have not started will go upstream
    }
    pieces_.push_back(std::make_shared<const std::string>(piece));
    retained_bytes_ += piece.size();
    if (overflowed_) {
      trimLocked();  // with no started waiter this drops it again at once
    }
    wakeAllLocked(wakes);
  }
  post(wakes);
}

// Overflowed: drops the pieces every started waiter has written; while the rest is still over
// the maximum, cuts off the waiters furthest behind.
void Flight::trimLocked() {
  for (;;) {
    uint64_t min_pos = first_ + pieces_.size();
    for (const Sub& s : subs_) {
      if (s.started && !s.cut) {
        min_pos = std::min(min_pos, s.pos);
      }
    }
    while (first_ < min_pos) {
      retained_bytes_ -= pieces_.front()->size();
      pieces_.pop_front();
      ++first_;
    }
    if (retained_bytes_ <= max_bytes_ || pieces_.empty()) {
      return;
    }
    for (Sub& s : subs_) {
      if (s.started && !s.cut && s.pos == min_pos) {
        s.cut = true;
      }
    }
  }
}

void Flight::complete(CacheEntryConstPtr stored) {
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::Complete || state_ == State::Failed) {
      return;
    }
    if (state_ == State::Waiting) {
      if (stored == nullptr) {
        state_ = State::Failed;
        wakeAllLocked(wakes);
      } else {
        head_ = stored;
        total_bytes_ = stored->body.size();
        if (!stored->body.empty()) {
          pieces_.push_back(std::make_shared<const std::string>(stored->body));
          retained_bytes_ = stored->body.size();
        }
      }
    }
    if (state_ != State::Failed) {
      entry_ = std::move(stored);
      state_ = State::Complete;
      wakeAllLocked(wakes);
    }
  }
  post(wakes);
}

void Flight::fail() {
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::Complete || state_ == State::Failed) {
      return;
    }
    state_ = State::Failed;
    pieces_.clear();
    retained_bytes_ = 0;
    wakeAllLocked(wakes);
  }
  post(wakes);
}

uint64_t Flight::subscribe(WorkerContext& worker, std::function<void()> wake) {
  Wakes wakes;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    subs_.push_back({id, &worker, std::move(wake)});
    if (state_ != State::Waiting) {
      wakeAllLocked(wakes);  // something is there already: only this one is not woken yet
    }
  }
  post(wakes);
  return id;
}

void Flight::unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  subs_.erase(std::remove_if(subs_.begin(), subs_.end(), [id](const Sub& s) { return s.id == id; }),
              subs_.end());
  if (overflowed_) {
    trimLocked();  // it may have been the one holding pieces back
  }
}

Flight::Take Flight::take(uint64_t id) {
  using K = Take::Kind;
  Take t;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(subs_.begin(), subs_.end(), [id](const Sub& s) { return s.id == id; });
  if (it == subs_.end()) {
    t.kind = K::GoUpstream;
    return t;
  }
  Sub& s = *it;
  s.woken = false;
  if (!s.started) {
    if (state_ == State::Waiting) {
      return t;
    }
    if (state_ == State::Failed || overflowed_) {
      t.kind = K::GoUpstream;
      subs_.erase(it);
      return t;
    }
    if (state_ == State::Complete && entry_ != nullptr) {
      t.kind = K::Whole;
      t.entry = entry_;
      subs_.erase(it);
      return t;
    }
    s.started = true;
    s.pos = first_;  // 0: nothing is dropped before an overflow
    t.kind = K::Start;
    t.head = head_;
  } else if (s.cut || state_ == State::Failed) {
    t.kind = K::Abort;
    subs_.erase(it);
    return t;
  } else {
    t.kind = K::More;
  }
  const uint64_t end_pos = first_ + pieces_.size();
  for (uint64_t p = s.pos; p < end_pos; ++p) {
    t.pieces.push_back(pieces_[p - first_]);
  }
  s.pos = end_pos;
  t.end = state_ == State::Complete;
  if (t.end) {
    subs_.erase(it);
  }
  if (overflowed_) {
    trimLocked();
  }
  return t;
}

CacheEntryConstPtr Flight::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ == State::Failed ? nullptr : head_;
}

bool Flight::overflowed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return overflowed_;
}

size_t Flight::retainedBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retained_bytes_;
}

} // namespace gw::filters::cache
