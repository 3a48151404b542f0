#include <gtest/gtest.h>

#include "db/connection.hpp"
#include "db/pool.hpp"
#include "support/pg.hpp"

namespace keel::db {
namespace {

TEST(Db, ParametersAreNeverSplicedIntoSql) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE t (id serial primary key, name text)");
  std::string evil = "x'); DROP TABLE t; --";
  conn.exec("INSERT INTO t (name) VALUES ($1)", Params().add(evil));
  auto r = conn.exec("SELECT name FROM t WHERE name = $1", Params().add(evil));
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.get(0, 0), evil);
}

TEST(Db, NullParametersAndTypedReads) {
  testing::TestDatabase database;
  auto conn = database.connect();
  auto r = conn.exec("SELECT $1::bigint, $2::text IS NULL, $3::boolean",
                     Params().add(std::int64_t{1} << 40).add(std::nullopt).add(true));
  EXPECT_EQ(r.get_int(0, 0), std::int64_t{1} << 40);
  EXPECT_TRUE(r.get_bool(0, 1));
  EXPECT_TRUE(r.get_bool(0, 2));
  EXPECT_EQ(r.column_name(0), "int8");
}

TEST(Db, ErrorsCarrySqlstateAndStatement) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE u (code text UNIQUE)");
  conn.exec("INSERT INTO u VALUES ('a')");
  try {
    conn.exec("INSERT INTO u VALUES ($1)", Params().add("a"));
    FAIL() << "expected a unique violation";
  } catch (const DbError& e) {
    EXPECT_EQ(e.sqlstate(), "23505");
    EXPECT_NE(e.detail().find("INSERT INTO u"), std::string::npos);
  }
}

TEST(Db, TransactionRollsBackOnScopeExit) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE v (n int)");
  {
    Transaction tx(conn);
    conn.exec("INSERT INTO v VALUES (1)");
  }
  EXPECT_EQ(conn.exec("SELECT count(*) FROM v").get_int(0, 0), 0);
  {
    Transaction tx(conn);
    conn.exec("INSERT INTO v VALUES (2)");
    tx.commit();
  }
  EXPECT_EQ(conn.exec("SELECT count(*) FROM v").get_int(0, 0), 1);
}

TEST(Db, SavepointRollsBackOnlyItsPart) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE w (n int)");
  Transaction tx(conn);
  conn.exec("INSERT INTO w VALUES (1)");
  {
    Savepoint sp(conn, "inner");
    conn.exec("INSERT INTO w VALUES (2)");
  }
  {
    Savepoint sp(conn, "kept");
    conn.exec("INSERT INTO w VALUES (3)");
    sp.release();
  }
  tx.commit();
  EXPECT_EQ(conn.exec("SELECT string_agg(n::text, ',' ORDER BY n) FROM w").get(0, 0), "1,3");
}

TEST(Db, QuotingMakesKeywordsSafe) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE " + quote_ident("order") + " (" + quote_ident("select") +
            " text DEFAULT " + quote_literal("it's") + ")");
  conn.exec("INSERT INTO \"order\" DEFAULT VALUES");
  EXPECT_EQ(conn.exec("SELECT \"select\" FROM \"order\"").get(0, 0), "it's");
}

}  // namespace
}  // namespace keel::db

namespace keel::db {
namespace {

TEST(Pool, ReusesConnectionsAndBoundsThem) {
  testing::TestDatabase database;
  Pool::Options options;
  options.max_size = 2;
  options.acquire_timeout = std::chrono::milliseconds(200);
  Pool pool(database.conninfo(), options);
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    EXPECT_EQ(pool.stats().leased, 2u);
    EXPECT_THROW(pool.acquire(), DbError);  // bounded: the third waits, then times out
  }
  EXPECT_EQ(pool.stats().idle, 2u);
  auto c = pool.acquire();
  EXPECT_EQ(c->exec("SELECT 1").get(0, 0), "1");
  EXPECT_EQ(pool.stats().open, 2u);  // reused, not reopened
}

TEST(Pool, ReplacesConnectionsKilledByARestart) {
  testing::TestDatabase database;
  Pool::Options options;
  options.max_size = 1;
  options.ping_after_idle = std::chrono::milliseconds(0);
  Pool pool(database.conninfo(), options);
  std::string pid;
  {
    auto lease = pool.acquire();
    pid = std::string(lease->exec("SELECT pg_backend_pid()").get(0, 0));
  }
  // What a PostgreSQL restart does to an idle connection.
  auto admin = database.connect();
  admin.exec("SELECT pg_terminate_backend($1::int)", Params().add(pid));
  auto lease = pool.acquire();
  EXPECT_NE(std::string(lease->exec("SELECT pg_backend_pid()").get(0, 0)), pid);
}

TEST(Pool, DropsConnectionsLeftInATransaction) {
  testing::TestDatabase database;
  Pool pool(database.conninfo());
  {
    auto lease = pool.acquire();
    lease->exec("BEGIN");
  }
  EXPECT_EQ(pool.stats().open, 0u);
}

}  // namespace
}  // namespace keel::db
