#include "db/listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "db/connection.hpp"

namespace keel::db {

Listener::Listener(std::string conninfo, std::string channel, std::function<void()> on_notify)
    : conninfo_(std::move(conninfo)),
      channel_(std::move(channel)),
      on_notify_(std::move(on_notify)),
      thread_([this] { loop(); }) {}

void Listener::wait_ready() {
  std::unique_lock lock(mutex_);
  ready_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return ready_; });
}

Listener::~Listener() {
  stop_ = true;
  thread_.join();
}

void Listener::loop() {
  bool first = true;
  auto started = [this] {
    std::lock_guard lock(mutex_);
    if (!ready_) {
      ready_ = true;
      ready_cv_.notify_all();
    }
  };
  while (!stop_) {
    try {
      auto conn = Connection::open(conninfo_);
      conn.exec("LISTEN " + quote_ident(channel_));
      started();
      if (!first) on_notify_();  // notifications may have been missed while disconnected
      first = false;
      while (!stop_) {
        pollfd fd{PQsocket(conn.native()), POLLIN, 0};
        int rc = ::poll(&fd, 1, 200);  // wake up regularly to notice stop_
        if (rc < 0) continue;
        if (rc > 0 && !PQconsumeInput(conn.native())) break;  // connection lost
        bool notified = false;
        while (PGnotify* n = PQnotifies(conn.native())) {
          notified = true;
          PQfreemem(n);
        }
        if (notified) on_notify_();
      }
    } catch (const std::exception& e) {
      started();
      first = false;  // what was cached meanwhile is dropped once listening works
      spdlog::warn("listening on {}: {}", channel_, e.what());
    }
    for (int i = 0; i < 10 && !stop_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace keel::db
