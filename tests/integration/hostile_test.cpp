// Hostile clients (issue 16 §2) against a real `keel serve` process with the demo data: the
// checked-in corpus tests/faults/hostile.http (SQL injection through filters, sort, fields, ids
// and entity names; NUL bytes, invalid UTF-8, deep nesting, huge numbers and bodies, thousands of
// parameters, oversized headers, malformed HTTP) is answered with the expected statuses, never
// 500, while a normal client keeps getting its answers, and every table is intact afterwards;
// slow clients (idle, headers sent byte by byte, more connections than allowed) are cut by the
// idle and request timeouts and the connection limit while normal requests are answered.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "db/connection.hpp"
#include "support/auth.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/serve_process.hpp"

namespace keel {
namespace {

using Clock = std::chrono::steady_clock;
using testing::ServeProcess;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// ---------------------------------------------------------------------------------------
// The corpus (its format is described at the top of tests/faults/hostile.http).

struct Entry {
  std::string name;
  int line = 0;
  std::vector<int> expect;
  bool auth = true;
  bool raw = false;
  std::string request;  // METHOD TARGET, or the whole request when raw
  std::vector<std::string> headers;
  std::string body;
};

// {{N*text}}, then \xHH, \r, \n, then %{text}%.
std::string expand(const std::string& text) {
  static const std::regex repeat(R"(\{\{(\d+)\*(.*?)\}\})");
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), repeat);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += text.substr(last, static_cast<size_t>(it->position()) - last);
    for (long n = std::stol((*it)[1]); n > 0; --n)
      out += (*it)[2].str();
    last = static_cast<size_t>(it->position() + it->length());
  }
  out += text.substr(last);
  std::string bytes;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\\' && i + 3 < out.size() && out[i + 1] == 'x' && std::isxdigit(out[i + 2]) &&
        std::isxdigit(out[i + 3])) {
      bytes += static_cast<char>(std::stoi(out.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else if (out[i] == '\\' && i + 1 < out.size() && (out[i + 1] == 'r' || out[i + 1] == 'n')) {
      bytes += out[i + 1] == 'r' ? '\r' : '\n';
      ++i;
    } else {
      bytes += out[i];
    }
  }
  std::string done;
  size_t pos = 0;
  while (true) {
    size_t open = bytes.find("%{", pos);
    size_t close = open == std::string::npos ? open : bytes.find("}%", open + 2);
    if (close == std::string::npos) break;
    done += bytes.substr(pos, open - pos);
    done += testing::url_encode(bytes.substr(open + 2, close - open - 2));
    pos = close + 2;
  }
  return done + bytes.substr(pos);
}

std::vector<Entry> read_corpus(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<Entry> entries;
  std::string line;
  int number = 0;
  enum { kOutside, kOptions, kHeaders, kBody } state = kOutside;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("### ", 0) == 0) {
      entries.emplace_back();
      entries.back().name = line.substr(4);
      entries.back().line = number;
      state = kOptions;
      continue;
    }
    if (state == kOutside) continue;
    Entry& e = entries.back();
    if (state == kOptions) {
      if (line.rfind("expect:", 0) == 0) {
        std::istringstream statuses(line.substr(7));
        for (int s; statuses >> s;)
          e.expect.push_back(s);
      } else if (line == "auth: none") {
        e.auth = false;
      } else if (line == "raw: yes") {
        e.raw = true;
      } else {
        e.request = line;
        state = kHeaders;
      }
    } else if (state == kHeaders) {
      if (line.empty())
        state = kBody;
      else
        e.headers.push_back(line);
    } else {
      e.body += (e.body.empty() ? "" : "\n") + line;
    }
  }
  for (auto& e : entries) {
    while (!e.body.empty() && e.body.back() == '\n')
      e.body.pop_back();
    EXPECT_FALSE(e.expect.empty()) << path << ":" << e.line << ": no expect:";
    EXPECT_FALSE(e.request.empty()) << path << ":" << e.line << ": no request line";
  }
  return entries;
}

std::string bytes_of(const Entry& e, const std::string& token) {
  if (e.raw) return expand(e.request);
  std::string out = expand(e.request) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  bool own_auth = false;
  for (const auto& h : e.headers) {
    own_auth = own_auth || h.rfind("Authorization:", 0) == 0;
    out += expand(h) + "\r\n";
  }
  if (e.auth && !own_auth) out += "Authorization: Bearer " + token + "\r\n";
  std::string body = expand(e.body);
  if (!body.empty() || e.request.rfind("GET ", 0) != 0)
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

// Every table of the database: its row count and a checksum of its rows.
std::map<std::string, std::string> tables(db::Connection& conn) {
  std::map<std::string, std::string> out;
  auto names = conn.exec(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND "
      "table_type = 'BASE TABLE' ORDER BY 1");
  for (int i = 0; i < names.rows(); ++i) {
    std::string name(names.get(i, 0));
    auto r = conn.exec(
        "SELECT count(*)::text || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER "
        "BY t::text), '')) FROM " +
        db::quote_ident(name) + " t");
    out[name] = r.get(0, 0);
  }
  return out;
}

// A client that reads on while others attack: a page of contacts and one contact, over and
// over; counts what was not 200 and the slowest answer.
class NormalClient {
 public:
  NormalClient(std::uint16_t port, std::string token)
      : port_(port), token_(std::move(token)), thread_([this] { run(); }) {}
  ~NormalClient() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int answered() const { return answered_; }
  int failed() const { return failed_; }
  double slowest() const { return slowest_; }
  std::string first_failure() {
    std::lock_guard lock(mutex_);
    return first_failure_;
  }

 private:
  void run() {
    auto headers = testing::bearer(token_);
    for (int i = 0; !stop_; ++i) {
      auto t0 = Clock::now();
      auto r = testing::http_request(
          port_, "GET",
          i % 2 ? "/api/v1/records/contact?limit=5&sort=-id" : "/api/v1/records/contact/1", "",
          headers);
      slowest_ = std::max(slowest_.load(), seconds_since(t0));
      ++answered_;
      if (r.status != 200) {
        ++failed_;
        std::lock_guard lock(mutex_);
        if (first_failure_.empty()) first_failure_ = std::to_string(r.status) + " " + r.body;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::uint16_t port_;
  std::string token_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0}, failed_{0};
  std::atomic<double> slowest_{0};
  std::mutex mutex_;
  std::string first_failure_;
  std::thread thread_;
};

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r =
        testing::run_keel({"--db", database.conninfo(), "--addons-path", KEEL_SOURCE_DIR "/addons",
                           "module", "install", "sales", "inventory", "--demo"});
    ASSERT_EQ(r.status, 0) << r.err;
    conn = std::make_unique<db::Connection>(database.connect());
    token = testing::token_for(testing::create_user(*conn, "hostile_admin", {"base.admin"}));
  }

  std::unique_ptr<ServeProcess> serve(const std::string& config = {}) {
    return std::make_unique<ServeProcess>(database.conninfo(), KEEL_SOURCE_DIR "/addons",
                                          testing::kTestSecret,
                                          std::map<std::string, std::string>{}, config);
  }

  testing::TestDatabase database;
  std::unique_ptr<db::Connection> conn;
  std::string token;
};

TEST_F(Hostile, TheCorpusIsAnsweredWithoutA500AndTheTablesStayIntact) {
  auto entries = read_corpus(KEEL_SOURCE_DIR "/tests/faults/hostile.http");
  ASSERT_GT(entries.size(), 80u);
  auto server = serve();
  auto before = tables(*conn);
  ASSERT_GT(std::stoi(before["contact"]), 0);
  NormalClient normal(server->port(), token);
  std::map<int, int> statuses;
  for (const auto& e : entries) {
    auto reply = testing::http_raw(server->port(), bytes_of(e, token));
    ++statuses[reply.status];
    bool expected = std::find(e.expect.begin(), e.expect.end(), reply.status) != e.expect.end();
    EXPECT_TRUE(expected) << "tests/faults/hostile.http:" << e.line << " (" << e.name
                          << "): answered " << reply.status << " " << reply.body.substr(0, 300);
    EXPECT_NE(reply.status, 500) << e.name;
    EXPECT_TRUE(reply.header("set-cookie").empty()) << e.name;
    ASSERT_TRUE(server->running()) << e.name << "\n" << server->log_text();
  }
  normal.stop();
  for (auto [status, n] : statuses)
    std::cout << "corpus of " << entries.size() << ": " << n << " answers of " << status << "\n";
  std::cout << "normal client: " << normal.answered() << " answers meanwhile, " << normal.failed()
            << " not 200, slowest " << normal.slowest() << " s\n";
  EXPECT_EQ(normal.failed(), 0) << normal.first_failure();
  EXPECT_GT(normal.answered(), 0);
  EXPECT_EQ(testing::http_request(server->port(), "GET", "/api/v1/healthz").status, 200);
  // Nothing written, nothing dropped: every table as it was, row for row.
  auto after = tables(*conn);
  EXPECT_EQ(before.size(), after.size());
  for (const auto& [name, sum] : before)
    EXPECT_EQ(after[name], sum) << "table " << name << " changed";
  // Nothing failed inside the server.
  auto log = server->log_text();
  EXPECT_EQ(log.find(" error "), std::string::npos) << log;
}

// ---------------------------------------------------------------------------------------
// Slow clients.

// What the server did to a connection: "open" (nothing yet), "closed" (end of stream or
// reset, nothing sent), or the first line it answered.
std::string state_of(int fd, int wait_ms = 0) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, wait_ms) <= 0) return "open";
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n <= 0) return "closed";
  std::string text(buf, static_cast<size_t>(n));
  return text.substr(0, text.find('\r'));
}

TEST_F(Hostile, SlowClientsAreCutAndTheConnectionLimitHoldsWhileOthersAreServed) {
  // Short timeouts and a small limit, so that the test is short.
  auto server = serve("[server]\nmax_connections = 200\nidle_timeout = 2\nrequest_timeout = 3\n");
  const auto port = server->port();
  NormalClient normal(port, token);
  // 60 idle connections, and 60 that send a request's headers one byte every 100 ms (never
  // finishing within the request timeout).
  std::vector<int> idle, trickling;
  for (int i = 0; i < 60; ++i) {
    idle.push_back(testing::connect_loopback(port));
    trickling.push_back(testing::connect_loopback(port));
  }
  const std::string request =
      "GET /api/v1/records/contact HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
      "\r\nX-Padding: " + std::string(200, 'p') + "\r\n\r\n";
  auto start = Clock::now();
  std::map<int, double> idle_cut, trickle_cut;
  std::map<int, std::string> trickle_state;
  for (size_t sent = 0; seconds_since(start) < 8; ++sent) {
    for (int fd : trickling) {
      if (trickle_cut.count(fd)) continue;
      auto state = state_of(fd);
      if (state != "open" ||
          ::send(fd, request.data() + sent % request.size(), 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
        trickle_cut[fd] = seconds_since(start);
        trickle_state[fd] = state;
      }
    }
    for (int fd : idle)
      if (!idle_cut.count(fd) && state_of(fd) != "open") idle_cut[fd] = seconds_since(start);
    if (idle_cut.size() == idle.size() && trickle_cut.size() == trickling.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto range = [](const std::map<int, double>& cut) {
    double lo = 1e9, hi = 0;
    for (auto [fd, t] : cut)
      lo = std::min(lo, t), hi = std::max(hi, t);
    return std::make_pair(lo, hi);
  };
  auto [idle_lo, idle_hi] = range(idle_cut);
  auto [trickle_lo, trickle_hi] = range(trickle_cut);
  std::cout << "idle connections cut after " << idle_lo << " to " << idle_hi
            << " s (idle_timeout 2 s); byte-by-byte requests cut after " << trickle_lo << " to "
            << trickle_hi << " s (request_timeout 3 s)\n";
  EXPECT_EQ(idle_cut.size(), idle.size());
  EXPECT_EQ(trickle_cut.size(), trickling.size());
  EXPECT_GE(idle_lo, 1.5);
  EXPECT_LE(idle_hi, 4.0);
  EXPECT_GE(trickle_lo, 2.5);
  EXPECT_LE(trickle_hi, 6.0);
  for (auto [fd, state] : trickle_state)
    EXPECT_TRUE(state == "closed" || state == "open") << state;  // cut, never answered
  for (int fd : idle)
    ::close(fd);
  for (int fd : trickling)
    ::close(fd);
  normal.stop();
  std::cout << "normal client meanwhile: " << normal.answered() << " answers, " << normal.failed()
            << " not 200, slowest " << normal.slowest() << " s\n";
  EXPECT_GT(normal.answered(), 50);
  EXPECT_EQ(normal.failed(), 0) << normal.first_failure();
  EXPECT_LT(normal.slowest(), 2.0);

  // More connections than allowed: those over the limit are answered 503 and closed at once;
  // the others stay open (idle) until the idle timeout.
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i)
    flood.push_back(testing::connect_loopback(port));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int refused = 0, held = 0;
  for (int fd : flood) {
    auto state = state_of(fd, 0);
    if (state.rfind("HTTP/1.1 503", 0) == 0)
      ++refused;
    else if (state == "open")
      ++held;
    else
      ADD_FAILURE() << state;
  }
  std::cout << "300 connections more: " << held << " held, " << refused
            << " refused with 503 (max_connections 200)\n";
  EXPECT_LE(held, 200);
  EXPECT_GE(held, 150);
  EXPECT_EQ(held + refused, 300);
  for (int fd : flood)
    ::close(fd);
  // Closed by the clients: the limit frees up, and normal requests are served again.
  auto freed = Clock::now();
  while (testing::http_request(port, "GET", "/api/v1/healthz").status != 200 &&
         seconds_since(freed) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_LT(seconds_since(freed), 2.0);
  EXPECT_TRUE(server->running());
  EXPECT_EQ(testing::http_request(port, "GET", "/api/v1/records/contact?limit=1", "",
                                  testing::bearer(token))
                .status,
            200);
}

}  // namespace
}  // namespace keel
