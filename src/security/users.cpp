#include "security/users.hpp"

#include <algorithm>

#include "app/error.hpp"
#include "db/connection.hpp"
#include "security/crypto.hpp"

namespace keel::security {

namespace {

constexpr std::size_t kPrefixBytes = 6;  // 12 hex digits
constexpr std::size_t kSecretBytes = 32;

// The tables whose changes matter to a cached caller, with the columns that matter (an API
// key's last_used_at changes on use and must not flush every cache).
constexpr std::pair<std::string_view, std::string_view> kWatched[] = {
    {"base_user", ""},
    {"base_user_roles_rel", ""},
    {"base_role", ""},
    {"base_api_key", " OF \"user\", prefix, secret_hash, active, expires_at"},
    // A revoked session (logout, new password, reuse) ends the access tokens issued before it;
    // logins (INSERT) and the purge of expired tokens (DELETE) must not flush every cache.
    {"base_refresh_token", "UPDATE OF revoked_at"},
};

std::int64_t user_id(db::Connection& conn, std::string_view login) {
  auto r = conn.exec("SELECT id FROM base_user WHERE login = $1", db::Params().add(login));
  if (r.rows() == 0)
    throw Error("user.unknown", "no user \"" + std::string(login) + "\"",
                "create it with `keel user add " + std::string(login) + "`");
  return r.get_int(0, 0);
}

}  // namespace

void install_auth_triggers(db::Connection& conn) {
  auto present = [&] {
    auto r = conn.exec(
        "SELECT count(*) FILTER (WHERE tgname = 'keel_auth_notify'), "
        "count(*) FILTER (WHERE tgname = 'keel_user_tokens') FROM pg_trigger "
        "WHERE NOT tgisinternal");
    return r.get_int(0, 0) == static_cast<std::int64_t>(std::size(kWatched)) &&
           r.get_int(0, 1) == 1;
  };
  if (present()) return;
  db::Transaction tx(conn);
  conn.exec("SELECT pg_advisory_xact_lock(hashtext('keel_auth_triggers'))");
  if (present()) return;
  conn.exec(
      "CREATE OR REPLACE FUNCTION keel_auth_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN PERFORM pg_notify('" +
      std::string(kAuthChannel) + "', TG_TABLE_NAME); RETURN NULL; END $$");
  for (auto [table, columns] : kWatched) {
    std::string events = "INSERT OR UPDATE" + std::string(columns) + " OR DELETE";
    if (columns.empty()) events += " OR TRUNCATE";
    if (columns.rfind("UPDATE", 0) == 0) events = columns;
    conn.exec("CREATE OR REPLACE TRIGGER keel_auth_notify AFTER " + events + " ON " +
              db::quote_ident(table) + " FOR EACH STATEMENT EXECUTE FUNCTION keel_auth_notify()");
  }
  // A new password or a change of the active flag ends every access token of the user, however
  // the row is changed (the API, `keel user passwd`, SQL).
  conn.exec(
      "CREATE OR REPLACE FUNCTION keel_user_tokens() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN IF NEW.password IS DISTINCT FROM OLD.password OR NEW.active IS DISTINCT FROM "
      "OLD.active THEN NEW.token_generation = OLD.token_generation + 1; END IF; RETURN NEW; "
      "END $$");
  conn.exec(
      "CREATE OR REPLACE TRIGGER keel_user_tokens BEFORE UPDATE ON base_user FOR EACH ROW "
      "EXECUTE FUNCTION keel_user_tokens()");
  tx.commit();
}

bool has_users(db::Connection& conn) {
  return conn.exec("SELECT EXISTS (SELECT 1 FROM base_user)").get_bool(0, 0);
}

std::int64_t create_user(db::Connection& conn, std::string_view login,
                         std::string_view password_hash, const std::vector<std::string>& roles) {
  if (login.empty() || login.size() > 128)
    throw UsageError("a login is 1 to 128 characters", "choose a shorter login");
  db::Transaction tx(conn);
  std::vector<std::int64_t> role_ids;
  for (const auto& role : roles) {
    auto r = conn.exec("SELECT id FROM base_role WHERE name = $1", db::Params().add(role));
    if (r.rows() == 0) {
      std::string known;
      auto all = conn.exec("SELECT name FROM base_role ORDER BY name");
      for (int i = 0; i < all.rows(); ++i)
        known += (known.empty() ? "" : ", ") + std::string(all.get(i, 0));
      throw Error("user.unknown_role", "no role \"" + role + "\"",
                  known.empty() ? "install the module that declares it" : "known roles: " + known);
    }
    role_ids.push_back(r.get_int(0, 0));
  }
  auto exists = conn.exec("SELECT 1 FROM base_user WHERE login = $1", db::Params().add(login));
  if (exists.rows() > 0)
    throw Error("user.exists", "a user \"" + std::string(login) + "\" exists already",
                "change its password with `keel user passwd " + std::string(login) + "`");
  auto id = conn.exec(
                    "INSERT INTO base_user (login, name, password, active) "
                    "VALUES ($1, $1, $2, true) RETURNING id",
                    db::Params().add(login).add(password_hash))
                .get_int(0, 0);
  std::sort(role_ids.begin(), role_ids.end());
  role_ids.erase(std::unique(role_ids.begin(), role_ids.end()), role_ids.end());
  for (auto role : role_ids)
    conn.exec("INSERT INTO base_user_roles_rel (source_id, target_id) VALUES ($1, $2)",
              db::Params().add(id).add(role));
  tx.commit();
  return id;
}

void set_password(db::Connection& conn, std::string_view login, std::string_view password_hash) {
  auto id = user_id(conn, login);
  db::Transaction tx(conn);
  replace_password(conn, id, password_hash);
  tx.commit();
}

void replace_password(db::Connection& conn, std::int64_t user_id, std::string_view password_hash) {
  auto r = conn.exec("UPDATE base_user SET password = $2, updated_at = now() WHERE id = $1",
                     db::Params().add(user_id).add(password_hash));
  if (r.affected() == 0) throw Error("user.unknown", "no user with id " + std::to_string(user_id));
  // A new password ends every session opened with the old one.
  conn.exec(
      "UPDATE base_refresh_token SET revoked_at = now() WHERE \"user\" = $1 AND "
      "revoked_at IS NULL",
      db::Params().add(user_id));
}

NewApiKey create_api_key(db::Connection& conn, std::string_view login, std::string_view name) {
  auto user = user_id(conn, login);
  std::string prefix = to_hex(random_bytes(kPrefixBytes));
  std::string secret = random_token(kSecretBytes);
  auto id = conn.exec(
                    "INSERT INTO base_api_key (\"user\", name, prefix, secret_hash, active) "
                    "VALUES ($1, $2, $3, $4, true) RETURNING id",
                    db::Params()
                        .add(user)
                        .add(name.empty() ? std::nullopt : std::optional<std::string_view>(name))
                        .add(prefix)
                        .add(sha256_hex(secret)))
                .get_int(0, 0);
  return {id, prefix + "." + secret};
}

std::optional<std::pair<std::string_view, std::string_view>> split_api_key(std::string_view key) {
  auto dot = key.find('.');
  if (dot != kPrefixBytes * 2 || key.find('.', dot + 1) != std::string_view::npos) return {};
  auto prefix = key.substr(0, dot);
  if (!std::all_of(prefix.begin(), prefix.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
    return {};
  auto secret = key.substr(dot + 1);
  if (secret.empty() || secret.size() > 128) return {};
  return std::pair{prefix, secret};
}

}  // namespace keel::security
