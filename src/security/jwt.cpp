#include "security/jwt.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <stdexcept>

#include "app/error.hpp"
#include "app/json.hpp"
#include "security/crypto.hpp"

namespace keel::security {

namespace {

constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

std::int64_t seconds(TokenSigner::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A JSON object whose members are unique (a repeated "alg" could mean two things).
std::optional<rapidjson::Document> parse_object(std::string_view json) {
  rapidjson::Document d;
  if (!json::try_parse(d, json, json::limits().depth).ok || !d.IsObject()) return std::nullopt;
  for (auto a = d.MemberBegin(); a != d.MemberEnd(); ++a)
    for (auto b = a + 1; b != d.MemberEnd(); ++b)
      if (a->name == b->name) return std::nullopt;
  return d;
}

std::optional<std::int64_t> int_claim(const rapidjson::Document& d, const char* name) {
  auto it = d.FindMember(name);
  if (it == d.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
  return it->value.GetInt64();
}

}  // namespace

TokenSigner::TokenSigner(std::string secret, std::chrono::seconds lifetime)
    : key_(std::move(secret)), lifetime_(lifetime) {
  KEEL_ASSERT(!key_.empty(), "a token signer has a secret (load_secret never gives an empty one)");
}

std::string TokenSigner::sign(std::string_view header_json, std::string_view payload_json) const {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  std::string mac = hmac_sha256(key_, input);
  return input + "." + base64url_encode(mac);
}

std::string TokenSigner::issue(std::int64_t user_id, std::int64_t generation,
                               Clock::time_point now) const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  std::int64_t iat = seconds(now);
  std::string sub = std::to_string(user_id);
  std::string jti = to_hex(random_bytes(16));
  w.StartObject();
  w.Key("sub");
  w.String(sub.c_str(), static_cast<rapidjson::SizeType>(sub.size()));
  w.Key("iat");
  w.Int64(iat);
  w.Key("exp");
  w.Int64(iat + lifetime_.count());
  w.Key("jti");
  w.String(jti.c_str(), static_cast<rapidjson::SizeType>(jti.size()));
  if (generation != 0) {
    w.Key("gen");
    w.Int64(generation);
  }
  w.EndObject();
  return sign(kHeader, std::string_view(buffer.GetString(), buffer.GetSize()));
}

std::optional<Claims> TokenSigner::verify(std::string_view token, Clock::time_point now) const {
  if (token.size() > 4096) return std::nullopt;
  auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return std::nullopt;
  auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return std::nullopt;
  // The signature first: nothing of an unsigned token is even parsed.
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!signature) return std::nullopt;
  std::string expected = hmac_sha256(key_, token.substr(0, dot2));
  if (!constant_time_equal(*signature, expected)) return std::nullopt;

  auto header_json = base64url_decode(token.substr(0, dot1));
  auto payload_json = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!header_json || !payload_json) return std::nullopt;
  auto header = parse_object(*header_json);
  if (!header || header->MemberCount() != 2) return std::nullopt;
  auto alg = header->FindMember("alg");
  auto typ = header->FindMember("typ");
  if (alg == header->MemberEnd() || typ == header->MemberEnd() || !alg->value.IsString() ||
      !typ->value.IsString() || std::string_view(alg->value.GetString()) != "HS256" ||
      std::string_view(typ->value.GetString()) != "JWT")
    return std::nullopt;

  auto payload = parse_object(*payload_json);
  if (!payload) return std::nullopt;
  Claims claims;
  auto sub = payload->FindMember("sub");
  if (sub == payload->MemberEnd() || !sub->value.IsString()) return std::nullopt;
  std::string_view sub_text(sub->value.GetString(), sub->value.GetStringLength());
  auto [p, ec] =
      std::from_chars(sub_text.data(), sub_text.data() + sub_text.size(), claims.user_id);
  if (ec != std::errc() || p != sub_text.data() + sub_text.size() || claims.user_id <= 0)
    return std::nullopt;
  auto iat = int_claim(*payload, "iat");
  auto exp = int_claim(*payload, "exp");
  auto jti = payload->FindMember("jti");
  if (!iat || !exp || jti == payload->MemberEnd() || !jti->value.IsString()) return std::nullopt;
  claims.issued_at = *iat;
  claims.expires_at = *exp;
  claims.token_id = jti->value.GetString();
  if (payload->HasMember("gen")) {
    auto gen = int_claim(*payload, "gen");
    if (!gen) return std::nullopt;
    claims.generation = *gen;
  }
  if (seconds(now) >= claims.expires_at) return std::nullopt;
  return claims;
}

}  // namespace keel::security
