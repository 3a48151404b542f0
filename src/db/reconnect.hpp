#pragma once

#include <algorithm>
#include <chrono>

namespace keel::db {

// When to try connecting again after a failed attempt: at once while attempts succeed, then
// after 50 ms, doubling up to 1 s. A restarting server is not flooded with connection attempts
// (each of which it refuses or answers "starting up"), and one that is back is found within a
// second. Not thread-safe: its owner guards it.
class Reconnect {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFirst{50}, kMost{1000};

  // Whether an attempt now would come too early after the last failure.
  bool too_early(Clock::time_point now = Clock::now()) const { return now < next_; }
  void failed(Clock::time_point now = Clock::now()) {
    delay_ = std::clamp(delay_ * 2, kFirst, kMost);
    next_ = now + delay_;
  }
  void succeeded() {
    delay_ = std::chrono::milliseconds(0);
    next_ = {};
  }

 private:
  std::chrono::milliseconds delay_{0};
  Clock::time_point next_{};
};

}  // namespace keel::db
