#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>

namespace gw::event {

// A re-armable timer on one libuv loop, owned by whoever created it. Destroying it cancels it:
// the callback never runs afterwards. The libuv handle lives on the heap and is freed by its own
// close callback, so the Timer may be destroyed at any point on the loop thread (inside its own
// callback too). Loop thread only.
class Timer {
public:
  Timer(uv_loop_t* loop, std::function<void()> cb);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Runs the callback once, `delay` from now (replacing an earlier arming).
  void enable(std::chrono::milliseconds delay);
  void disable();
  bool enabled() const;

private:
  struct Handle;
  Handle* h_;
};
using TimerPtr = std::unique_ptr<Timer>;

} // namespace gw::event
