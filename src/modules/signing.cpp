#include "modules/signing.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "app/config.hpp"
#include "modules/manifest.hpp"

namespace keel::modules {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKeyPrefix = "ed25519:";
constexpr std::string_view kSecretPrefix = "ed25519-secret:";
constexpr std::string_view kSignatureFile = "SIGNATURE";
constexpr std::string_view kFormat = "keel-signature v1";
// What is signed: this prefix, then the module's digest ("sha256:..."). The prefix keeps a
// module signature from being mistaken for any other message signed with the same key.
constexpr std::string_view kMessagePrefix = "keel module signature v1\n";

void init_sodium() {
  if (sodium_init() < 0) throw Error("crypto.init", "libsodium could not be initialised");
}

std::string to_hex(const unsigned char* bytes, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

std::optional<std::string> from_hex(std::string_view hex, size_t expected) {
  std::string out(expected, '\0');
  size_t len = 0;
  if (hex.size() != expected * 2) return std::nullopt;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, nullptr) != 0 ||
      len != expected)
    return std::nullopt;
  return out;
}

std::string to_base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> from_base64(std::string_view text, size_t expected) {
  std::string out(expected, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != expected || end != text.data() + text.size())
    return std::nullopt;
  return out;
}

std::string sha256_hex_of_bytes(std::string_view data) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return to_hex(out.data(), out.size());
}

[[noreturn]] void unreadable(const fs::path& file, const std::string& why) {
  throw Error("module.unreadable", "cannot read " + file.string() + ": " + why,
              "check that the file exists and is readable");
}

std::string file_sha256_hex(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) unreadable(file, "cannot open it");
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::array<char, 64 * 1024> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(buffer.data()),
                              static_cast<unsigned long long>(in.gcount()));
  }
  if (in.bad()) unreadable(file, "read error");
  std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256_final(&state, out.data());
  return to_hex(out.data(), out.size());
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) unreadable(file, "cannot open it");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// The first line of `file` that is neither blank nor a `#` comment.
std::string first_key_line(const fs::path& file) {
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);) {
    auto t = trim(line);
    if (!t.empty() && t.front() != '#') return t;
  }
  return {};
}

// The parsed SIGNATURE file.
struct SignatureFile {
  PublicKey key;
  std::string digest;
  std::string signature;  // 64 raw bytes
  std::vector<ContentEntry> entries;
  // The built library (lib<library>.so) when the module has one: its SHA-256 (hex) and name.
  std::string library_hash, library_name;
};

// The digest, then the library's line when there is one: a signature covers both.
std::string signed_message(const SignatureFile& s) {
  std::string message = std::string(kMessagePrefix) + s.digest;
  if (!s.library_name.empty())
    message += "\nlibrary sha256:" + s.library_hash + " " + s.library_name;
  return message;
}

std::string render_signature(const SignatureFile& s) {
  std::string out;
  out += std::string(kFormat) + "\n";
  out += "key " + s.key.text() + "\n";
  out += "digest " + s.digest + "\n";
  out += "signature " + to_base64(s.signature) + "\n";
  if (!s.library_name.empty()) out += "library " + s.library_hash + " " + s.library_name + "\n";
  for (const auto& e : s.entries)
    out += std::string(e.link ? "link " : "file ") + e.hash + " " + e.path + "\n";
  return out;
}

// Parses SIGNATURE; a malformed line becomes a diagnostic at its line.
std::optional<SignatureFile> parse_signature(const fs::path& file, Diagnostics& problems) {
  std::istringstream in(read_file(file));
  SignatureFile s;
  bool ok = true, have_key = false, have_digest = false, have_sig = false;
  int line_no = 0;
  auto bad = [&](const std::string& message) {
    problems.error({file, line_no, 1}, message,
                   "sign the module again with `keel module sign NAME --key FILE`");
    ok = false;
  };
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line_no == 1) {
      if (line != kFormat)
        bad("not a Keel module signature (expected \"" + std::string(kFormat) +
            "\" on the first line)");
      if (!ok) return std::nullopt;
      continue;
    }
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    std::string word = line.substr(0, sp);
    std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (word == "key") {
      auto k = parse_public_key(rest);
      if (!k) {
        bad("malformed key");
        continue;
      }
      s.key = *k;
      have_key = true;
    } else if (word == "digest") {
      if (rest.rfind("sha256:", 0) != 0 || !from_hex(rest.substr(7), 32)) {
        bad("malformed digest");
        continue;
      }
      s.digest = rest;
      have_digest = true;
    } else if (word == "signature") {
      auto sig = from_base64(rest, crypto_sign_BYTES);
      if (!sig) {
        bad("malformed signature");
        continue;
      }
      s.signature = *sig;
      have_sig = true;
    } else if (word == "library") {
      size_t sp2 = rest.find(' ');
      if (sp2 != 64 || !from_hex(rest.substr(0, 64), 32) || rest.size() < 66 ||
          rest.find('/', 65) != std::string::npos) {
        bad("malformed library line");
        continue;
      }
      s.library_hash = rest.substr(0, 64);
      s.library_name = rest.substr(65);
    } else if (word == "file" || word == "link") {
      size_t sp2 = rest.find(' ');
      if (sp2 != 64 || !from_hex(rest.substr(0, 64), 32) || rest.size() < 66) {
        bad("malformed file line");
        continue;
      }
      s.entries.push_back({rest.substr(65), word == "link", rest.substr(0, 64)});
    } else {
      bad("unknown line \"" + word + "\"");
    }
  }
  if (line_no == 0) bad("empty signature file");
  if (ok && !(have_key && have_digest && have_sig)) {
    line_no = 0;
    bad("incomplete signature: it needs a key, a digest and a signature line");
  }
  if (!ok) return std::nullopt;
  return s;
}

}  // namespace

std::vector<ContentEntry> module_contents(const fs::path& dir) {
  init_sodium();
  std::vector<ContentEntry> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) unreadable(dir, ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) unreadable(dir, ec.message());
    const fs::path& p = it->path();
    if (p.filename() == ".git") {
      if (it->is_directory(ec) && !it->is_symlink(ec)) it.disable_recursion_pending();
      continue;
    }
    std::string rel = p.lexically_relative(dir).generic_string();
    if (rel == kSignatureFile) continue;
    if (rel.find('\n') != std::string::npos)
      throw Error("module.unreadable", "file name with a line break in " + dir.string(),
                  "rename the file: module file names may not hold line breaks");
    auto status = it->symlink_status(ec);
    if (ec) unreadable(p, ec.message());
    if (fs::is_symlink(status)) {
      auto target = fs::read_symlink(p, ec);
      if (ec) unreadable(p, ec.message());
      out.push_back({rel, true, sha256_hex_of_bytes(target.string())});
    } else if (fs::is_regular_file(status)) {
      out.push_back({rel, false, file_sha256_hex(p)});
    } else if (!fs::is_directory(status)) {
      throw Error("module.unreadable", p.string() + " is not a regular file",
                  "remove it: a module holds only files, folders and symbolic links");
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ContentEntry& a, const ContentEntry& b) { return a.path < b.path; });
  return out;
}

std::string content_digest(const std::vector<ContentEntry>& entries) {
  init_sodium();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  auto feed = [&](const void* data, size_t n) {
    crypto_hash_sha256_update(&state, static_cast<const unsigned char*>(data), n);
  };
  for (const auto& e : entries) {
    unsigned char kind = e.link ? 'l' : 'f';
    feed(&kind, 1);
    std::array<unsigned char, 8> len{};
    std::uint64_t n = e.path.size();
    for (int i = 7; i >= 0; --i, n >>= 8)
      len[static_cast<size_t>(i)] = static_cast<unsigned char>(n & 0xff);
    feed(len.data(), len.size());
    feed(e.path.data(), e.path.size());
    auto raw = from_hex(e.hash, 32);
    if (!raw) throw Error("module.digest", "bad content hash for " + e.path);
    feed(raw->data(), raw->size());
  }
  std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256_final(&state, out.data());
  return "sha256:" + to_hex(out.data(), out.size());
}

std::string module_digest(const fs::path& dir) {
  return content_digest(module_contents(dir));
}

std::string PublicKey::text() const {
  return std::string(kKeyPrefix) + to_base64(bytes);
}

std::optional<PublicKey> parse_public_key(std::string_view text) {
  init_sodium();
  if (text.substr(0, kKeyPrefix.size()) != kKeyPrefix) return std::nullopt;
  auto raw = from_base64(text.substr(kKeyPrefix.size()), crypto_sign_PUBLICKEYBYTES);
  if (!raw) return std::nullopt;
  return PublicKey{*raw};
}

PublicKey read_public_key(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw Error("key.missing", "public key file " + file.string() + " does not exist",
                "create a key pair with `keel key generate --out FILE` and use FILE.pub");
  auto key = parse_public_key(first_key_line(file));
  if (!key)
    throw Error("key.invalid", file.string() + " does not hold a public key",
                "a .pub file written by `keel key generate` holds one line \"ed25519:...\"");
  return *key;
}

PublicKey load_trusted_key(const std::string& spec) {
  if (spec.rfind(kKeyPrefix, 0) == 0) {
    auto key = parse_public_key(spec);
    if (!key)
      throw Error("key.invalid", "malformed trusted key \"" + spec + "\"",
                  "write a key as in a .pub file: \"ed25519:\" and 44 base64 characters");
    return *key;
  }
  return read_public_key(spec);
}

PublicKey write_key_pair(const fs::path& file) {
  init_sodium();
  fs::path pub = file;
  pub += ".pub";
  std::error_code ec;
  for (const auto& f : {file, pub})
    if (fs::exists(fs::symlink_status(f, ec)))
      throw Error("key.exists", f.string() + " already exists",
                  "choose another --out, or remove the old key pair first");
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::string secret_text =
      "# Keel Ed25519 secret key: keep it private\n" + std::string(kSecretPrefix) +
      to_base64(std::string_view(reinterpret_cast<const char*>(sk.data()), sk.size())) + "\n";
  sodium_memzero(sk.data(), sk.size());
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    throw Error("key.write", "cannot create " + file.string() + ": " + std::strerror(errno),
                "check that its folder exists and is writable");
  ::fchmod(fd, 0600);
  bool written = ::write(fd, secret_text.data(), secret_text.size()) ==
                 static_cast<ssize_t>(secret_text.size());
  written = ::close(fd) == 0 && written;
  sodium_memzero(secret_text.data(), secret_text.size());
  if (!written) {
    fs::remove(file, ec);
    throw Error("key.write", "cannot write " + file.string());
  }
  PublicKey key{std::string(reinterpret_cast<const char*>(pk.data()), pk.size())};
  std::ofstream out(pub, std::ios::binary);
  out << "# Keel Ed25519 public key\n" << key.text() << "\n";
  out.close();
  if (!out) {
    fs::remove(file, ec);
    throw Error("key.write", "cannot write " + pub.string());
  }
  return key;
}

PublicKey sign_module(const fs::path& dir, const fs::path& secret_key_file,
                      const fs::path& library) {
  init_sodium();
  struct stat st {};
  if (::stat(secret_key_file.c_str(), &st) != 0)
    throw Error("key.missing", "secret key file " + secret_key_file.string() + " does not exist",
                "create one with `keel key generate --out FILE`");
  if ((st.st_mode & 077) != 0)
    throw Error("key.permissions",
                "secret key " + secret_key_file.string() + " is accessible by other users",
                "chmod 600 " + secret_key_file.string());
  std::string line = first_key_line(secret_key_file);
  std::optional<std::string> sk;
  if (line.rfind(kSecretPrefix, 0) == 0)
    sk = from_base64(std::string_view(line).substr(kSecretPrefix.size()),
                     crypto_sign_SECRETKEYBYTES);
  sodium_memzero(line.data(), line.size());
  if (!sk)
    throw Error("key.invalid", secret_key_file.string() + " does not hold a secret key",
                "use the FILE written by `keel key generate --out FILE`, not FILE.pub");
  SignatureFile s;
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  crypto_sign_ed25519_sk_to_pk(pk.data(), reinterpret_cast<const unsigned char*>(sk->data()));
  s.key.bytes.assign(reinterpret_cast<const char*>(pk.data()), pk.size());
  s.entries = module_contents(dir);
  s.digest = content_digest(s.entries);
  if (!library.empty()) {
    s.library_hash = file_sha256_hex(library);
    s.library_name = library.filename().string();
  }
  std::string message = signed_message(s);
  s.signature.resize(crypto_sign_BYTES);
  crypto_sign_detached(reinterpret_cast<unsigned char*>(s.signature.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(sk->data()));
  sodium_memzero(sk->data(), sk->size());
  // Written next to the files and moved into place, so that a failure leaves no half file.
  fs::path target = dir / kSignatureFile;
  fs::path temp = dir / ".SIGNATURE.tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << render_signature(s);
    out.close();
    if (!out) throw Error("module.write", "cannot write " + temp.string());
  }
  fs::rename(temp, target);
  return s.key;
}

Diagnostics check_signature(const fs::path& dir, const std::vector<PublicKey>& trusted,
                            std::string_view module_name) {
  init_sodium();
  Diagnostics problems;
  const std::string name(module_name);
  fs::path file = dir / kSignatureFile;
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) {
    problems.error({file}, "module \"" + name + "\" is not signed (no SIGNATURE file)",
                   "sign it with `keel module sign " + name + " --key FILE`");
    return problems;
  }
  auto s = parse_signature(file, problems);
  if (!s) return problems;
  // The file list must be the one that was signed: it reproduces the signed digest.
  if (content_digest(s->entries) != s->digest) {
    problems.error({file},
                   "SIGNATURE of \"" + name +
                       "\" was altered: its file list does not "
                       "match its digest",
                   "sign the module again with `keel module sign " + name + " --key FILE`");
    return problems;
  }
  std::string message = signed_message(*s);
  if (crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(s->signature.data()),
          reinterpret_cast<const unsigned char*>(message.data()), message.size(),
          reinterpret_cast<const unsigned char*>(s->key.bytes.data())) != 0) {
    problems.error({file},
                   "the signature of \"" + name + "\" is not valid for key " + s->key.text() +
                       " (SIGNATURE was altered)",
                   "sign the module again with `keel module sign " + name + " --key FILE`");
    return problems;
  }
  // Which files differ from the signed list.
  std::map<std::string, const ContentEntry*> signed_entries;
  for (const auto& e : s->entries)
    signed_entries.emplace(e.path, &e);
  const std::string resign =
      ", or if the change is wanted, sign the module again with `keel module sign " + name +
      " --key FILE`";
  for (const auto& e : module_contents(dir)) {
    auto it = signed_entries.find(e.path);
    if (it == signed_entries.end()) {
      problems.error({dir / e.path}, "file added after signing: " + e.path, "remove it" + resign);
      continue;
    }
    if (it->second->hash != e.hash || it->second->link != e.link)
      problems.error({dir / e.path}, "file changed after signing: " + e.path,
                     "restore it" + resign);
    signed_entries.erase(it);
  }
  for (const auto& [path, entry] : signed_entries)
    problems.error({dir / path}, "file removed after signing: " + path, "restore it" + resign);
  if (std::find(trusted.begin(), trusted.end(), s->key) == trusted.end())
    problems.error({file}, "module \"" + name + "\" is signed by an untrusted key " + s->key.text(),
                   trusted.empty() ? "no key is trusted: pass --key FILE.pub or list the key in "
                                     "security.trusted_keys"
                                   : "if you trust its signer, add the key to "
                                     "security.trusted_keys (or pass --key FILE.pub)");
  return problems;
}

std::string signed_library_digest(const fs::path& dir, const std::vector<PublicKey>& trusted,
                                  std::string_view module_name, const std::string& library_file) {
  init_sodium();
  Diagnostics problems;
  const std::string name(module_name);
  const std::string resign = "build it, then sign the module with `keel module sign " + name +
                             " --key FILE` (that signs the built " + library_file + " too)";
  fs::path file = dir / kSignatureFile;
  std::error_code ec;
  std::optional<SignatureFile> s;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) {
    problems.error({file},
                   "module \"" + name + "\" is not signed (no SIGNATURE file): its library " +
                       library_file + " is refused",
                   resign);
  } else if ((s = parse_signature(file, problems))) {
    std::string message = signed_message(*s);
    if (content_digest(s->entries) != s->digest ||
        crypto_sign_verify_detached(
            reinterpret_cast<const unsigned char*>(s->signature.data()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(),
            reinterpret_cast<const unsigned char*>(s->key.bytes.data())) != 0)
      problems.error(
          {file}, "the signature of \"" + name + "\" is not valid (SIGNATURE was altered)", resign);
    else if (std::find(trusted.begin(), trusted.end(), s->key) == trusted.end())
      problems.error({file},
                     "module \"" + name + "\" is signed by an untrusted key " + s->key.text(),
                     "if you trust its signer, add the key to security.trusted_keys");
    else if (s->library_name.empty())
      problems.error({file},
                     "module \"" + name + "\" is signed without its library " + library_file +
                         ": the code that would run is not covered",
                     resign);
    else if (s->library_name != library_file)
      problems.error(
          {file},
          "module \"" + name + "\" signs the library " + s->library_name + ", not " + library_file,
          resign);
  }
  throw_if_errors(problems, "module.signature",
                  "security.require_signed_modules is on and the library of module \"" + name +
                      "\" is not signed");
  return "sha256:" + s->library_hash;
}

void verify_module(const fs::path& dir, const std::vector<PublicKey>& trusted,
                   std::string_view module_name) {
  auto problems = check_signature(dir, trusted, module_name);
  throw_if_errors(problems, "module.signature",
                  "module \"" + std::string(module_name) + "\" failed verification");
}

TrustPolicy trust_policy(const Config& config) {
  TrustPolicy policy;
  policy.require_signed = config.require_signed_modules;
  for (const auto& spec : config.trusted_keys)
    policy.trusted.push_back(load_trusted_key(spec));
  return policy;
}

void enforce_signatures(const TrustPolicy& policy, const std::vector<const Manifest*>& modules) {
  if (!policy.require_signed) return;
  Diagnostics problems;
  std::vector<std::string> refused;
  for (const auto* m : modules) {
    if (m->core) continue;  // core modules ship with Keel
    auto found = check_signature(m->dir, policy.trusted, m->name);
    if (found.has_errors()) refused.push_back(m->name);
    problems.append(found);
  }
  if (refused.empty()) return;
  std::string names;
  for (const auto& n : refused)
    names += (names.empty() ? "" : ", ") + n;
  throw ValidationError(
      "module.signature",
      "security.require_signed_modules is on and these modules do not verify: " + names,
      problems.errors());
}

std::function<void(const std::vector<const Manifest*>&)> signature_check(const Config& config) {
  if (!config.require_signed_modules) return {};
  auto policy = std::make_shared<const TrustPolicy>(trust_policy(config));
  return [policy](const std::vector<const Manifest*>& modules) {
    enforce_signatures(*policy, modules);
  };
}

}  // namespace keel::modules
