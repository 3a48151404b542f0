#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace keel::db {

// LISTENs on a channel from a background thread with its own connection and calls `on_notify`
// (on that thread) for every notification. Reconnects after a lost connection; a reconnect
// also counts as a notification, since some may have been missed. The constructor returns at
// once (the connection opens meanwhile); wait_ready() returns once the first LISTEN ran (or
// failed, or 5 s passed): what the caller caches after it is covered by notifications (a
// change made while nobody listened would otherwise be missed for good).
class Listener {
 public:
  Listener(std::string conninfo, std::string channel, std::function<void()> on_notify);
  void wait_ready();
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

 private:
  void loop();

  std::string conninfo_, channel_;
  std::function<void()> on_notify_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable ready_cv_;
  bool ready_ = false;  // the first LISTEN ran or failed
  std::thread thread_;
};

}  // namespace keel::db
