// Feeds arbitrary bytes to access-token verification: as a token (TokenSigner::verify), and,
// split at the first newline, as a header and a payload that are signed with the right key and
// then verified, so that the claims' checks (alg, typ, exp, sub, gen, jti) see any JSON behind a
// valid signature. It must refuse or accept, never crash, recurse without bound or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "security/jwt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const keel::security::TokenSigner signer("keel-fuzz-secret-0123456789abcdef");
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)signer.verify(text);
  auto newline = text.find('\n');
  if (newline != std::string_view::npos) {
    auto token = signer.sign(text.substr(0, newline), text.substr(newline + 1));
    (void)signer.verify(token);
  }
  return 0;
}
