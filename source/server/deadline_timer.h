#pragma once

#include <uv.h>

#include <cstdint>

namespace gw::server {

// A one-shot timer that is re-armed and cancelled several times per request (idle, header, route
// and pool timeouts). uv_timer_start and uv_timer_stop each cost a heap operation: about 1,100 of
// a proxied request's instructions went there (callgrind). This keeps the libuv timer running
// and moves a deadline instead: cancelling only forgets the callback, and arming for a later
// time than the running timer's leaves it alone. When the libuv timer fires early (its deadline
// moved) it re-arms itself for the rest; a cancelled one fires once, does nothing and stops. A
// callback still runs at its deadline, never before.
//
// `asHandle()->data` belongs to the owner (close callbacks); the handle must be the first member.
// Loop thread only.
class DeadlineTimer {
public:
  using Fn = void (*)(void* owner);

  void init(uv_loop_t* loop, void* owner) {
    uv_timer_init(loop, &timer_);
    timer_.data = owner;
  }
  // Runs fn(owner) `ms` milliseconds from the loop's current time, replacing any earlier deadline.
  void arm(uint64_t ms, Fn fn) {
    fn_ = fn;
    deadline_ = uv_now(timer_.loop) + ms;
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) || due_ > deadline_) {
      start(ms);
    }
  }
  void disarm() { fn_ = nullptr; }
  // Disarms and stops the libuv timer too (before the handle is closed).
  void stop() {
    fn_ = nullptr;
    uv_timer_stop(&timer_);
  }
  bool armed() const { return fn_ != nullptr; }
  uv_handle_t* asHandle() { return reinterpret_cast<uv_handle_t*>(&timer_); }

private:
  void start(uint64_t ms) {
    due_ = deadline_;
    uv_timer_start(&timer_, [](uv_timer_t* t) {
      reinterpret_cast<DeadlineTimer*>(t)->onFire();
    }, ms, 0);
  }
  void onFire() {
    if (fn_ == nullptr) {
      return;  // cancelled: stays stopped
    }
    const uint64_t now = uv_now(timer_.loop);
    if (now < deadline_) {
      start(deadline_ - now);  // the deadline moved while the timer ran
      return;
    }
    Fn fn = fn_;
    fn_ = nullptr;
    fn(timer_.data);
  }

  uv_timer_t timer_;  // first member: onFire finds the object from the handle
  Fn fn_ = nullptr;
  uint64_t deadline_ = 0;
  uint64_t due_ = 0;
};

} // namespace gw::server
