#include "http/auth_routes.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "app/json.hpp"
#include "db/pool.hpp"
#include "http/router.hpp"
#include "runtime/auth_service.hpp"
#include "security/policy.hpp"

namespace keel::http {

namespace {

// The string members `names` of a JSON object body; 400 when the body is not one.
std::vector<std::string> string_members(const std::string& body,
                                        std::initializer_list<const char*> names) {
  rapidjson::Document d;
  json::parse(d, body, "the body", "http.bad_request");
  if (!d.IsObject())
    throw ApiError(ErrorKind::kBadInput, "http.bad_request", "the body must be a JSON object");
  std::vector<std::string> out;
  std::vector<ApiError::FieldError> errors;
  for (const char* name : names) {
    auto it = d.FindMember(name);
    if (it == d.MemberEnd() || !it->value.IsString()) {
      errors.push_back({name, "a string is required"});
      out.emplace_back();
    } else {
      out.emplace_back(it->value.GetString(), it->value.GetStringLength());
    }
  }
  if (!errors.empty())
    throw ApiError(ErrorKind::kInvalid, "auth.invalid_body", "the body lacks required members", {},
                   std::move(errors));
  return out;
}

std::string tokens_json(const runtime::TokenPair& pair) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("access_token");
  w.String(pair.access_token.c_str());
  w.Key("refresh_token");
  w.String(pair.refresh_token.c_str());
  w.Key("token_type");
  w.String("Bearer");
  w.Key("expires_in");
  w.Int64(pair.expires_in);
  w.EndObject();
  return buffer.GetString();
}

// A failure of login or refresh as problem+json, with the headers RFC 6750 and 9110 ask for.
Response auth_problem(const ApiError& e) {
  int status = status_of(e);
  std::vector<std::pair<std::string, std::string>> errors;
  for (const auto& fe : e.field_errors())
    errors.emplace_back(fe.field, fe.message);
  auto r = Response::problem(status, e.code(), status_title(status), e.what(), errors, e.hint());
  if (auto* t = dynamic_cast<const runtime::ThrottledError*>(&e))
    r.headers.emplace_back("Retry-After", std::to_string(t->retry_after()));
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace

void add_auth_routes(Router& router, const std::string& prefix, db::Pool& pool,
                     const runtime::AuthService& auth) {
  // Login and refresh need no token (contract §4 rules 13 and 14).
  const RouteDoc login_doc{
      .summary = "Exchange a login and password for an access and a refresh token",
      .operation_id = "login",
      .tags = {"Auth"},
      .body = "LoginRequest",
      .responses = {{.status = "200", .description = "The tokens", .schema = "Tokens"},
                    shared_answer("400", "BadRequest"),
                    shared_answer("401", "Unauthorized"),
                    shared_answer("429", "TooManyRequests")},
      .open = true};
  router.add("POST", prefix + "/auth/login", login_doc, [&pool, &auth](Request& req) {
    auto fields = string_members(req.body, {"login", "password"});
    std::string address(req.header("x-remote-address"));
    // argon2id takes a third of a second: never on an I/O thread.
    return Response::defer([&pool, &auth, fields = std::move(fields), address] {
      try {
        auto conn = pool.acquire();
        return Response::json(200, tokens_json(auth.login(*conn, fields[0], fields[1], address)));
      } catch (const ApiError& e) {
        return auth_problem(e);
      }
    });
  });
  const RouteDoc refresh_doc{
      .summary =
          "A new access token and a new refresh token; the old refresh token is "
          "retired (reusing it revokes its whole chain)",
      .operation_id = "refreshToken",
      .tags = {"Auth"},
      .body = "RefreshRequest",
      .responses = {{.status = "200", .description = "The tokens", .schema = "Tokens"},
                    shared_answer("400", "BadRequest"),
                    shared_answer("401", "Unauthorized"),
                    shared_answer("429", "TooManyRequests")},
      .open = true};
  router.add("POST", prefix + "/auth/refresh", refresh_doc, [&pool, &auth](Request& req) {
    auto fields = string_members(req.body, {"refresh_token"});
    try {
      auto conn = pool.acquire();
      return Response::json(200, tokens_json(auth.refresh(*conn, fields[0])));
    } catch (const ApiError& e) {
      return auth_problem(e);
    }
  });
  const RouteDoc logout_doc{.summary = "Revoke a refresh token",
                            .operation_id = "logout",
                            .tags = {"Auth"},
                            .body = "RefreshRequest",
                            .responses = {{.status = "204", .description = "Revoked"},
                                          shared_answer("400", "BadRequest"),
                                          shared_answer("401", "Unauthorized")}};
  router.add("POST", prefix + "/auth/logout", logout_doc, [&pool, &auth](Request& req) {
    auto fields = string_members(req.body, {"refresh_token"});
    auto conn = pool.acquire();
    auth.logout(*conn, req.caller ? req.caller->user_id : 0, fields[0]);
    Response r;
    r.status = 204;
    return r;
  });
}

}  // namespace keel::http
