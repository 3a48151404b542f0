#pragma once

#include <string>

#include "app/config.hpp"

namespace keel::security {

// The key that signs access tokens: `config.secret` (KEEL_SECRET, security.secret) when set,
// else the contents of `<var>/secret`, created once with 32 random bytes (hex, mode 0600) so
// that tokens survive restarts and every server sharing the var directory agrees.
std::string load_secret(const Config& config);

}  // namespace keel::security
