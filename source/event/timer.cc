#include "source/event/timer.h"

namespace gw::event {

struct Timer::Handle {
  uv_timer_t timer;
  std::function<void()> cb;
};

Timer::Timer(uv_loop_t* loop, std::function<void()> cb) : h_(new Handle{uv_timer_t{}, std::move(cb)}) {
  uv_timer_init(loop, &h_->timer);
  h_->timer.data = h_;
}

Timer::~Timer() {
  uv_timer_stop(&h_->timer);
  h_->cb = nullptr;  // whatever the callback captured dies now, not at the close callback
  uv_close(reinterpret_cast<uv_handle_t*>(&h_->timer),
           [](uv_handle_t* t) { delete static_cast<Handle*>(t->data); });
}

void Timer::enable(std::chrono::milliseconds delay) {
  uv_timer_start(&h_->timer, [](uv_timer_t* t) {
    auto* h = static_cast<Handle*>(t->data);
    if (h->cb) {
      // A copy: the callback may destroy the Timer (and so clear h->cb) while it runs.
      std::function<void()> cb = h->cb;
      cb();
    }
  }, static_cast<uint64_t>(delay.count() < 0 ? 0 : delay.count()), 0);
}

void Timer::disable() { uv_timer_stop(&h_->timer); }

bool Timer::enabled() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(&h_->timer)) != 0;
}

} // namespace gw::event
