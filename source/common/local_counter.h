#pragma once

#include <atomic>

namespace gw {

// A counter or gauge with one writer (its worker's loop thread) and any number of readers (the
// admin thread). The writer loads and stores with relaxed order: no locked instruction and no
// cache line shared with another worker, yet a concurrent read sees a whole value, never a torn
// or racy one (a plain integer read by another thread is a data race, which TSan reported for
// the connection counter). Not for two writers.
template <class T> class LocalCounter {
public:
  void add(T n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void operator++(int) { add(1); }
  void operator--(int) { add(static_cast<T>(-1)); }
  T value() const { return v_.load(std::memory_order_relaxed); }

private:
  std::atomic<T> v_{0};
};

} // namespace gw
