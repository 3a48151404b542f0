#include "db/pipeline.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <deque>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace keel::db {

namespace asio = boost::asio;

namespace {

constexpr const char* kLost = "lost the connection to PostgreSQL";
constexpr size_t kMaxStatements = 1024;  // per connection; beyond: DEALLOCATE ALL, start over

bool stale(std::string_view sqlstate) {
  return sqlstate == "0A000" || sqlstate == "26000";
}

}  // namespace

struct Pipeline::Impl {
  // A statement sent (or about to be) and what came back for it so far.
  struct Entry {
    std::string sql;
    Params params;
    Done done;                   // empty: internal (DEALLOCATE ALL)
    bool prepared_here = false;  // a Parse went before it
    bool retried = false;
    std::string name;
    int phase = 0;  // 0: the Parse's results, 1: the execution's, 2: waiting for the sync
    std::optional<Result> rows;
    std::exception_ptr error;
    std::string sqlstate;
  };

  // One connection in pipeline mode and the statements queued on it, in order.
  struct Link {
    std::optional<Connection> conn;
    std::unique_ptr<asio::posix::stream_descriptor> socket;
    std::deque<std::unique_ptr<Entry>> queue;
    struct Prepared {
      std::string name;
      size_t params = 0;
    };
    std::unordered_map<std::string, Prepared> statements;
    unsigned long long counter = 0;
    unsigned epoch = 0;  // bumped when the connection is dropped: older waits are void
    bool reading = false, writing = false, flush_posted = false;
    bool pending = false;  // opening on another thread: not used (nor touched) until attached
    size_t batch = 0;      // statements queued since the last flush
  };

  std::string conninfo;
  std::optional<asio::io_context> own;  // with a thread of its own
  asio::io_context* ioc = nullptr;      // the loop the connections live on
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::unique_ptr<Link>> links;
  std::deque<std::unique_ptr<Entry>> waiting;  // statements that came before any link was open
  std::jthread opener;                         // opens the links, one after another
  std::thread thread;
  std::atomic<unsigned long long> sent{0};
  bool stopping = false;

  void open(Link& link) {
    connect(link);
    attach(link);
  }

  // The blocking half of opening a link: may run on any thread.
  void connect(Link& link) {
    link.conn.emplace(Connection::open(conninfo));
    pg_conn* c = link.conn->native();
    if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) {
      std::string why = PQerrorMessage(c);
      link.conn.reset();
      throw DbError("cannot use pipeline mode: " + why, "");
    }
  }

  // The other half, on the loop's thread (or before the loop runs). The socket is watched
  // from then on, idle or not (see readable()).
  void attach(Link& link) {
    link.socket =
        std::make_unique<asio::posix::stream_descriptor>(*ioc, PQsocket(link.conn->native()));
    link.statements.clear();
    wait_readable(link);
  }

  // Opens `n` links one after another on a thread of their own; each joins the loop when its
  // backend has started, and statements go to the open ones. With `first_now` the first is
  // opened before returning (its failure throws); without, statements that come before any
  // link is open wait for the first. Waiting for all of them made a server with 24 pipeline
  // connections answer its first request ~0.4 s later, and opening them all at once starts
  // 24 backends together on 2 cores. A link whose opening failed is opened again by the
  // statement that picks it.
  void open_all(unsigned n, bool first_now) {
    for (unsigned k = 0; k < std::max(1u, n); ++k)
      links.push_back(std::make_unique<Link>());
    size_t from = 0;
    if (first_now) {
      open(*links.front());
      from = 1;
    }
    if (from == links.size()) return;
    for (size_t k = from; k < links.size(); ++k)
      links[k]->pending = true;
    opener = std::jthread([this, from](std::stop_token stop) {
      for (size_t k = from; k < links.size(); ++k) {
        Link* l = links[k].get();
        std::string error = "the server is stopping";
        if (!stop.stop_requested()) {
          error.clear();
          try {
            connect(*l);
          } catch (const std::exception& e) {
            error = e.what();
          }
        }
        asio::post(*ioc, [this, l, error] {
          l->pending = false;
          if (l->conn) attach(*l);
          if (!error.empty() && !stopping)
            spdlog::warn("pipeline: a connection did not open: {}", error);
          // Statements that waited for a link: to this one (or, failed, opened again by them).
          auto queued = std::move(waiting);
          waiting.clear();
          for (auto& e : queued)
            submit(std::move(e));
        });
      }
    });
  }

  // Answers everything queued on the link with `error` and closes its connection; the next
  // statement opens a new one.
  void drop(Link& link, const std::string& why) {
    ++link.epoch;
    link.reading = link.writing = link.flush_posted = false;
    link.batch = 0;
    if (link.socket) {
      boost::system::error_code ignored;
      link.socket->cancel(ignored);
      link.socket->release();  // PQfinish closes the descriptor
      link.socket.reset();
    }
    std::string message = why;
    if (link.conn && link.conn->native()) {
      std::string detail = PQerrorMessage(link.conn->native());
      while (!detail.empty() && detail.back() == '\n')
        detail.pop_back();
      if (!detail.empty()) message += ": " + detail;
    }
    link.conn.reset();
    link.statements.clear();
    auto queue = std::move(link.queue);
    link.queue.clear();
    auto error = std::make_exception_ptr(DbError(message, ""));
    for (auto& e : queue)
      finish(*e, error);
  }

  static void finish(Entry& e, std::exception_ptr error) {
    if (!e.done) return;
    try {
      if (error)
        e.done(Result(), error);
      else
        e.done(std::move(*e.rows), nullptr);
    } catch (const std::exception& ex) {
      spdlog::error("pipeline: a completion failed: {}", ex.what());
    }
  }

  // Where a statement goes: with the statements of this turn of the loop, back to back on a
  // connection with nothing else in flight (one backend wakes for all of them), else on the
  // least busy connection (a slow statement in flight does not hold back the ones queued
  // after it elsewhere). Not for commits: on one connection they wait for the disk one after
  // the other (the write pipelines take one statement per connection, batch_per_turn(1)).
  size_t turn_batch = 8;  // Pipeline::batch_per_turn
  // Null while every link is still opening.
  Link* least_busy() {
    for (auto& l : links)
      if (!l->pending && l->flush_posted && l->batch == l->queue.size() && l->batch < turn_batch)
        return l.get();
    Link* best = nullptr;
    for (auto& l : links)
      if (!l->pending && (!best || l->queue.size() < best->queue.size())) best = l.get();
    return best;
  }

  void submit(std::unique_ptr<Entry> e) {
    if (stopping)
      return finish(*e, std::make_exception_ptr(DbError("the server is shutting down", "")));
    Link* open_link = least_busy();
    if (!open_link) {
      waiting.push_back(std::move(e));
      return;
    }
    Link& link = *open_link;
    // PostgreSQL closed an idle connection (a restart, pg_terminate_backend): noticed before
    // anything of `e` is sent, so `e` goes on a fresh connection instead of failing. The
    // socket is watched while idle (readable() drops the link when it reads the end), so only
    // a link without that watch polls here: one system call per statement less.
    if (link.conn && link.queue.empty() && !link.reading && link.conn->heard_from_server())
      drop(link, kLost);
    if (!link.conn) {
      try {
        open(link);
      } catch (const std::exception&) {
        finish(*e, std::current_exception());
        return;
      }
    }
    pg_conn* c = link.conn->native();
    if (link.statements.size() >= kMaxStatements) {
      // Statements already queued were prepared before this, and run before it.
      auto reset = std::make_unique<Entry>();
      reset->sql = "DEALLOCATE ALL";
      reset->phase = 1;
      if (!PQsendQueryParams(c, reset->sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) ||
          !PQpipelineSync(c))
        return lost(link, *e);
      link.queue.push_back(std::move(reset));
      link.statements.clear();
    }
    const size_t n = e->params.size();
    // A retried statement is always parsed again: the name it had may belong to a Parse that
    // failed after it was sent (statements sent behind it then fail with 26000).
    auto found = e->retried ? link.statements.end() : link.statements.find(e->sql);
    if (found != link.statements.end() && found->second.params == n) {
      e->name = found->second.name;
      e->prepared_here = false;
      e->phase = 1;
    } else {
      e->name = "p" + std::to_string(++link.counter);
      e->prepared_here = true;
      e->phase = 0;
      if (!PQsendPrepare(c, e->name.c_str(), e->sql.c_str(), static_cast<int>(n), nullptr))
        return lost(link, *e);
      link.statements[e->sql] = {e->name, n};
    }
    std::vector<const char*> values;
    values.reserve(n);
    for (const auto& v : e->params.values())
      values.push_back(v ? v->c_str() : nullptr);
    if (!PQsendQueryPrepared(c, e->name.c_str(), static_cast<int>(n), values.data(), nullptr,
                             nullptr, 0) ||
        !PQpipelineSync(c))
      return lost(link, *e);
    ++sent;
    link.queue.push_back(std::move(e));
    ++link.batch;
    if (!link.flush_posted) {
      // Statements queued in the same turn of the loop go out together (libpq 15 still writes
      // once per statement: PQpipelineSync flushes).
      link.flush_posted = true;
      asio::post(*ioc, [this, l = &link, epoch = link.epoch] {
        if (epoch != l->epoch) return;
        l->flush_posted = false;
        l->batch = 0;
        flush(*l);
      });
    }
    wait_readable(link);
  }

  // Sending failed: the connection is gone, for `e` too.
  void lost(Link& link, Entry& e) {
    drop(link, kLost);
    finish(e, std::make_exception_ptr(DbError(kLost, "")));
  }

  void flush(Link& link) {
    if (!link.conn || link.writing) return;
    int r = PQflush(link.conn->native());
    if (r < 0) return drop(link, kLost);
    if (r == 0) return;
    when_ready(link, asio::posix::stream_descriptor::wait_write, &Link::writing, &Impl::flush);
  }

  void wait_readable(Link& link) {
    if (link.reading || !link.socket) return;
    when_ready(link, asio::posix::stream_descriptor::wait_read, &Link::reading, &Impl::readable);
  }

  // Waits until the socket is ready for `what` (`busy` set meanwhile), then calls `then`,
  // unless the connection was dropped in between.
  void when_ready(Link& link, asio::posix::stream_descriptor::wait_type what, bool Link::*busy,
                  void (Impl::*then)(Link&)) {
    link.*busy = true;
    link.socket->async_wait(
        what, [this, l = &link, epoch = link.epoch, busy, then](boost::system::error_code ec) {
          if (epoch != l->epoch) return;
          l->*busy = false;
          if (!ec) (this->*then)(*l);
        });
  }

  // One read per readiness, no poll(): the reactor is edge-triggered and PQconsumeInput reads
  // once (up to its buffer's free space; more only past 32 kB of one message), so data may be
  // left in the socket, but the wait armed next does not miss it. Asio's async_wait never
  // reads speculatively: it re-arms the descriptor with epoll_ctl(EPOLL_CTL_MOD) every time
  // (epoll_reactor::start_op, allow_speculative false), and the kernel's ep_modify polls the
  // socket and queues it as ready when data is waiting, so the next epoll_wait reports it. A
  // poll() here cost one system call per result read and saved a turn of the loop only when
  // a result was larger than a read (test: Pipeline.ResultsLargerThanOneReadAreAllAnswered).
  // The wait stays armed when nothing is queued: an idle connection PostgreSQL closes is
  // dropped when its first byte is read (below), before a statement is sent on it,
  // and the wait a statement needs is already there when it is sent (the epoll_ctl moves from
  // the statement's submit to the end of the previous result, no more of them).
  //
  // Data on an idle connection was not asked for: PostgreSQL says why it is closing it
  // (pg_terminate_backend, a shutdown, idle_session_timeout: a FATAL error, then the end,
  // which may come a turn of the loop later) or, rarely, reports a changed setting. The link
  // is dropped at once, so no statement is sent on a connection that is going away; the next
  // one opens a fresh connection.
  void readable(Link& link) {
    pg_conn* c = link.conn->native();
    bool idle = link.queue.empty();
    if (!PQconsumeInput(c) || idle) return drop(link, kLost);
    if (!collect(link)) return;
    if (link.writing == false && link.conn) flush(link);
    wait_readable(link);
  }

  // Takes every complete result; false when the link was dropped.
  bool collect(Link& link) {
    pg_conn* c = link.conn->native();
    while (!link.queue.empty() && !PQisBusy(c)) {
      Entry& e = *link.queue.front();
      pg_result* r = PQgetResult(c);
      if (!r) {  // the end of one query's results
        if (e.phase < 2) ++e.phase;
        continue;
      }
      auto status = PQresultStatus(r);
      if (status == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        auto done = std::move(link.queue.front());
        link.queue.pop_front();
        // The completion may send a statement that drops this connection and opens another
        // (then `c` is gone): the new one's results are read when they come.
        auto epoch = link.epoch;
        complete(link, std::move(done));
        if (!link.conn || link.epoch != epoch) return false;
        continue;
      }
      if (status == PGRES_FATAL_ERROR) {
        if (!e.error) {
          e.error = std::make_exception_ptr(Connection::error_of(r, c, e.sql));
          const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
          e.sqlstate = state ? state : "";
        }
        if (e.phase == 0) {
          auto it = link.statements.find(e.sql);
          if (it != link.statements.end() && it->second.name == e.name) link.statements.erase(it);
        }
        PQclear(r);
      } else if (e.phase == 1 && (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)) {
        e.rows.emplace(r);
      } else {
        PQclear(r);  // the Parse's answer, or PGRES_PIPELINE_ABORTED after a failed Parse
      }
      if (PQstatus(c) != CONNECTION_OK) {
        drop(link, kLost);
        return false;
      }
    }
    return true;
  }

  void complete(Link& link, std::unique_ptr<Entry> e) {
    if (e->error && stale(e->sqlstate) && !e->prepared_here && !e->retried) {
      // A plan from before a schema change: prepare it again and run it once more.
      auto it = link.statements.find(e->sql);
      if (it != link.statements.end() && it->second.name == e->name) link.statements.erase(it);
      e->retried = true;
      e->error = nullptr;
      e->rows.reset();
      e->sqlstate.clear();
      return submit(std::move(e));
    }
    if (!e->error && !e->rows) e->rows.emplace(nullptr);
    finish(*e, e->error);
  }
};

Pipeline::Pipeline(std::string conninfo, unsigned connections) : impl_(std::make_unique<Impl>()) {
  auto& i = *impl_;
  i.conninfo = std::move(conninfo);
  i.ioc = &i.own.emplace(1);
  i.open_all(connections, true);
  i.work.emplace(i.ioc->get_executor());
  i.thread = std::thread([&i] { i.ioc->run(); });
}

Pipeline::Pipeline(std::string conninfo, unsigned connections, asio::io_context& loop, Open open)
    : impl_(std::make_unique<Impl>()) {
  auto& i = *impl_;
  i.conninfo = std::move(conninfo);
  i.ioc = &loop;
  // Not on the loop: opening one there (a lost connection) blocks it while it connects.
  i.open_all(connections, open == Open::kFirstNow);
}

Pipeline::~Pipeline() {
  auto& i = *impl_;
  if (i.opener.joinable()) {  // joined: no link is written by another thread after this
    i.opener.request_stop();
    i.opener.join();
  }
  auto stop = [&i] {
    i.stopping = true;
    for (auto& l : i.links)
      i.drop(*l, "the server is shutting down");
    auto error = std::make_exception_ptr(DbError("the server is shutting down", ""));
    for (auto& e : i.waiting)
      Impl::finish(*e, error);
    i.waiting.clear();
    i.work.reset();
  };
  if (!i.thread.joinable()) {
    stop();
    return;
  }
  asio::post(*i.ioc, stop);
  i.thread.join();
}

void Pipeline::exec_cached(std::string sql, Params params, Done done) {
  auto e = std::make_unique<Impl::Entry>();
  e->sql = std::move(sql);
  e->params = std::move(params);
  e->done = std::move(done);
  if (impl_->ioc->get_executor().running_in_this_thread()) return impl_->submit(std::move(e));
  asio::post(*impl_->ioc,
             [i = impl_.get(), e = std::move(e)]() mutable { i->submit(std::move(e)); });
}

void Pipeline::batch_per_turn(size_t statements) {
  impl_->turn_batch = std::max<size_t>(1, statements);
}

Pipeline::Stats Pipeline::stats() const {
  return {static_cast<unsigned>(impl_->links.size()), impl_->sent.load()};
}

}  // namespace keel::db
