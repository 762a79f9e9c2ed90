#include "source/server/config_reaper.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <algorithm>
#include <deque>
#include <mutex>
#include <thread>

namespace gw::server {
namespace {

struct Reaper {
  std::mutex mu;
  std::condition_variable cv;       // work queued
  std::condition_variable idle_cv;  // a batch finished
  std::deque<std::function<void()>> queue;
  uint64_t queued = 0;
  uint64_t done = 0;

  Reaper() {
    std::thread([this] { run(); }).detach();  // lives as long as the process
  }

  void run() {
    lowerThreadPriority();
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [this] { return !queue.empty(); });
      std::function<void()> fn = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      fn();
      fn = nullptr;  // whatever the closure owned goes here too, off the lock
      lock.lock();
      done++;
      idle_cv.notify_all();
    }
  }
};

Reaper& reaper() {
  static auto* r = new Reaper();  // never destroyed: the detached thread uses it until exit
  return *r;
}

} // namespace

void ConfigReaper::retire(std::function<void()> destroy) {
  Reaper& r = reaper();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    r.queue.push_back(std::move(destroy));
    r.queued++;
  }
  r.cv.notify_one();
}

void ConfigReaper::flush() {
  Reaper& r = reaper();
  std::unique_lock<std::mutex> lock(r.mu);
  const uint64_t target = r.queued;
  r.idle_cv.wait(lock, [&] { return r.done >= target; });
}

uint64_t ConfigReaper::completed() {
  Reaper& r = reaper();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.done;
}

void lowerThreadPriority() {
  // Linux: a thread id in PRIO_PROCESS sets that thread's nice value alone.
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  const int now = ::getpriority(PRIO_PROCESS, tid);
  ::setpriority(PRIO_PROCESS, tid, std::max(now, 10));
}

} // namespace gw::server
