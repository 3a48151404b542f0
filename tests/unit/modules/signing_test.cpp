// Canonical module digest, key pairs, SIGNATURE and its verification, trust policy
// (docs/modules.md "Signing modules").

#include "modules/signing.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/config.hpp"
#include "modules/manifest.hpp"
#include "support/addon_tree.hpp"

namespace keel::modules {
namespace {
namespace fs = std::filesystem;
using testing::AddonTree;

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every error message of `d`, one per line.
std::string messages(const Diagnostics& d) {
  std::string out;
  for (const auto& item : d.items())
    out += item.location.to_string() + ": " + item.message + "\n";
  return out;
}

class SigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.write("shop/manifest.yaml", "name: shop\nversion: 1.0.0\nentities: [entities/*.yaml]\n");
    tree_.write("shop/entities/order.yaml",
                "entities:\n  order:\n    fields: {name: {type: string}}\n");
    tree_.write("shop/data/a.yaml", "records: []\n");
    key_ = tree_.path() / "keys" / "signer";
    fs::create_directories(key_.parent_path());
    pub_ = write_key_pair(key_);
    dir_ = tree_.path() / "shop";
  }

  AddonTree tree_;
  fs::path key_, dir_;
  PublicKey pub_;
};

TEST_F(SigningTest, KeyPairFilesModesAndNoOverwrite) {
  struct stat st {};
  ASSERT_EQ(::stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  fs::path pub_file = key_;
  pub_file += ".pub";
  EXPECT_EQ(read_public_key(pub_file), pub_);
  EXPECT_EQ(pub_.bytes.size(), 32u);
  EXPECT_EQ(parse_public_key(pub_.text()), pub_);
  EXPECT_EQ(load_trusted_key(pub_.text()), pub_);
  EXPECT_EQ(load_trusted_key(pub_file.string()), pub_);
  try {
    write_key_pair(key_);
    FAIL() << "overwrote a key";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "key.exists");
  }
  EXPECT_FALSE(parse_public_key("ed25519:AAAA"));
  EXPECT_FALSE(parse_public_key(read_text(key_)));  // the secret file is not a public key
  EXPECT_THROW(load_trusted_key((tree_.path() / "nope.pub").string()), Error);
}

TEST_F(SigningTest, SignThenVerify) {
  EXPECT_EQ(sign_module(dir_, key_), pub_);
  std::string sig = read_text(dir_ / "SIGNATURE");
  EXPECT_EQ(sig.rfind("keel-signature v1\nkey " + pub_.text() + "\n", 0), 0u) << sig;
  EXPECT_NE(sig.find("digest " + module_digest(dir_) + "\n"), std::string::npos) << sig;
  EXPECT_NE(sig.find(" entities/order.yaml\n"), std::string::npos) << sig;
  EXPECT_TRUE(check_signature(dir_, {pub_}, "shop").empty())
      << messages(check_signature(dir_, {pub_}, "shop"));
  EXPECT_NO_THROW(verify_module(dir_, {pub_}, "shop"));
  // Signing again gives the same digest: SIGNATURE itself is not part of it.
  std::string digest = module_digest(dir_);
  sign_module(dir_, key_);
  EXPECT_EQ(module_digest(dir_), digest);
}

TEST_F(SigningTest, NamesChangedAddedAndRemovedFiles) {
  sign_module(dir_, key_);
  tree_.write("shop/entities/order.yaml", "entities: {}\n");
  tree_.write("shop/views/new.yaml", "views: []\n");
  tree_.remove("shop/data/a.yaml");
  auto d = check_signature(dir_, {pub_}, "shop");
  std::string text = messages(d);
  EXPECT_EQ(d.errors().size(), 3u) << text;
  EXPECT_NE(text.find("shop/entities/order.yaml: file changed after signing: entities/order.yaml"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("file added after signing: views/new.yaml"), std::string::npos) << text;
  EXPECT_NE(text.find("file removed after signing: data/a.yaml"), std::string::npos) << text;
  try {
    verify_module(dir_, {pub_}, "shop");
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.code(), "module.signature");
  }
}

TEST_F(SigningTest, UntrustedKeyAndUnsignedModule) {
  auto d = check_signature(dir_, {pub_}, "shop");
  ASSERT_EQ(d.errors().size(), 1u);
  EXPECT_NE(messages(d).find("module \"shop\" is not signed"), std::string::npos);

  sign_module(dir_, key_);
  fs::path other = tree_.path() / "keys" / "other";
  auto other_pub = write_key_pair(other);
  d = check_signature(dir_, {other_pub}, "shop");
  ASSERT_EQ(d.errors().size(), 1u) << messages(d);
  EXPECT_NE(messages(d).find("signed by an untrusted key " + pub_.text()), std::string::npos);
  EXPECT_FALSE(check_signature(dir_, {}, "shop").empty());
  EXPECT_TRUE(check_signature(dir_, {other_pub, pub_}, "shop").empty());
}

TEST_F(SigningTest, AlteredSignatureFileIsRefused) {
  sign_module(dir_, key_);
  std::string sig = read_text(dir_ / "SIGNATURE");
  // Re-pointing a file's hash at a changed file breaks the list's digest.
  tree_.write("shop/data/a.yaml", "records: [x]\n");
  auto at = sig.find(" data/a.yaml");
  ASSERT_NE(at, std::string::npos);
  std::string forged = sig;
  forged[at - 1] = forged[at - 1] == '0' ? '1' : '0';
  tree_.write("shop/SIGNATURE", forged);
  auto d = check_signature(dir_, {pub_}, "shop");
  EXPECT_NE(messages(d).find("was altered"), std::string::npos) << messages(d);
  // A digest and list made consistently for other content fail the signature itself.
  tree_.write("shop/data/a.yaml", "records: []\n");
  auto other = tree_.path() / "keys" / "other";
  write_key_pair(other);
  sign_module(dir_, other);
  std::string resigned = read_text(dir_ / "SIGNATURE");
  std::string mixed = resigned;
  mixed.replace(mixed.find("key "), mixed.find('\n', mixed.find("key ")) - mixed.find("key "),
                "key " + pub_.text());
  tree_.write("shop/SIGNATURE", mixed);
  d = check_signature(dir_, {pub_}, "shop");
  EXPECT_NE(messages(d).find("is not valid for key"), std::string::npos) << messages(d);
  tree_.write("shop/SIGNATURE", "garbage\n");
  EXPECT_NE(messages(check_signature(dir_, {pub_}, "shop")).find("SIGNATURE:1:1"),
            std::string::npos);
}

TEST_F(SigningTest, DigestFramesPathsAndContents) {
  AddonTree a, b;
  a.write("m/ab", "c");
  b.write("m/a", "bc");
  EXPECT_NE(module_digest(a.path() / "m"), module_digest(b.path() / "m"));
  // Paths and contents both count; order on disk does not; .git and SIGNATURE do not.
  AddonTree c;
  c.write("m/ab", "c");
  c.write("m/SIGNATURE", "whatever");
  c.write("m/.git/HEAD", "ref: refs/heads/main\n");
  EXPECT_EQ(module_digest(a.path() / "m"), module_digest(c.path() / "m"));
  c.write("m/sub/SIGNATURE", "x");  // only the root's SIGNATURE is left out
  EXPECT_NE(module_digest(a.path() / "m"), module_digest(c.path() / "m"));
  auto d = module_digest(a.path() / "m");
  EXPECT_EQ(d.size(), 71u);
  EXPECT_EQ(d.rfind("sha256:", 0), 0u);
  // A symbolic link is hashed as a link: its target text, not what it points at.
  AddonTree l1, l2;
  l1.write("m/target", "x");
  fs::create_symlink("target", l1.path() / "m" / "link");
  l2.write("m/target", "x");
  l2.write("m/link", "target");
  auto entries = module_contents(l1.path() / "m");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].path, "link");
  EXPECT_TRUE(entries[0].link);
  EXPECT_NE(module_digest(l1.path() / "m"), module_digest(l2.path() / "m"));
}

TEST_F(SigningTest, EnforceSkipsCoreModulesAndNamesFailures) {
  Manifest shop;
  shop.name = "shop";
  shop.dir = dir_;
  Manifest core;
  core.name = "base";
  core.core = true;
  core.dir = tree_.path() / "nowhere";
  TrustPolicy off;
  EXPECT_NO_THROW(enforce_signatures(off, {&shop, &core}));
  TrustPolicy on{true, {pub_}};
  try {
    enforce_signatures(on, {&shop, &core});
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.code(), "module.signature");
    EXPECT_NE(std::string(e.what()).find("shop"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("base"), std::string::npos);
  }
  sign_module(dir_, key_);
  EXPECT_NO_THROW(enforce_signatures(on, {&shop, &core}));
}

TEST_F(SigningTest, ConfigReadsTrustedKeysAndRequirement) {
  fs::path pub_file = key_;
  pub_file += ".pub";
  tree_.write("etc/keel.toml", "[security]\nrequire_signed_modules = true\ntrusted_keys = [\"" +
                                   pub_.text() + "\", \"../keys/signer.pub\"]\n");
  CommandLineSettings flags;
  flags.config_file = tree_.path() / "etc" / "keel.toml";
  auto config = load_config(flags, [](const char*) { return std::nullopt; });
  EXPECT_TRUE(config.require_signed_modules);
  ASSERT_EQ(config.trusted_keys.size(), 2u);
  EXPECT_EQ(config.trusted_keys[0], pub_.text());
  EXPECT_EQ(fs::path(config.trusted_keys[1]), (tree_.path() / "keys" / "signer.pub"));
  auto policy = trust_policy(config);
  ASSERT_EQ(policy.trusted.size(), 2u);
  EXPECT_EQ(policy.trusted[1], pub_);
  EXPECT_TRUE(signature_check(config));
  config.require_signed_modules = false;
  EXPECT_FALSE(signature_check(config));

  tree_.write("etc/keel.toml", "[security]\nrequire_signed_modules = \"yes\"\ntrusted_keys = 3\n");
  try {
    load_config(flags, [](const char*) { return std::nullopt; });
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.diagnostics().size(), 2u);
  }
}

}  // namespace
}  // namespace keel::modules
