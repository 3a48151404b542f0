#include "support/auth.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <mutex>

#include "modules/discovery.hpp"
#include "records/service.hpp"
#include "runtime/snapshot.hpp"
#include "runtime/users.hpp"
#include "security/crypto.hpp"
#include "security/jwt.hpp"
#include "security/users.hpp"
#include "support/http_client.hpp"

namespace keel::testing {

namespace {

// The RecordService of `base` alone: what the users of the tests are written with.
const records::RecordService& base_records() {
  static const runtime::Snapshot snapshot = [] {
    static const auto found = modules::discover({KEEL_SOURCE_DIR "/core"});
    std::vector<const modules::Manifest*> base;
    for (const auto& m : found.modules)
      if (m.name == "base") base.push_back(&m);
    runtime::BuildOptions options;
    options.load_native = false;
    return runtime::build(base, options);
  }();
  return *snapshot.records;
}

}  // namespace

void set_password(db::Connection& conn, const std::string& login, const std::string& hash) {
  runtime::set_password(conn, base_records(), login, hash);
}

security::NewApiKey create_api_key(db::Connection& conn, const std::string& login,
                                   const std::string& name) {
  return runtime::create_api_key(conn, base_records(), login, name);
}

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
  return runtime::create_user(conn, base_records(), login, hash, roles);
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
