#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keel::security {

// The claims Keel puts in an access token and checks when it comes back.
struct Claims {
  std::int64_t user_id = 0;     // sub
  std::int64_t issued_at = 0;   // iat, seconds since the epoch
  std::int64_t expires_at = 0;  // exp
  std::string token_id;         // jti
  // gen: the user's token generation when the token was issued (base_user.token_generation,
  // raised by logout, a new password or a change of the active flag); 0 when absent.
  std::int64_t generation = 0;
};

// JSON Web Tokens signed with HMAC-SHA-256 (RFC 7519, `alg: HS256`). verify() accepts a token
// only when its header is exactly {"alg":"HS256","typ":"JWT"} (never `none`, never another
// algorithm), its signature matches in constant time, and it has not expired.
class TokenSigner {
 public:
  using Clock = std::chrono::system_clock;

  explicit TokenSigner(std::string secret,
                       std::chrono::seconds lifetime = std::chrono::minutes(15));

  std::chrono::seconds lifetime() const { return lifetime_; }
  // A new access token for `user_id`, valid for lifetime() from `now`.
  std::string issue(std::int64_t user_id, Clock::time_point now = Clock::now()) const {
    return issue(user_id, 0, now);
  }
  // The same, for the user's token `generation` (Claims::generation).
  std::string issue(std::int64_t user_id, std::int64_t generation,
                    Clock::time_point now = Clock::now()) const;
  // The claims of a valid token; nullopt for anything else (malformed, tampered, expired,
  // another algorithm).
  std::optional<Claims> verify(std::string_view token, Clock::time_point now = Clock::now()) const;
  // Signs arbitrary header and payload JSON (tests forge tokens with it).
  std::string sign(std::string_view header_json, std::string_view payload_json) const;

 private:
  std::string key_;  // the HMAC key: KEEL_SECRET or var/secret
  std::chrono::seconds lifetime_;
};

}  // namespace keel::security
