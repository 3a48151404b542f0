#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "app/error.hpp"
#include "security/crypto.hpp"
#include "security/jwt.hpp"
#include "security/secret.hpp"
#include "security/users.hpp"

namespace keel::security {
namespace {

using namespace std::chrono_literals;

TEST(Tokens, IssuedTokensVerifyUntilTheyExpire) {
  TokenSigner signer("secret", 60s);
  auto now = std::chrono::system_clock::now();
  auto token = signer.issue(42, now);
  auto claims = signer.verify(token, now);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->user_id, 42);
  EXPECT_EQ(claims->expires_at - claims->issued_at, 60);
  EXPECT_EQ(claims->token_id.size(), 32u);
  EXPECT_NE(signer.issue(42, now), token) << "every token has its own jti";
  EXPECT_TRUE(signer.verify(token, now + 59s));
  EXPECT_FALSE(signer.verify(token, now + 61s));
  EXPECT_FALSE(TokenSigner("other").verify(token, now));
}

TEST(Tokens, OnlyExactlyHs256IsAccepted) {
  TokenSigner signer("secret");
  const std::string payload = R"({"sub":"7","iat":1,"exp":4100000000,"jti":"j"})";
  EXPECT_TRUE(signer.verify(signer.sign(R"({"alg":"HS256","typ":"JWT"})", payload)));
  for (const char* header :
       {R"({"alg":"none","typ":"JWT"})", R"({"alg":"HS384","typ":"JWT"})",
        R"({"alg":"hs256","typ":"JWT"})", R"({"alg":"HS256"})", R"({"alg":"HS256","typ":"JWS"})",
        R"({"alg":"HS256","typ":"JWT","kid":"x"})", R"({"alg":"HS256","typ":"JWT","alg":"none"})",
        R"(["HS256"])", "not json"})
    EXPECT_FALSE(signer.verify(signer.sign(header, payload))) << header;
  for (const char* bad :
       {R"({"sub":7,"iat":1,"exp":4100000000,"jti":"j"})",
        R"({"sub":"0","iat":1,"exp":4100000000,"jti":"j"})",
        R"({"sub":"7x","iat":1,"exp":4100000000,"jti":"j"})", R"({"sub":"7","iat":1,"jti":"j"})",
        R"({"sub":"7","iat":1,"exp":"4100000000","jti":"j"})",
        R"({"sub":"7","iat":1,"exp":4100000000})"})
    EXPECT_FALSE(signer.verify(signer.sign(R"({"alg":"HS256","typ":"JWT"})", bad))) << bad;
  auto token = signer.issue(7);
  EXPECT_FALSE(signer.verify(token + "="));
  EXPECT_FALSE(signer.verify(token + ".x"));
  EXPECT_FALSE(signer.verify(token.substr(0, token.rfind('.') + 1)));
  EXPECT_FALSE(signer.verify(""));
  EXPECT_FALSE(signer.verify(".."));
  EXPECT_THROW(TokenSigner(""), keel::InvariantError);
}

TEST(Crypto, EncodingsHashesAndComparisons) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::optional<std::string>("\xfb\xff"));
  EXPECT_FALSE(base64url_decode("-_8="));
  EXPECT_FALSE(base64url_decode("a+b/"));
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(hmac_sha256("key", "The quick brown fox jumps over the lazy dog")),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  EXPECT_TRUE(constant_time_equal("same", "same"));
  EXPECT_FALSE(constant_time_equal("same", "sama"));
  EXPECT_FALSE(constant_time_equal("same", "same!"));
  EXPECT_EQ(random_token(32).size(), 43u);
  EXPECT_NE(random_token(), random_token());
}

TEST(Crypto, PasswordsAreArgon2id) {
  auto hash = hash_password("hunter2 hunter2");
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(hash.find("hunter2"), std::string::npos);
  EXPECT_TRUE(verify_password(hash, "hunter2 hunter2"));
  EXPECT_FALSE(verify_password(hash, "hunter3 hunter3"));
  EXPECT_FALSE(verify_password("", "anything"));
  EXPECT_FALSE(verify_password("plaintext", "plaintext"));
}

TEST(ApiKeys, ShapeOfAKey) {
  auto parts = split_api_key("0123456789ab.s3cr3t");
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->first, "0123456789ab");
  EXPECT_EQ(parts->second, "s3cr3t");
  EXPECT_FALSE(split_api_key("0123456789AB.s3cr3t"));
  EXPECT_FALSE(split_api_key("0123456789a.s3cr3t"));
  EXPECT_FALSE(split_api_key("0123456789ab."));
  EXPECT_FALSE(split_api_key("a.b.c"));
}

TEST(Secret, GeneratedOnceWithMode0600UnlessConfigured) {
  auto dir = std::filesystem::temp_directory_path() / ("keel-secret-" + random_token(6));
  Config config;
  config.var_dir = dir / "var";
  auto first = load_secret(config);
  EXPECT_EQ(first.size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat((config.var_dir / "secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(load_secret(config), first) << "tokens survive restarts";
  config.secret = "from KEEL_SECRET";
  EXPECT_EQ(load_secret(config), "from KEEL_SECRET");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel::security
