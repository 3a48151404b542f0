#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"

namespace keel {
struct Config;
}

namespace keel::modules {

struct Manifest;

// One entry of a module folder as the canonical digest sees it.
struct ContentEntry {
  std::string path;   // relative to the module folder, '/'-separated
  bool link = false;  // a symbolic link: its target text is hashed, not what it points at
  std::string hash;   // SHA-256 of the content (or the link's target), 64 lowercase hex digits
};

// Every regular file and symbolic link of the module folder, sorted by path (bytewise), except
// `SIGNATURE` at its root and anything named `.git`. Throws Error (`module.unreadable`) for a
// file that cannot be read, a special file (FIFO, socket, device) or a path holding a newline.
std::vector<ContentEntry> module_contents(const std::filesystem::path& dir);

// The canonical digest of `entries` (sorted as module_contents returns them): SHA-256 over, per
// entry, one kind byte ('f' file, 'l' link), the path's length as 8 bytes big-endian, the path,
// and the 32 bytes of the entry's SHA-256. Written "sha256:<64 hex digits>".
std::string content_digest(const std::vector<ContentEntry>& entries);

// content_digest(module_contents(dir)): what addons.lock records and SIGNATURE signs.
std::string module_digest(const std::filesystem::path& dir);

// An Ed25519 public key (32 bytes), written "ed25519:<base64>".
struct PublicKey {
  std::string bytes;
  std::string text() const;
  friend bool operator==(const PublicKey&, const PublicKey&) = default;
};

// Parses "ed25519:<base64>"; nullopt for anything else.
std::optional<PublicKey> parse_public_key(std::string_view text);

// Reads a FILE.pub written by write_key_pair (blank lines and `#` comments allowed).
PublicKey read_public_key(const std::filesystem::path& file);

// A `security.trusted_keys` entry or a `--key` argument: a key written "ed25519:..." or the
// path of a .pub file.
PublicKey load_trusted_key(const std::string& spec);

// Writes a new Ed25519 key pair: `file` (the secret key, mode 0600, created exclusively) and
// `file`.pub. Refuses to overwrite either. Returns the public key.
PublicKey write_key_pair(const std::filesystem::path& file);

// Signs the module folder `dir` with the secret key in `secret_key_file`: writes `dir`/SIGNATURE.
// With `library` (the built lib<library>.so of a native module, wherever it lies), SIGNATURE also
// records the library's SHA-256 and name, and the signature covers them. Returns the signer's
// public key.
PublicKey sign_module(const std::filesystem::path& dir,
                      const std::filesystem::path& secret_key_file,
                      const std::filesystem::path& library = {});

// The SHA-256 ("sha256:<hex>") that the SIGNATURE of module folder `dir` records for its library
// `library_file` ("libsales.so"), once the signature is valid and by a key of `trusted`. Throws a
// ValidationError (`module.signature`) when the module is unsigned, its SIGNATURE is altered or
// untrusted, or it does not sign that library. What native code loading compares the library's
// bytes with (security.require_signed_modules), before it opens the library.
std::string signed_library_digest(const std::filesystem::path& dir,
                                  const std::vector<PublicKey>& trusted,
                                  std::string_view module_name, const std::string& library_file);

// Checks the module folder `dir` against its SIGNATURE and `trusted`: every problem at once
// (no SIGNATURE; a malformed or forged SIGNATURE; each changed, added or removed file; a key
// not in `trusted`), as errors located at the file concerned. Empty when the module verifies.
Diagnostics check_signature(const std::filesystem::path& dir, const std::vector<PublicKey>& trusted,
                            std::string_view module_name);

// check_signature, thrown as a ValidationError (`module.signature`) when anything is wrong.
void verify_module(const std::filesystem::path& dir, const std::vector<PublicKey>& trusted,
                   std::string_view module_name);

// `security.trusted_keys` and `security.require_signed_modules`, with the keys loaded.
struct TrustPolicy {
  bool require_signed = false;
  std::vector<PublicKey> trusted;
};

// Loads the keys of the configuration; throws for an unreadable or malformed key.
TrustPolicy trust_policy(const Config& config);

// When signatures are required: every custom module of `modules` must verify against the
// trusted keys (core modules ship with Keel and are exempt). Throws a ValidationError naming
// every unsigned module and every changed, added or removed file. Does nothing otherwise.
void enforce_signatures(const TrustPolicy& policy, const std::vector<const Manifest*>& modules);

// What install and upgrade check before writing anything (install::Lifecycle::set_module_check):
// enforce_signatures with the configuration's policy when signatures are required (the keys
// are loaded now, so a bad key fails at once); an empty function otherwise.
std::function<void(const std::vector<const Manifest*>&)> signature_check(const Config& config);

}  // namespace keel::modules
