#include "db/listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include "db/connection.hpp"

namespace keel::db {

Listener::Listener(std::string conninfo, std::string channel, std::function<void()> on_notify)
    : conninfo_(std::move(conninfo)),
      channel_(std::move(channel)),
      on_notify_(std::move(on_notify)),
      thread_([this] { loop(); }) {}

Listener::~Listener() {
  stop_ = true;
  thread_.join();
}

void Listener::loop() {
  bool first = true;
  while (!stop_) {
    try {
      auto conn = Connection::open(conninfo_);
      conn.exec("LISTEN " + quote_ident(channel_));
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
      spdlog::warn("listening for module changes: {}", e.what());
    }
    for (int i = 0; i < 10 && !stop_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace keel::db
