#include "http/admin_routes.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>

#include "app/json.hpp"
#include "db/connection.hpp"
#include "db/pool.hpp"
#include "http/api.hpp"
#include "records/service.hpp"
#include "runtime/users.hpp"
#include "security/crypto.hpp"
#include "security/policy.hpp"
#include "security/users.hpp"

namespace keel::http {

namespace {

constexpr std::size_t kGeneratedPasswordBytes = 12;  // 16 base64url characters

void require_admin(const security::Context& ctx) {
  if (!ctx.admin)
    throw ApiError(ErrorKind::kForbidden, "auth.forbidden",
                   "user administration needs the role base.admin", "sign in as an administrator");
}

std::int64_t user_id_of(const std::string& text) {
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || p != text.data() + text.size() || id <= 0)
    throw ApiError(ErrorKind::kNotFound, "records.not_found", "no user with id \"" + text + "\"");
  return id;
}

// The body as a JSON object; an empty body is an empty object when `empty_ok`.
rapidjson::Document object_body(const std::string& body, bool empty_ok) {
  rapidjson::Document d;
  if (empty_ok && body.find_first_not_of(" \t\r\n") == std::string::npos) {
    d.SetObject();
    return d;
  }
  json::parse(d, body, "the body", "http.bad_request");
  if (!d.IsObject())
    throw ApiError(ErrorKind::kBadInput, "http.bad_request", "the body must be a JSON object",
                   "send {\"password\": \"...\"}");
  return d;
}

std::string text_of(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  v.Accept(w);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Takes the member `name` out of `d`: its string, nullopt when absent or null; 422 when it is
// something else.
std::optional<std::string> take_string(rapidjson::Document& d, const char* name) {
  auto it = d.FindMember(name);
  if (it == d.MemberEnd()) return std::nullopt;
  std::optional<std::string> out;
  if (it->value.IsString())
    out.emplace(it->value.GetString(), it->value.GetStringLength());
  else if (!it->value.IsNull())
    throw ApiError(ErrorKind::kInvalid, "records.invalid", "the body is invalid", {},
                   {{name, "must be a string"}});
  d.RemoveMember(it);
  return out;
}

void check_password(const std::string& password) {
  if (password.size() < security::kMinPasswordLength)
    throw ApiError(
        ErrorKind::kInvalid, "records.invalid", "the password is too short",
        "use at least " + std::to_string(security::kMinPasswordLength) + " characters",
        {{"password", "at least " + std::to_string(security::kMinPasswordLength) + " characters"}});
}

// keel::Error of security/users.cpp as the API's errors.
[[noreturn]] void rethrow(const Error& e) {
  if (dynamic_cast<const ApiError*>(&e)) throw;
  ErrorKind kind = e.code() == "user.unknown"  ? ErrorKind::kNotFound
                   : e.code() == "user.exists" ? ErrorKind::kConflict
                                               : ErrorKind::kInvalid;
  throw ApiError(kind, e.code(), e.what(), e.hint());
}

}  // namespace

void add_admin_routes(Router& router, const std::string& prefix,
                      std::function<std::shared_ptr<const Snapshot>()> snapshot, db::Pool& pool,
                      std::function<const security::Context&(const Request&)> caller) {
  // A user with a password: the record through RecordService (its checks: login unique, roles
  // that exist, field rights), the hash in the same transaction.
  const std::string object = R"({"type":"object"})";
  const ApiResponse admin_only{.status = "403",
                               .description = "The caller is not an administrator"};
  const ApiResponse invalid{.status = "422",
                            .description = "Invalid body: `errors` names each problem"};
  const ApiResponse no_user{.status = "404", .description = "No such user"};
  const ApiParameter user_id = path_parameter("id", "The user's id");
  const RouteDoc user_doc{.summary =
                              "A user from {login, password, name, email, active, roles}; the "
                              "password hashed",
                          .operation_id = "createUser",
                          .tags = {"Users"},
                          .body = object,
                          .responses = {{.status = "201",
                                         .description = "The user's record (never the password)",
                                         .schema = object},
                                        shared_answer("401", "Unauthorized"),
                                        admin_only,
                                        {.status = "409", .description = "The login is taken"},
                                        invalid}};
  router.add("POST", prefix + "/users", user_doc, [snapshot, &pool, caller, prefix](Request& req) {
    security::Context ctx = caller(req);
    require_admin(ctx);
    auto d = object_body(req.body, false);
    auto password = take_string(d, "password");
    if (!password)
      throw ApiError(ErrorKind::kInvalid, "records.invalid", "the body is invalid",
                     "send a \"password\"", {{"password", "required"}});
    check_password(*password);
    std::string body = text_of(d);
    auto snap = snapshot();
    // argon2id takes a third of a second: never on an I/O thread.
    return Response::defer([snap, &pool, ctx, body, password = *password, prefix] {
      std::string hash = security::hash_password(password);
      auto conn = pool.acquire();
      db::Transaction tx(*conn);
      auto created = snap->records->create(*conn, ctx, "base_user", body);
      try {
        runtime::replace_password(*conn, *snap->records, created.id, hash);
      } catch (const Error& e) {
        rethrow(e);
      }
      tx.commit();
      auto r = Response::json(201, std::move(created.json));
      r.headers.emplace_back("Location",
                             prefix + "/records/base_user/" + std::to_string(created.id));
      return r;
    });
  });

  // A new password: the one given, or a generated one answered once. Either way the user's
  // sessions end (refresh tokens revoked, access tokens outdated by the trigger of base_user).
  const RouteDoc password_doc{
      .summary =
          "{password} sets it; no body resets it to a generated one; the sessions "
          "end",
      .operation_id = "setUserPassword",
      .tags = {"Users"},
      .parameters = {user_id},
      .responses = {{.status = "200",
                     .description = "{password}: the generated one, shown once",
                     .schema = object},
                    {.status = "204", .description = "Set"},
                    shared_answer("401", "Unauthorized"),
                    admin_only,
                    no_user,
                    invalid}};
  router.add("POST", prefix + "/users/{id}/password", password_doc,
             [snapshot, &pool, caller, prefix](Request& req) {
               security::Context ctx = caller(req);
               require_admin(ctx);
               std::int64_t id = user_id_of(req.param("id"));
               auto d = object_body(req.body, true);
               auto password = take_string(d, "password");
               if (!d.ObjectEmpty())
                 throw ApiError(ErrorKind::kInvalid, "records.invalid", "the body is invalid",
                                "send {\"password\": \"...\"}, or nothing for a generated one",
                                {{d.MemberBegin()->name.GetString(), "unknown member"}});
               bool generated = !password;
               if (generated) password = security::random_token(kGeneratedPasswordBytes);
               check_password(*password);
               auto snap = snapshot();
               return Response::defer([snap, &pool, ctx, id, password = *password, generated] {
                 std::string hash = security::hash_password(password);
                 auto conn = pool.acquire();
                 db::Transaction tx(*conn);
                 // 404 for a user the caller cannot see, as a read would answer.
                 snap->records->read(*conn, ctx, "base_user", id, std::string("id"));
                 try {
                   runtime::replace_password(*conn, *snap->records, id, hash);
                 } catch (const Error& e) {
                   rethrow(e);
                 }
                 tx.commit();
                 if (!generated) {
                   Response r;
                   r.status = 204;
                   return r;
                 }
                 rapidjson::Document out;
                 out.SetObject();
                 out.AddMember("password", rapidjson::Value(password.c_str(), out.GetAllocator()),
                               out.GetAllocator());
                 auto r = Response::json(200, text_of(out));
                 r.headers.emplace_back("Cache-Control", "no-store");
                 return r;
               });
             });

  // An API key of a user; the key itself is in this answer only (only its hash is stored).
  const RouteDoc key_doc{
      .summary = "An API key of the user, from {name, expires_at} (optional)",
      .operation_id = "createApiKey",
      .tags = {"Users"},
      .parameters = {user_id},
      .responses = {{.status = "201",
                     .description = "The base_api_key record with `key`, shown once",
                     .schema = object},
                    shared_answer("401", "Unauthorized"),
                    admin_only,
                    no_user,
                    invalid}};
  router.add(
      "POST", prefix + "/users/{id}/api-keys", key_doc,
      [snapshot, &pool, caller, prefix](Request& req) {
        security::Context ctx = caller(req);
        require_admin(ctx);
        std::int64_t id = user_id_of(req.param("id"));
        auto d = object_body(req.body, true);
        auto name = take_string(d, "name");
        auto expires_at = take_string(d, "expires_at");
        if (!d.ObjectEmpty())
          throw ApiError(ErrorKind::kInvalid, "records.invalid", "the body is invalid",
                         "send {\"name\": \"...\", \"expires_at\": \"2027-01-01T00:00:00Z\"}",
                         {{d.MemberBegin()->name.GetString(), "unknown member"}});
        auto snap = snapshot();
        auto conn = pool.acquire();
        db::Transaction tx(*conn);
        // 404 for a user the caller cannot see, as a read would answer.
        snap->records->read(*conn, ctx, "base_user", id, std::string("id"));
        auto key = runtime::create_api_key(*conn, *snap->records, id, name.value_or(""));
        if (expires_at) {
          rapidjson::Document set;
          set.SetObject();
          set.AddMember("expires_at", rapidjson::Value(expires_at->c_str(), set.GetAllocator()),
                        set.GetAllocator());
          snap->records->update(*conn, ctx, "base_api_key", key.id, text_of(set));
        }
        rapidjson::Document out;
        json::parse(out, snap->records->read(*conn, ctx, "base_api_key", key.id, std::nullopt).json,
                    "an API key", "http.internal", json::kEnvelopeDepth);
        tx.commit();
        out.AddMember("key", rapidjson::Value(key.key.c_str(), out.GetAllocator()),
                      out.GetAllocator());
        auto r = Response::json(201, text_of(out));
        r.headers.emplace_back("Cache-Control", "no-store");
        r.headers.emplace_back("Location",
                               prefix + "/records/base_api_key/" + std::to_string(key.id));
        return r;
      });
}

}  // namespace keel::http
