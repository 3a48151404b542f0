#include "support/auth.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <mutex>

#include "security/crypto.hpp"
#include "security/jwt.hpp"
#include "security/users.hpp"
#include "support/http_client.hpp"

namespace keel::testing {

std::int64_t create_user(db::Connection& conn, const std::string& login,
                         const std::vector<std::string>& roles, const std::string& password) {
  static std::mutex mutex;
  static std::map<std::string, std::string> hashes;
  std::string hash;
  {
    std::lock_guard lock(mutex);
    auto it = hashes.find(password);
    if (it == hashes.end()) it = hashes.emplace(password, security::hash_password(password)).first;
    hash = it->second;
  }
  return security::create_user(conn, login, hash, roles);
}

std::string login(std::uint16_t port, const std::string& login, const std::string& password) {
  rapidjson::Document body;
  body.SetObject();
  auto& a = body.GetAllocator();
  body.AddMember("login", rapidjson::Value(login.c_str(), a), a);
  body.AddMember("password", rapidjson::Value(password.c_str(), a), a);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  body.Accept(w);
  auto reply = http_request(port, "POST", "/api/v1/auth/login", buffer.GetString());
  EXPECT_EQ(reply.status, 200) << reply.body;
  rapidjson::Document d;
  d.Parse(reply.body.c_str());
  if (reply.status != 200 || !d.IsObject() || !d.HasMember("access_token")) return {};
  return d["access_token"].GetString();
}

std::string token_for(std::int64_t user_id) {
  return security::TokenSigner(kTestSecret).issue(user_id);
}

std::map<std::string, std::string> bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

}  // namespace keel::testing
