#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

// The few primitives authentication needs, over vetted libraries only: libsodium (argon2id,
// randomness, constant-time comparison) and OpenSSL (SHA-256, HMAC). Nothing hand-rolled.
namespace keel::security {

// `n` bytes from the operating system's CSPRNG.
std::string random_bytes(std::size_t n);
// A random token of `n` bytes, base64url without padding (URL- and header-safe).
std::string random_token(std::size_t n = 32);

std::string base64url_encode(std::string_view bytes);
// nullopt when `text` is not base64url without padding.
std::optional<std::string> base64url_decode(std::string_view text);

std::string to_hex(std::string_view bytes);
// SHA-256 of `data`, as 64 lowercase hex digits (how tokens and API key secrets are stored).
std::string sha256_hex(std::string_view data);
// HMAC-SHA-256 of `data` under `key` (32 raw bytes).
std::string hmac_sha256(std::string_view key, std::string_view data);

// Equality in time that depends on the length only, never on where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// argon2id in libsodium's string format (algorithm, limits and salt included), with the
// INTERACTIVE limits (~0.3 s). Slow on purpose: never call it on an I/O thread.
std::string hash_password(std::string_view password);
// Whether `password` matches `hash` (a hash_password() string). An empty or malformed hash
// still costs one full hash, so that "no such user" and "wrong password" take the same time.
bool verify_password(std::string_view hash, std::string_view password);

}  // namespace keel::security
