// `keel module fetch`: git dependencies cloned into the first addons directory, recursively,
// pinned in addons.lock (contract §1, §4 rule 5; docs/modules.md "Fetching dependencies").
// The sources are local bare repositories made with the git command.

#include "modules/fetch.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "modules/lock.hpp"
#include "modules/signing.hpp"
#include "support/addon_tree.hpp"
#include "support/git_repo.hpp"

namespace keel::modules {
namespace {
namespace fs = std::filesystem;
using testing::AddonTree;
using testing::GitRepo;

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class FetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    addons_ = root_.path() / "addons";
    fs::create_directories(root_.path() / "repos");
  }

  FetchOptions options(bool update = false) const {
    FetchOptions o;
    o.module_path = {addons_};
    o.target_dir = addons_;
    o.lock_file = root_.path() / "addons.lock";
    o.update = update;
    return o;
  }

  // A repository holding module `name` at `version` (the repository root is the module).
  GitRepo& repo(const std::string& name, const std::string& version,
                const std::string& extra_manifest = "") {
    repos_.push_back(std::make_unique<GitRepo>(root_.path() / "repos", name));
    auto& r = *repos_.back();
    r.write("manifest.yaml", "name: " + name + "\nversion: " + version + "\n" + extra_manifest);
    r.write("data/records.yaml", "records: []\n");
    return r;
  }

  void app_depends(const std::string& depends_yaml) {
    fs::create_directories(addons_ / "app");
    std::ofstream(addons_ / "app" / "manifest.yaml") << "name: app\nversion: 1.0.0\ndepends:\n"
                                                     << depends_yaml;
  }

  // What is left in the addons directory besides modules: nothing.
  std::vector<std::string> folders() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(addons_))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string version_of(const std::string& name) const {
    Diagnostics d;
    auto m = load_manifest(addons_ / name, d);
    return m ? m->version.to_string() : "?";
  }

  AddonTree root_;
  fs::path addons_;
  std::vector<std::unique_ptr<GitRepo>> repos_;
};

TEST_F(FetchTest, ClonesTheRefRecursivelyAndWritesTheLock) {
  auto& util = repo("util", "0.3.0");
  std::string util_commit = util.commit("util 0.3.0");
  auto& lib = repo("lib", "1.0.0",
                   "depends:\n  - name: util\n    version: ~0.3\n    git: " + util.url() + "\n");
  std::string v1 = lib.commit("lib 1.0.0");
  lib.tag("v1.0.0");
  lib.write("manifest.yaml", "name: lib\nversion: 2.0.0\n");
  lib.commit("lib 2.0.0");
  app_depends("  - name: lib\n    version: ^1.0\n    git: " + lib.url() + "\n    ref: v1.0.0\n");

  auto result = fetch_modules(options());
  EXPECT_EQ(result.fetched, (std::vector<std::string>{"lib", "util"}));
  EXPECT_EQ(folders(), (std::vector<std::string>{"app", "lib", "util"}));
  EXPECT_EQ(version_of("lib"), "1.0.0");
  EXPECT_FALSE(fs::exists(addons_ / "lib" / ".git"));
  EXPECT_TRUE(fs::exists(addons_ / "lib" / "data" / "records.yaml"));

  auto lock = read_lock_file(root_.path() / "addons.lock");
  ASSERT_TRUE(lock);
  ASSERT_EQ(lock->entries.size(), 2u);
  EXPECT_EQ(lock->entries[0],
            (LockEntry{"lib", lib.url(), "v1.0.0", v1, module_digest(addons_ / "lib")}));
  EXPECT_EQ(lock->entries[1],
            (LockEntry{"util", util.url(), "", util_commit, module_digest(addons_ / "util")}));
  EXPECT_EQ(result.lock, *lock);
  // The graph is whole now.
  auto found = discover({addons_});
  ModuleGraph graph(std::move(found.modules));
  EXPECT_FALSE(graph.diagnostics().has_errors());

  // A second run has nothing to do and keeps the lock.
  auto again = fetch_modules(options());
  EXPECT_TRUE(again.fetched.empty());
  EXPECT_EQ(again.lock, *lock);
}

TEST_F(FetchTest, LockReproducesCommitsAndUpdateMovesOn) {
  auto& lib = repo("lib", "1.0.0");
  std::string first = lib.commit("1.0.0");
  app_depends("  - name: lib\n    git: " + lib.url() + "\n    ref: main\n");
  fetch_modules(options());
  EXPECT_EQ(read_lock_file(root_.path() / "addons.lock")->entries.at(0).commit, first);

  lib.write("manifest.yaml", "name: lib\nversion: 1.1.0\n");
  std::string second = lib.commit("1.1.0");
  fs::remove_all(addons_ / "lib");
  auto result = fetch_modules(options());
  EXPECT_EQ(version_of("lib"), "1.0.0");  // the locked commit, not the branch's new head
  EXPECT_EQ(result.lock.entries.at(0).commit, first);

  auto updated = fetch_modules(options(/*update=*/true));
  EXPECT_EQ(updated.fetched, std::vector<std::string>{"lib"});
  EXPECT_EQ(version_of("lib"), "1.1.0");
  auto lock = read_lock_file(root_.path() / "addons.lock");
  EXPECT_EQ(lock->entries.at(0).commit, second);
  EXPECT_EQ(lock->entries.at(0).digest, module_digest(addons_ / "lib"));
  EXPECT_EQ(folders(), (std::vector<std::string>{"app", "lib"}));

  // Up to date: nothing moves.
  EXPECT_TRUE(fetch_modules(options(true)).fetched.empty());
}

TEST_F(FetchTest, RefusesADigestMismatchAndLeavesNothing) {
  auto& lib = repo("lib", "1.0.0");
  lib.commit("1.0.0");
  app_depends("  - name: lib\n    git: " + lib.url() + "\n");
  fetch_modules(options());
  fs::path lock_file = root_.path() / "addons.lock";
  std::string text = read_text(lock_file);
  auto at = text.find("sha256:");
  ASSERT_NE(at, std::string::npos);
  text[at + 7] = text[at + 7] == '0' ? '1' : '0';
  std::ofstream(lock_file, std::ios::trunc) << text;
  fs::remove_all(addons_ / "lib");
  try {
    fetch_modules(options());
    FAIL() << "a digest mismatch was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "fetch.digest_mismatch");
    EXPECT_NE(std::string(e.what()).find("\"lib\""), std::string::npos) << e.what();
  }
  EXPECT_EQ(folders(), std::vector<std::string>{"app"});
  EXPECT_EQ(read_text(lock_file), text);  // the lock stays as it was
}

TEST_F(FetchTest, ChecksNameVersionAndRef) {
  auto& lib = repo("lib", "1.0.0");
  lib.commit("1.0.0");
  app_depends("  - name: lib\n    version: ^2\n    git: " + lib.url() + "\n");
  try {
    fetch_modules(options());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "fetch.version");
    EXPECT_NE(std::string(e.what()).find("\"app\" needs lib ^2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(folders(), std::vector<std::string>{"app"});

  app_depends("  - name: lib\n    git: " + lib.url() + "\n    ref: v9\n");
  try {
    fetch_modules(options());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "fetch.ref");
  }
  EXPECT_EQ(folders(), std::vector<std::string>{"app"});

  auto& other = repo("other", "1.0.0");
  other.commit("1.0.0");
  app_depends("  - name: lib\n    git: " + other.url() + "\n");
  try {
    fetch_modules(options());
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.code(), "fetch.invalid");
    ASSERT_FALSE(e.diagnostics().empty());
    EXPECT_NE(e.diagnostics()[0].to_string().find("manifest.yaml"), std::string::npos);
  }
  EXPECT_EQ(folders(), std::vector<std::string>{"app"});

  app_depends("  - name: lib\n    git: " + (root_.path() / "repos" / "nope.git").string() + "\n");
  try {
    fetch_modules(options());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "fetch.clone");
  }
  EXPECT_EQ(folders(), std::vector<std::string>{"app"});
  EXPECT_FALSE(fs::exists(root_.path() / "addons.lock"));
}

TEST_F(FetchTest, RefsAreTagsBranchesOrCommitsAndPathsWork) {
  auto& lib = repo("lib", "1.0.0");
  std::string c1 = lib.commit("1.0.0");
  lib.git("checkout --quiet -b stable");
  lib.write("manifest.yaml", "name: lib\nversion: 1.5.0\n");
  lib.commit("1.5.0 on stable");
  lib.git("push --quiet origin stable");
  // A plain path (no file://) and an abbreviated commit.
  app_depends("  - name: lib\n    git: " + lib.bare().string() + "\n    ref: " + c1.substr(0, 10) +
              "\n");
  fetch_modules(options());
  EXPECT_EQ(version_of("lib"), "1.0.0");
  EXPECT_EQ(read_lock_file(root_.path() / "addons.lock")->entries.at(0).commit, c1);
  fs::remove_all(addons_ / "lib");
  fs::remove(root_.path() / "addons.lock");
  app_depends("  - name: lib\n    git: " + lib.url() + "\n    ref: stable\n");
  fetch_modules(options());
  EXPECT_EQ(version_of("lib"), "1.5.0");
}

TEST_F(FetchTest, CycleThroughAFetchedModuleIsReportedByTheGraph) {
  auto& lib = repo("lib", "1.0.0", "depends: [app]\n");
  lib.commit("1.0.0");
  app_depends("  - name: lib\n    git: " + lib.url() + "\n");
  fetch_modules(options());
  auto found = discover({addons_});
  ModuleGraph graph(std::move(found.modules));
  ASSERT_TRUE(graph.diagnostics().has_errors());
  std::string text;
  for (const auto& d : graph.diagnostics().items())
    text += d.to_string() + "\n";
  EXPECT_NE(text.find("dependency cycle"), std::string::npos) << text;
}

TEST_F(FetchTest, ModulesPresentAreLeftAloneAndLocalChangesWarned) {
  auto& lib = repo("lib", "1.0.0");
  lib.commit("1.0.0");
  app_depends("  - name: lib\n    git: " + lib.url() + "\n");
  // Someone's own copy on the path: not fetched, not locked.
  fs::create_directories(addons_ / "lib");
  std::ofstream(addons_ / "lib" / "manifest.yaml") << "name: lib\nversion: 1.0.0\n";
  auto result = fetch_modules(options());
  EXPECT_TRUE(result.fetched.empty());
  EXPECT_TRUE(result.lock.entries.empty());
  fs::remove_all(addons_ / "lib");
  fetch_modules(options());
  std::ofstream(addons_ / "lib" / "data" / "records.yaml", std::ios::app) << "# edited\n";
  result = fetch_modules(options());
  ASSERT_EQ(result.warnings.items().size(), 1u);
  EXPECT_NE(result.warnings.items()[0].message.find("changed since it was fetched"),
            std::string::npos);
  EXPECT_EQ(result.lock.entries.size(), 1u);
}

}  // namespace
}  // namespace keel::modules
