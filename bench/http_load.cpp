// A closed-loop HTTP/1.1 load generator for the REST benchmark: CONNS keep-alive connections
// over THREADS threads, each sending its next request when the previous answer is complete,
// like pgbench's clients. Prints one line:
//   RESULT <req/s> <p50> <p90> <p99> <max> <errors> <p99 corrected>
// (milliseconds). The percentiles are of the measured latencies, as pgbench reports its own.
// "p99 corrected" is what wrk prints: wrk adds, for every answer slower than the mean interval
// between two requests of a connection, synthetic samples for the requests a constant-rate
// client would have sent meanwhile (coordinated-omission correction). One stall of 300 ms then
// weighs as ~300 requests at 1 ms each, so a handful of stalls in a run of 80,000 requests
// decides wrk's p99. Both are printed, so the two can be compared with pgbench and with wrk.
//
// Usage: http_load -c CONNS -t THREADS -d SECONDS [-m METHOD] [-b BODY] [-H 'Name: value']...
//                  HOST:PORT PATH
// PATH may hold {rand:A:B}, replaced in each request by a random integer in [A, B].
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <istream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  unsigned connections = 8, threads = 2, seconds = 10;
  std::string method = "GET", body, host = "127.0.0.1", port = "8080", path = "/";
  std::vector<std::string> headers;
};

// The path with each {rand:A:B} replaced.
std::string expand(const std::string& path, std::mt19937_64& random) {
  std::string out;
  size_t at = 0;
  while (true) {
    size_t open = path.find("{rand:", at);
    if (open == std::string::npos) break;
    size_t close = path.find('}', open);
    out.append(path, at, open - at);
    long low = 0, high = 0;
    std::sscanf(path.c_str() + open, "{rand:%ld:%ld}", &low, &high);
    out += std::to_string(std::uniform_int_distribution<long>(low, high)(random));
    at = close + 1;
  }
  out.append(path, at, std::string::npos);
  return out;
}

struct Worker;

struct Client : std::enable_shared_from_this<Client> {
  Worker& worker;
  tcp::socket socket;
  asio::streambuf in;
  std::string request;
  Clock::time_point sent;
  size_t body_left = 0;
  Client(Worker& w, asio::io_context& io) : worker(w), socket(io) {}
  void send();
  void read_head();
  void read_body();
  void done(bool ok);
};

struct Worker {
  const Options& options;
  asio::io_context io{1};
  std::mt19937_64 random;
  Clock::time_point deadline;
  std::vector<uint32_t> latencies_us;
  unsigned long errors = 0;
  std::vector<std::shared_ptr<Client>> clients;
  Worker(const Options& o, unsigned seed) : options(o), random(seed) {}

  std::string next_request() {
    std::string r = options.method + " " + expand(options.path, random) +
                    " HTTP/1.1\r\nHost: " + options.host + "\r\n";
    for (const auto& h : options.headers)
      r += h + "\r\n";
    if (!options.body.empty())
      r += "Content-Length: " + std::to_string(options.body.size()) + "\r\n";
    r += "\r\n" + options.body;
    return r;
  }
};

void Client::send() {
  if (Clock::now() >= worker.deadline) return;
  request = worker.next_request();
  sent = Clock::now();
  asio::async_write(socket, asio::buffer(request),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      if (ec) return self->done(false);
                      self->read_head();
                    });
}

void Client::read_head() {
  asio::async_read_until(
      socket, in, "\r\n\r\n", [self = shared_from_this()](boost::system::error_code ec, size_t n) {
        if (ec) return self->done(false);
        std::string head(asio::buffers_begin(self->in.data()),
                         asio::buffers_begin(self->in.data()) + static_cast<long>(n));
        self->in.consume(n);
        bool ok = head.compare(0, 9, "HTTP/1.1 ") == 0 && head[9] >= '2' && head[9] <= '3';
        self->body_left = 0;
        for (const char* name : {"Content-Length:", "content-length:"}) {
          size_t at = head.find(name);
          if (at != std::string::npos)
            self->body_left = std::strtoul(head.c_str() + at + std::strlen(name), nullptr, 10);
        }
        if (!ok) ++self->worker.errors;
        self->read_body();
      });
}

void Client::read_body() {
  size_t have = std::min(in.size(), body_left);
  in.consume(have);
  body_left -= have;
  if (body_left == 0) return done(true);
  asio::async_read(socket, in, asio::transfer_exactly(body_left),
                   [self = shared_from_this()](boost::system::error_code ec, size_t) {
                     if (ec) return self->done(false);
                     self->read_body();
                   });
}

void Client::done(bool ok) {
  if (!ok) {
    ++worker.errors;
    return;  // the connection is given up; the run goes on with the others
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent).count();
  worker.latencies_us.push_back(static_cast<uint32_t>(us));
  send();
}

double percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i =
      std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
  return sorted[i] / 1000.0;
}

// wrk's correction: every sample v above the interval also counts v - interval, v - 2 interval,
// ... down to the interval. Counted in 10 µs buckets.
double corrected_p99(const std::vector<uint32_t>& sorted, double interval_us) {
  if (sorted.empty() || interval_us < 1) return 0;
  const size_t bucket = 10;
  std::vector<uint64_t> counts(sorted.back() / bucket + 1);
  uint64_t total = 0;
  for (uint32_t v : sorted) {
    ++counts[v / bucket];
    ++total;
    for (double w = v - interval_us; w >= interval_us; w -= interval_us) {
      ++counts[static_cast<size_t>(w) / bucket];
      ++total;
    }
  }
  uint64_t want = static_cast<uint64_t>(0.99 * static_cast<double>(total)), seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen > want) return static_cast<double>(i * bucket) / 1000.0;
  }
  return sorted.back() / 1000.0;
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: http_load -c CONNS -t THREADS -d SECONDS [-m METHOD] [-b BODY] "
               "[-H 'Name: value']... HOST:PORT PATH\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "-c")
      o.connections = static_cast<unsigned>(std::stoul(value()));
    else if (a == "-t")
      o.threads = static_cast<unsigned>(std::stoul(value()));
    else if (a == "-d")
      o.seconds = static_cast<unsigned>(std::stoul(value()));
    else if (a == "-m")
      o.method = value();
    else if (a == "-b")
      o.body = value();
    else if (a == "-H")
      o.headers.push_back(value());
    else
      rest.push_back(a);
  }
  if (rest.size() != 2 || o.connections == 0 || o.threads == 0) usage();
  size_t colon = rest[0].rfind(':');
  if (colon == std::string::npos) usage();
  o.host = rest[0].substr(0, colon);
  o.port = rest[0].substr(colon + 1);
  o.path = rest[1];
  o.threads = std::min(o.threads, o.connections);

  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < o.threads; ++t)
    workers.push_back(std::make_unique<Worker>(o, 1234 + t));
  try {
    for (unsigned c = 0; c < o.connections; ++c) {
      Worker& w = *workers[c % o.threads];
      auto client = std::make_shared<Client>(w, w.io);
      tcp::resolver resolver(w.io);
      asio::connect(client->socket, resolver.resolve(o.host, o.port));
      client->socket.set_option(tcp::no_delay(true));
      w.clients.push_back(client);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_load: cannot connect to %s: %s\n", rest[0].c_str(), e.what());
    return 1;
  }
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    w->deadline = start + std::chrono::seconds(o.seconds);
    for (auto& c : w->clients)
      c->send();
    threads.emplace_back([&w] { w->io.run(); });
  }
  for (auto& t : threads)
    t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<uint32_t> all;
  unsigned long errors = 0;
  for (auto& w : workers) {
    all.insert(all.end(), w->latencies_us.begin(), w->latencies_us.end());
    errors += w->errors;
  }
  std::sort(all.begin(), all.end());
  double rps = static_cast<double>(all.size()) / elapsed;
  // The mean interval between two requests of one connection, as wrk computes it.
  double interval_us =
      all.empty() ? 0 : elapsed * 1e6 / (static_cast<double>(all.size()) / o.connections);
  std::printf("RESULT %.1f %.3f %.3f %.3f %.3f %lu %.3f\n", rps, percentile(all, 0.5),
              percentile(all, 0.9), percentile(all, 0.99), all.empty() ? 0.0 : all.back() / 1000.0,
              errors, corrected_p99(all, interval_us));
  return 0;
}
