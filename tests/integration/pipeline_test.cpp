#include "db/pipeline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "support/pg.hpp"

namespace keel::db {
namespace {

// What came back for one statement sent to the pipeline.
struct Outcome {
  bool done = false;
  std::vector<std::string> values;  // column 0 of every row
  std::string sqlstate;             // of the error, "" when none
  std::string message;
};

// Sends statements and waits for all of their answers.
class Collector {
 public:
  explicit Collector(Pipeline& pipeline) : pipeline_(pipeline) {}

  size_t send(std::string sql, Params params = {}) {
    size_t index;
    {
      std::lock_guard lock(mutex_);
      index = outcomes_.size();
      outcomes_.emplace_back();
    }
    pipeline_.exec_cached(std::move(sql), std::move(params),
                          [this, index](Result rows, std::exception_ptr error) {
                            Outcome o;
                            o.done = true;
                            if (error) {
                              try {
                                std::rethrow_exception(error);
                              } catch (const DbError& e) {
                                o.sqlstate = e.sqlstate().empty() ? "connection" : e.sqlstate();
                                o.message = e.what();
                              }
                            } else {
                              for (int i = 0; i < rows.rows(); ++i)
                                o.values.emplace_back(rows.get(i, 0));
                            }
                            std::lock_guard lock(mutex_);
                            outcomes_[index] = std::move(o);
                            ++finished_;
                            changed_.notify_all();
                          });
    return index;
  }

  const std::vector<Outcome>& wait() {
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, std::chrono::seconds(20),
                                  [&] { return finished_ == outcomes_.size(); }));
    return outcomes_;
  }

 private:
  Pipeline& pipeline_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Outcome> outcomes_;
  size_t finished_ = 0;
};

TEST(Pipeline, AnswersEveryStatementInOrderWithItsOwnRows) {
  testing::TestDatabase database;
  Pipeline pipeline(database.conninfo(), 2);
  Collector c(pipeline);
  for (int i = 0; i < 500; ++i)
    c.send("SELECT $1::int * 2", Params().add(i));
  const auto& outcomes = c.wait();
  ASSERT_EQ(outcomes.size(), 500u);
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(outcomes[i].done);
    ASSERT_EQ(outcomes[i].values, std::vector<std::string>{std::to_string(i * 2)}) << i;
  }
  EXPECT_EQ(pipeline.stats().statements, 500u);
}

TEST(Pipeline, AFailingStatementAbortsNothingQueuedBehindIt) {
  testing::TestDatabase database;
  Pipeline pipeline(database.conninfo(), 1);
  Collector c(pipeline);
  for (int i = 0; i < 50; ++i) {
    c.send("SELECT 10 / $1::int", Params().add(i % 5));  // every fifth divides by zero
    c.send("SELECT no_such_column FROM pg_class");       // a Parse that fails
  }
  const auto& outcomes = c.wait();
  for (int i = 0; i < 50; ++i) {
    const auto& division = outcomes[2 * i];
    if (i % 5 == 0) {
      EXPECT_EQ(division.sqlstate, "22012") << i;
    } else {
      EXPECT_EQ(division.sqlstate, "") << division.message;
      EXPECT_EQ(division.values, std::vector<std::string>{std::to_string(10 / (i % 5))});
    }
    EXPECT_EQ(outcomes[2 * i + 1].sqlstate, "42703");
  }
}

// Results larger than one read of libpq's: PQconsumeInput leaves data in the socket, and the
// edge-triggered wait armed after it must still see it (readable() does not poll): every
// statement is answered, whole, whether sent in a burst or one at a time.
TEST(Pipeline, ResultsLargerThanOneReadAreAllAnswered) {
  testing::TestDatabase database;
  Pipeline pipeline(database.conninfo(), 2);
  const std::string sql = "SELECT repeat(md5(g::text), 8) FROM generate_series(1, $1::int) g";
  auto rows_of = [](int i) { return i % 4 == 0 ? 3000 : 3; };  // ~800 kB or ~800 bytes
  Collector burst(pipeline);
  for (int i = 0; i < 40; ++i) {
    burst.send(sql, Params().add(rows_of(i)));
    burst.send("SELECT $1::int", Params().add(i));
  }
  const auto& outcomes = burst.wait();
  ASSERT_EQ(outcomes.size(), 80u);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(outcomes[2 * i].done) << i;
    ASSERT_EQ(outcomes[2 * i].values.size(), static_cast<size_t>(rows_of(i))) << i;
    EXPECT_EQ(outcomes[2 * i].values.back().size(), 256u);
    EXPECT_EQ(outcomes[2 * i + 1].values, std::vector<std::string>{std::to_string(i)});
  }
  for (int i = 0; i < 6; ++i) {
    Collector one(pipeline);
    one.send(sql, Params().add(3000));
    const auto& answer = one.wait();
    ASSERT_TRUE(answer[0].done) << i;
    EXPECT_EQ(answer[0].values.size(), 3000u);
  }
}

// On a loop of the caller's (an I/O thread of the server): statements sent in one turn of the
// loop go out together on a connection, and each still gets its own answer or error.
TEST(Pipeline, OnTheCallersLoopStatementsOfOneTurnEachGetTheirOwnAnswer) {
  testing::TestDatabase database;
  boost::asio::io_context loop(1);
  constexpr int kCount = 60;
  std::vector<Outcome> outcomes(kCount);
  int finished = 0;
  {
    Pipeline pipeline(database.conninfo(), 3, loop);
    boost::asio::post(loop, [&] {
      for (int i = 0; i < kCount; ++i)
        pipeline.exec_cached("SELECT 600 / $1::int", Params().add(i % 7),
                             [&, i](Result rows, std::exception_ptr error) {
                               // On the loop's own thread: no lock needed.
                               Outcome& o = outcomes[i];
                               o.done = true;
                               if (error) {
                                 try {
                                   std::rethrow_exception(error);
                                 } catch (const DbError& e) {
                                   o.sqlstate = e.sqlstate();
                                 }
                               } else {
                                 o.values.emplace_back(rows.get(0, 0));
                               }
                               if (++finished == kCount) loop.stop();
                             });
    });
    boost::asio::steady_timer timeout(loop, std::chrono::seconds(20));
    timeout.async_wait([&](boost::system::error_code ec) {
      if (!ec) loop.stop();
    });
    loop.run();
  }
  ASSERT_EQ(finished, kCount);
  for (int i = 0; i < kCount; ++i) {
    if (i % 7 == 0)
      EXPECT_EQ(outcomes[i].sqlstate, "22012") << i;
    else
      EXPECT_EQ(outcomes[i].values, std::vector<std::string>{std::to_string(600 / (i % 7))}) << i;
  }
}

// Opened in the background (a server's I/O threads): statements sent before any connection is
// open wait for the first and are answered; the others open meanwhile.
TEST(Pipeline, InTheBackgroundStatementsBeforeTheFirstConnectionWaitForIt) {
  testing::TestDatabase database;
  auto conn = database.connect();
  auto backends = [&] {
    return conn
        .exec(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")
        .get_int(0, 0);
  };
  boost::asio::io_context loop(1);
  constexpr int kCount = 20;
  std::vector<std::string> answers(kCount);
  int finished = 0;
  {
    Pipeline pipeline(database.conninfo(), 3, loop, Pipeline::Open::kBackground);
    // Sent on the loop's first turn, before any connection joined it.
    boost::asio::post(loop, [&] {
      for (int i = 0; i < kCount; ++i)
        pipeline.exec_cached("SELECT $1::int * 2", Params().add(i),
                             [&, i](Result rows, std::exception_ptr error) {
                               if (error) {
                                 try {
                                   std::rethrow_exception(error);
                                 } catch (const std::exception& e) {
                                   answers[i] = e.what();
                                 }
                               } else {
                                 answers[i] = rows.get(0, 0);
                               }
                               ++finished;
                             });
    });
    // Runs until every statement is answered and all three connections are open (the guard
    // keeps run_for() waiting for the connections the opener posts).
    auto work = boost::asio::make_work_guard(loop);
    for (int i = 0; i < 200 && (finished < kCount || backends() < 3); ++i) {
      loop.restart();
      loop.run_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(backends(), 3);
  }
  ASSERT_EQ(finished, kCount);
  for (int i = 0; i < kCount; ++i)
    EXPECT_EQ(answers[i], std::to_string(2 * i)) << i;
}

TEST(Pipeline, ParametersAreNeverSplicedIntoSql) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE t (name text)");
  Pipeline pipeline(database.conninfo(), 1);
  Collector c(pipeline);
  std::string evil = "x'); DROP TABLE t; --";
  c.send("INSERT INTO t (name) VALUES ($1) RETURNING name", Params().add(evil));
  c.send("SELECT $1::text IS NULL", Params().add(std::nullopt));
  const auto& outcomes = c.wait();
  EXPECT_EQ(outcomes[0].values, std::vector<std::string>{evil});
  EXPECT_EQ(outcomes[1].values, std::vector<std::string>{"t"});
  EXPECT_EQ(conn.exec("SELECT count(*) FROM t").get_int(0, 0), 1);
}

TEST(Pipeline, AStatementMadeStaleByASchemaChangeIsPreparedAgain) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
  Pipeline pipeline(database.conninfo(), 1);
  {
    Collector c(pipeline);
    c.send("SELECT * FROM t");
    EXPECT_EQ(c.wait()[0].values, std::vector<std::string>{"1"});
  }
  // The result type changes: "cached plan must not change result type" on the old statement.
  conn.exec("ALTER TABLE t ALTER COLUMN a TYPE text USING 'x' || a");
  Collector c(pipeline);
  c.send("SELECT * FROM t");
  const auto& outcomes = c.wait();
  EXPECT_EQ(outcomes[0].sqlstate, "") << outcomes[0].message;
  EXPECT_EQ(outcomes[0].values, std::vector<std::string>{"x1"});
}

TEST(Pipeline, ALostConnectionFailsItsStatementsAndTheNextOneReconnects) {
  testing::TestDatabase database;
  auto admin = database.connect();
  Pipeline pipeline(database.conninfo(), 1);
  auto backend = [&] {
    Collector c(pipeline);
    c.send("SELECT pg_backend_pid()");
    return c.wait()[0].values.at(0);
  };
  // Terminated while idle: noticed before the next statement is sent, which goes on a fresh
  // connection (issue 16).
  admin.exec("SELECT pg_terminate_backend($1::int)", Params().add(backend()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    Collector c(pipeline);
    c.send("SELECT 1");
    const auto& outcomes = c.wait();
    EXPECT_EQ(outcomes[0].sqlstate, "") << outcomes[0].message;
    EXPECT_EQ(outcomes[0].values, std::vector<std::string>{"1"});
  }
  // Terminated while a statement runs: that statement fails, the next one reconnects.
  auto pid = backend();
  Collector failed(pipeline);
  failed.send("SELECT pg_sleep(30)");
  for (int i = 0; i < 100; ++i) {
    if (admin
            .exec("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int AND state = "
                  "'active'",
                  Params().add(pid))
            .get_int(0, 0))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  admin.exec("SELECT pg_terminate_backend($1::int)", Params().add(pid));
  EXPECT_FALSE(failed.wait()[0].sqlstate.empty());  // the backend is gone
  Collector c(pipeline);
  c.send("SELECT 2");
  const auto& outcomes = c.wait();
  EXPECT_EQ(outcomes[0].sqlstate, "") << outcomes[0].message;
  EXPECT_EQ(outcomes[0].values, std::vector<std::string>{"2"});
}

}  // namespace
}  // namespace keel::db
