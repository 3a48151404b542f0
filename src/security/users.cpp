#include "security/users.hpp"

#include <algorithm>

#include "app/error.hpp"
#include "db/connection.hpp"
#include "security/crypto.hpp"

namespace keel::security {

namespace {

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

}  // namespace

std::vector<schema::SqlObject> auth_sql_objects() {
  std::vector<schema::SqlObject> out;
  auto function = [&](const std::string& name, const std::string& body) {
    out.push_back({"function", "", name, "base",
                   "CREATE OR REPLACE FUNCTION " + name +
                       "() RETURNS trigger LANGUAGE plpgsql AS $$" + body + "$$",
                   body});
  };
  auto trigger = [&](std::string_view table, const std::string& name, const std::string& sql) {
    out.push_back({"trigger", std::string(table), name, "base", sql, ""});
  };
  function("keel_auth_notify", " BEGIN PERFORM pg_notify('" + std::string(kAuthChannel) +
                                   "', TG_TABLE_NAME); RETURN NULL; END ");
  // A new password or a change of the active flag ends every access token of the user, however
  // the row is changed (the API, `keel user passwd`, SQL).
  function("keel_user_tokens",
           " BEGIN IF NEW.password IS DISTINCT FROM OLD.password OR NEW.active IS DISTINCT FROM "
           "OLD.active THEN NEW.token_generation = OLD.token_generation + 1; END IF; RETURN NEW; "
           "END ");
  for (auto [table, columns] : kWatched) {
    std::string events = "INSERT OR UPDATE" + std::string(columns) + " OR DELETE";
    if (columns.empty()) events += " OR TRUNCATE";
    if (columns.rfind("UPDATE", 0) == 0) events = columns;
    trigger(table, "keel_auth_notify",
            "CREATE OR REPLACE TRIGGER keel_auth_notify AFTER " + events + " ON " +
                db::quote_ident(table) + " FOR EACH STATEMENT EXECUTE FUNCTION keel_auth_notify()");
  }
  trigger("base_user", "keel_user_tokens",
          "CREATE OR REPLACE TRIGGER keel_user_tokens BEFORE UPDATE ON base_user FOR EACH ROW "
          "EXECUTE FUNCTION keel_user_tokens()");
  return out;
}

bool has_users(db::Connection& conn) {
  return conn.exec("SELECT EXISTS (SELECT 1 FROM base_user)").get_bool(0, 0);
}

std::optional<std::pair<std::string_view, std::string_view>> split_api_key(std::string_view key) {
  auto dot = key.find('.');
  if (dot != kApiKeyPrefixBytes * 2 || key.find('.', dot + 1) != std::string_view::npos) return {};
  auto prefix = key.substr(0, dot);
  if (!std::all_of(prefix.begin(), prefix.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
    return {};
  auto secret = key.substr(dot + 1);
  if (secret.empty() || secret.size() > 128) return {};
  return std::pair{prefix, secret};
}

}  // namespace keel::security
