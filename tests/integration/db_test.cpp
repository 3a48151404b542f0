#include <gtest/gtest.h>

#include <libpq-fe.h>
#include <thread>

#include "db/connection.hpp"
#include "db/pool.hpp"
#include "http/message.hpp"
#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "query/filter.hpp"
#include "records/service.hpp"
#include "support/addon_tree.hpp"
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

// The statements prepared on the connection `conn` (pg_prepared_statements is per session).
std::int64_t prepared(Connection& conn, std::string_view like = "%") {
  return conn
      .exec("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1",
            Params().add(like))
      .get_int(0, 0);
}

TEST(StatementCache, OneShapeIsOneStatementReusedWithOtherValues) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE t (id int PRIMARY KEY, name text)");
  for (int i = 1; i <= 5; ++i)
    conn.exec_cached("INSERT INTO t (id, name) VALUES ($1::int, $2::text)",
                     Params().add(i).add("n" + std::to_string(i)));
  for (int i = 1; i <= 5; ++i) {
    auto r = conn.exec_cached("SELECT name FROM t WHERE id = $1::int", Params().add(i));
    ASSERT_EQ(r.rows(), 1);
    EXPECT_EQ(r.get(0, 0), "n" + std::to_string(i));
  }
  EXPECT_EQ(conn.cached_statements(), 2u);
  EXPECT_EQ(prepared(conn), 2);
  EXPECT_EQ(prepared(conn, "SELECT name FROM t WHERE id = $1::int"), 1);
  // Named k1, k2, ... and run by PostgreSQL as prepared statements (generic_plans +
  // custom_plans counts the executions).
  auto r = conn.exec(
      "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements ORDER BY name");
  EXPECT_EQ(r.get(0, 0), "k1");
  EXPECT_EQ(r.get_int(0, 1), 5);
  EXPECT_EQ(r.get(1, 0), "k2");
  EXPECT_EQ(r.get_int(1, 1), 5);
  // NULL parameters and affected rows work as with exec().
  auto u = conn.exec_cached("UPDATE t SET name = $1::text WHERE id <= $2::int",
                            Params().add(std::nullopt).add(2));
  EXPECT_EQ(u.affected(), 2);
  // The cache moves with the connection; another connection has its own.
  Connection moved = std::move(conn);
  EXPECT_EQ(moved.cached_statements(), 3u);
  EXPECT_EQ(moved.exec_cached("SELECT name FROM t WHERE id = $1::int", Params().add(3)).get(0, 0),
            "n3");
  EXPECT_EQ(prepared(moved), 3);
  auto other = database.connect();
  EXPECT_EQ(other.cached_statements(), 0u);
  EXPECT_EQ(prepared(other), 0);
}

TEST(StatementCache, StatementsPreparedInARolledBackTransactionStay) {
  testing::TestDatabase database;
  auto conn = database.connect();
  {
    Transaction tx(conn);
    EXPECT_EQ(conn.exec_cached("SELECT $1::int + 1", Params().add(1)).get(0, 0), "2");
  }
  EXPECT_EQ(prepared(conn), 1);
  EXPECT_EQ(conn.exec_cached("SELECT $1::int + 1", Params().add(2)).get(0, 0), "3");
  EXPECT_EQ(prepared(conn), 1);
}

TEST(StatementCache, IsBoundedAndEvictsTheLeastRecentlyUsed) {
  testing::TestDatabase database;
  auto conn = database.connect();
  const int n = static_cast<int>(Connection::kStatementCacheSize) + 20;
  for (int i = 0; i < n; ++i) {
    // The first shape stays in use, so it stays cached.
    EXPECT_EQ(conn.exec_cached("SELECT $1::int", Params().add(i)).get_int(0, 0), i);
    std::string sql = "SELECT $1::int + " + std::to_string(i);
    EXPECT_EQ(conn.exec_cached(sql, Params().add(1)).get_int(0, 0), i + 1);
  }
  EXPECT_EQ(conn.cached_statements(), Connection::kStatementCacheSize);
  EXPECT_EQ(prepared(conn), static_cast<std::int64_t>(Connection::kStatementCacheSize));
  EXPECT_EQ(prepared(conn, "SELECT $1::int"), 1);
  EXPECT_EQ(prepared(conn, "SELECT $1::int + 0"), 0);  // the oldest shapes went first
  EXPECT_EQ(prepared(conn, "SELECT $1::int + " + std::to_string(n - 1)), 1);
  // An evicted shape is prepared again, under a new name.
  EXPECT_EQ(conn.exec_cached("SELECT $1::int + 0", Params().add(5)).get_int(0, 0), 5);
  EXPECT_EQ(prepared(conn, "SELECT $1::int + 0"), 1);
  EXPECT_EQ(prepared(conn), static_cast<std::int64_t>(Connection::kStatementCacheSize));

  // Inside a transaction the evicted statements are deallocated after it, and an eviction
  // never disturbs it.
  {
    Transaction tx(conn);
    for (int i = 0; i < 10; ++i)
      conn.exec_cached("SELECT $1::int - " + std::to_string(i), Params().add(1));
    EXPECT_EQ(prepared(conn), static_cast<std::int64_t>(Connection::kStatementCacheSize) + 10);
    tx.commit();
  }
  EXPECT_EQ(conn.exec_cached("SELECT $1::int", Params().add(7)).get_int(0, 0), 7);
  EXPECT_EQ(prepared(conn), static_cast<std::int64_t>(Connection::kStatementCacheSize));
  EXPECT_EQ(conn.cached_statements(), Connection::kStatementCacheSize);
}

TEST(StatementCache, APlanMadeStaleByAnAlterTableIsPreparedAgainAndRetried) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE s (id int PRIMARY KEY, n int)");
  conn.exec("INSERT INTO s VALUES (1, 10), (2, 20)");
  const std::string sql = "SELECT n FROM s WHERE id = $1::int";
  EXPECT_EQ(conn.exec_cached(sql, Params().add(1)).get(0, 0), "10");
  std::string before(conn.exec("SELECT name FROM pg_prepared_statements").get(0, 0));
  // A statement prepared by hand shows what the schema change does to a cached plan.
  const char* one = "1";
  PQclear(PQprepare(conn.native(), "by_hand", sql.c_str(), 0, nullptr));
  conn.exec("ALTER TABLE s ALTER COLUMN n TYPE text USING 'x' || n");
  pg_result* raw = PQexecPrepared(conn.native(), "by_hand", 1, &one, nullptr, nullptr, 0);
  const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  EXPECT_STREQ(state ? state : "", "0A000");
  PQclear(raw);
  conn.exec("DEALLOCATE by_hand");

  // exec_cached retries it transparently, under a new statement.
  EXPECT_EQ(conn.exec_cached(sql, Params().add(1)).get(0, 0), "x10");
  EXPECT_EQ(conn.exec_cached(sql, Params().add(2)).get(0, 0), "x20");
  EXPECT_EQ(prepared(conn), 1);
  EXPECT_NE(std::string(conn.exec("SELECT name FROM pg_prepared_statements").get(0, 0)), before);

  // Inside a transaction the error is thrown (the transaction is aborted); the statement is
  // dropped, so running the transaction again works.
  conn.exec("ALTER TABLE s ALTER COLUMN n TYPE bigint USING substr(n, 2)::bigint");
  {
    Transaction tx(conn);
    try {
      conn.exec_cached(sql, Params().add(1));
      FAIL() << "expected a stale plan";
    } catch (const DbError& e) {
      EXPECT_EQ(e.sqlstate(), "0A000");
      EXPECT_TRUE(Connection::stale_statement(e));
    }
  }
  {
    Transaction tx(conn);
    EXPECT_EQ(conn.exec_cached(sql, Params().add(2)).get(0, 0), "20");
    tx.commit();
  }
  EXPECT_EQ(conn.cached_statements(), 1u);
  EXPECT_EQ(prepared(conn), 2);  // the dropped one is deallocated outside a transaction
  EXPECT_EQ(conn.exec_cached(sql, Params().add(1)).get(0, 0), "10");
  EXPECT_EQ(prepared(conn), 1);
}

TEST(StatementCache, AStatementDeallocatedBehindItsBackIsPreparedAgain) {
  testing::TestDatabase database;
  auto conn = database.connect();
  EXPECT_EQ(conn.exec_cached("SELECT $1::text", Params().add("a")).get(0, 0), "a");
  conn.exec("DEALLOCATE ALL");
  EXPECT_EQ(conn.exec_cached("SELECT $1::text", Params().add("b")).get(0, 0), "b");
  EXPECT_EQ(prepared(conn), 1);
}

TEST(StatementCache, ErrorsKeepTheirSqlstateAndStatement) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE u (code text UNIQUE)");
  conn.exec("INSERT INTO u VALUES ('a')");
  // The same error as exec(), from a failed execution and from a failed PREPARE.
  auto error_of = [&](bool cached, const std::string& sql, const Params& params) {
    try {
      if (cached)
        conn.exec_cached(sql, params);
      else
        conn.exec(sql, params);
    } catch (const DbError& e) {
      return std::string(e.sqlstate()) + "|" + e.what() + "|" + e.detail() + "|" + e.hint();
    }
    return std::string("no error");
  };
  const std::string insert = "INSERT INTO u VALUES ($1::text)";
  for (int i = 0; i < 2; ++i) {  // prepared and executed, then executed again
    std::string e = error_of(true, insert, Params().add("a"));
    EXPECT_EQ(e.substr(0, 6), "23505|");
    EXPECT_NE(e.find("INSERT INTO u"), std::string::npos);
    EXPECT_EQ(e, error_of(false, insert, Params().add("a")));
  }
  EXPECT_EQ(conn.cached_statements(), 1u);
  const std::string missing = "SELECT * FROM nowhere WHERE id = $1::int";
  std::string e = error_of(true, missing, Params().add(1));
  EXPECT_EQ(e.substr(0, 6), "42P01|");
  EXPECT_EQ(e, error_of(false, missing, Params().add(1)));
  EXPECT_EQ(error_of(true, "SELEC $1::int", Params().add(1)),
            error_of(false, "SELEC $1::int", Params().add(1)));
  EXPECT_EQ(error_of(true, "SELECT $1::int", Params().add("x")).substr(0, 6), "22P02|");
  EXPECT_EQ(conn.cached_statements(), 2u);  // failed PREPAREs cache nothing
  EXPECT_EQ(prepared(conn), 2);
  // A failed PREPARE aborts a transaction as exec() does.
  Transaction tx(conn);
  EXPECT_THROW(conn.exec_cached(missing, Params().add(1)), DbError);
  EXPECT_TRUE(conn.idle_in_transaction());
  EXPECT_EQ(error_of(true, insert, Params().add("b")).substr(0, 6), "25P02|");
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

// warm() opens connections beside the caller's work; acquire() takes one of them.
TEST(Pool, WarmOpensConnectionsThatAcquireTakes) {
  testing::TestDatabase database;
  Pool::Options options;
  options.max_size = 4;
  Pool pool(database.conninfo(), options);
  pool.warm(2);
  auto lease = pool.acquire();  // waits for a warmed one rather than opening a third
  EXPECT_EQ(lease->exec("SELECT 1").get(0, 0), "1");
  for (int i = 0; i < 100 && pool.stats().idle < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(pool.stats().open, 2u);
  EXPECT_EQ(pool.stats().idle, 1u);
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

TEST(Pool, StatementCacheLivesAndDiesWithItsConnection) {
  testing::TestDatabase database;
  Pool::Options options;
  options.max_size = 1;
  options.ping_after_idle = std::chrono::milliseconds(0);
  Pool pool(database.conninfo(), options);
  std::string pid;
  {
    auto lease = pool.acquire();
    lease->exec_cached("SELECT $1::int", Params().add(1));
    pid = std::string(lease->exec("SELECT pg_backend_pid()").get(0, 0));
  }
  {
    auto lease = pool.acquire();  // the same connection, its statement still there
    EXPECT_EQ(lease->cached_statements(), 1u);
    EXPECT_EQ(lease->exec_cached("SELECT $1::int", Params().add(2)).get(0, 0), "2");
  }
  auto admin = database.connect();
  admin.exec("SELECT pg_terminate_backend($1::int)", Params().add(pid));
  auto lease = pool.acquire();  // replaced: a new connection with an empty cache
  EXPECT_EQ(lease->cached_statements(), 0u);
  EXPECT_EQ(lease->exec_cached("SELECT $1::int", Params().add(3)).get(0, 0), "3");
  EXPECT_EQ(prepared(*lease), 1);
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

namespace keel::records {
namespace {

// RecordService sends its queries through the statement cache; a write whose cached read-back
// went stale with a schema change runs again in a new transaction (or savepoint).
TEST(StatementCache, RecordWritesRetryAfterAStalePlan) {
  testing::TestDatabase database;
  testing::AddonTree tree;
  tree.write("shop/manifest.yaml",
             "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [entities.yaml]\n");
  tree.write("shop/entities.yaml",
             "entities:\n  item:\n    fields:\n      name: {type: string, required: true}\n"
             "      score: {type: integer}\n");
  auto conn = database.connect();
  auto found = modules::discover({KEEL_SOURCE_DIR "/core", tree.path()});
  ASSERT_FALSE(found.diagnostics.has_errors());
  modules::ModuleGraph graph(std::move(found.modules));
  install::Lifecycle(conn, graph).install({"shop"});
  Diagnostics diagnostics;
  auto registry = schema::Registry::build(graph.order(), diagnostics);
  auto policy = query::load_policy(graph.order(), *registry, diagnostics);
  ASSERT_FALSE(diagnostics.has_errors());
  RecordService service(registry, policy);
  SecurityContext ctx = SecurityContext::system();
  auto count = [&] { return conn.exec("SELECT count(*) FROM item").get_int(0, 0); };
  auto score_of = [](const std::string& json) { return json.substr(json.find("\"score\":"), 10); };

  service.create(conn, ctx, "item", R"({"name": "a", "score": 1})");
  EXPECT_EQ(score_of(service.read(conn, ctx, "item", 1, std::nullopt).json), "\"score\":1,");
  size_t statements = conn.cached_statements();
  EXPECT_GT(statements, 0u);
  EXPECT_EQ(conn.exec("SELECT count(*) FROM pg_prepared_statements").get_int(0, 0),
            static_cast<std::int64_t>(statements));

  // A type change the read-back's cached plan cannot follow: the create runs again.
  conn.exec("ALTER TABLE item ALTER COLUMN score TYPE bigint");
  auto b = service.create(conn, ctx, "item", R"({"name": "b", "score": 2})");
  EXPECT_EQ(score_of(b.json), "\"score\":2,");
  EXPECT_EQ(count(), 2);  // once, not twice
  EXPECT_FALSE(conn.idle_in_transaction());

  // The same inside a caller's transaction: rolled back to the savepoint and run again.
  conn.exec("ALTER TABLE item ALTER COLUMN score TYPE integer");
  {
    db::Transaction tx(conn);
    auto c = service.update(conn, ctx, "item", 1, R"({"score": 3})");
    EXPECT_EQ(score_of(c.json), "\"score\":3,");
    // A read in the caller's transaction does not use the cache: nothing to retry there.
    conn.exec("ALTER TABLE item ALTER COLUMN score TYPE bigint");
    EXPECT_EQ(score_of(service.read(conn, ctx, "item", 1, std::nullopt).json), "\"score\":3,");
    tx.commit();
  }
  EXPECT_EQ(count(), 2);
  // Reads and lists outside a transaction are retried by the connection.
  conn.exec("ALTER TABLE item ALTER COLUMN score TYPE integer");
  // The create is one INSERT ... RETURNING: its stale plan was found before anything was
  // inserted, so the retry took id 2 (a write retried in a transaction may skip ids).
  EXPECT_EQ(b.id, 2);
  EXPECT_EQ(score_of(service.read(conn, ctx, "item", b.id, std::nullopt).json), "\"score\":2,");
  ListRequest request;
  request.filter = R"({"score": {"gte": 2}})";
  request.sort = "id";
  auto list = service.list(conn, ctx, "item", request).json;
  EXPECT_NE(list.find("\"total\":2"), std::string::npos) << list;
  // Errors still map as before: a unique violation stays a data error, not a retry.
  conn.exec("CREATE UNIQUE INDEX item_name ON item (name)");
  try {
    service.create(conn, ctx, "item", R"({"name": "a"})");
    FAIL() << "expected a conflict";
  } catch (const ApiError& e) {
    EXPECT_EQ(http::status_of(e), 409);
  }
  EXPECT_EQ(count(), 2);
}

}  // namespace
}  // namespace keel::records
