#include "runtime/users.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>

#include "app/error.hpp"
#include "db/connection.hpp"
#include "records/service.hpp"
#include "runtime/auth_service.hpp"
#include "security/crypto.hpp"

namespace keel::runtime {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

std::int64_t user_id(db::Connection& conn, std::string_view login) {
  auto r = conn.exec("SELECT id FROM base_user WHERE login = $1", db::Params().add(login));
  if (r.rows() == 0)
    throw Error("user.unknown", "no user \"" + std::string(login) + "\"",
                "create it with `keel user add " + std::string(login) + "`");
  return r.get_int(0, 0);
}

}  // namespace

std::int64_t create_user(db::Connection& conn, const records::RecordService& records,
                         std::string_view login, std::string_view password_hash,
                         const std::vector<std::string>& roles) {
  if (login.empty()) throw UsageError("a login cannot be empty", "give the user a login");
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
    throw Error(ErrorKind::kConflict, "user.exists",
                "a user \"" + std::string(login) + "\" exists already",
                "change its password with `keel user passwd " + std::string(login) + "`");
  std::sort(role_ids.begin(), role_ids.end());
  role_ids.erase(std::unique(role_ids.begin(), role_ids.end()), role_ids.end());
  rapidjson::StringBuffer body;
  Writer w(body);
  w.StartObject();
  put(w, "login", login);
  put(w, "name", login);
  put(w, "password", password_hash);
  w.Key("roles");
  w.StartArray();
  for (auto id : role_ids)
    w.Int64(id);
  w.EndArray();
  w.EndObject();
  auto created = records.create(conn, security::Context::system(), "base_user",
                                std::string_view(body.GetString(), body.GetSize()));
  tx.commit();
  return created.id;
}

void set_password(db::Connection& conn, const records::RecordService& records,
                  std::string_view login, std::string_view password_hash) {
  auto id = user_id(conn, login);
  db::Transaction tx(conn);
  replace_password(conn, records, id, password_hash);
  tx.commit();
}

void replace_password(db::Connection& conn, const records::RecordService& records,
                      std::int64_t user_id, std::string_view password_hash) {
  rapidjson::StringBuffer body;
  Writer w(body);
  w.StartObject();
  put(w, "password", password_hash);
  w.EndObject();
  // The trigger keel_user_tokens outdates the user's access tokens on the way.
  records.update(conn, security::Context::system(), "base_user", user_id,
                 std::string_view(body.GetString(), body.GetSize()));
  // A new password ends every session opened with the old one (as a logout).
  revoke_sessions(conn, records, user_id);
}

security::NewApiKey create_api_key(db::Connection& conn, const records::RecordService& records,
                                   std::string_view login, std::string_view name) {
  return create_api_key(conn, records, user_id(conn, login), name);
}

security::NewApiKey create_api_key(db::Connection& conn, const records::RecordService& records,
                                   std::int64_t user_id, std::string_view name) {
  std::string prefix = security::to_hex(security::random_bytes(security::kApiKeyPrefixBytes));
  std::string secret = security::random_token(security::kApiKeySecretBytes);
  rapidjson::StringBuffer body;
  Writer w(body);
  w.StartObject();
  w.Key("user");
  w.Int64(user_id);
  w.Key("name");
  if (name.empty())
    w.Null();
  else
    w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  put(w, "prefix", prefix);
  put(w, "secret_hash", security::sha256_hex(secret));
  w.EndObject();
  auto created = records.create(conn, security::Context::system(), "base_api_key",
                                std::string_view(body.GetString(), body.GetSize()));
  return {created.id, prefix + "." + secret};
}

void record_key_use(db::Connection& conn, const records::RecordService& records,
                    std::int64_t key_id) {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  rapidjson::StringBuffer body;
  Writer w(body);
  w.StartObject();
  put(w, "last_used_at", text);
  w.EndObject();
  try {
    records.update(conn, security::Context::system(), "base_api_key", key_id,
                   std::string_view(body.GetString(), body.GetSize()));
  } catch (const ApiError& e) {
    if (e.kind() != ErrorKind::kNotFound) throw;  // removed since it was read: nothing to record
  }
}

}  // namespace keel::runtime
