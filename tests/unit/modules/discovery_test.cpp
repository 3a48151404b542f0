#include "modules/discovery.hpp"

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace keel::modules {
namespace {
namespace fs = std::filesystem;

// A temporary directory tree, removed at the end of the test.
class TempTree {
 public:
  TempTree() {
    std::string tmpl = (fs::temp_directory_path() / "keel-discovery-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    root_ = tmpl;
  }
  ~TempTree() {
    std::error_code ec;
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }
  const fs::path& root() const { return root_; }

  // Writes `text` to root/relative, creating the folders on the way.
  fs::path write(const fs::path& relative, const std::string& text) const {
    fs::path file = root_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }
  fs::path module(const fs::path& dir, const std::string& name,
                  const std::string& version = "1.0.0") const {
    return write(dir / name / "manifest.yaml", "name: " + name + "\nversion: " + version + "\n");
  }

 private:
  fs::path root_;
};

std::vector<std::string> names(const Discovery& found) {
  std::vector<std::string> out;
  for (const auto& m : found.modules)
    out.push_back(m.name);
  return out;
}

std::vector<Diagnostic> of(const Discovery& found, Severity severity) {
  std::vector<Diagnostic> out;
  for (const auto& d : found.diagnostics.items())
    if (d.severity == severity) out.push_back(d);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

using Names = std::vector<std::string>;

TEST(DiscoveryTest, FindsModulesOfEveryDirectorySortedByName) {
  TempTree t;
  t.module("one", "sales");
  t.module("one", "base");
  t.module("two", "contacts");
  auto found = discover({t.root() / "one", t.root() / "two"});
  EXPECT_TRUE(found.diagnostics.empty());
  EXPECT_EQ(names(found), (Names{"base", "contacts", "sales"}));
  EXPECT_EQ(found.modules[1].dir, t.root() / "two" / "contacts");
  EXPECT_EQ(found.modules[1].file, t.root() / "two" / "contacts" / "manifest.yaml");
}

TEST(DiscoveryTest, FirstDirectoryWinsWithAWarningNamingBothPlaces) {
  TempTree t;
  t.module("first", "sales", "1.0.0");
  t.module("second", "sales", "2.0.0");
  t.module("second", "contacts");
  auto found = discover({t.root() / "first", t.root() / "second"});
  EXPECT_EQ(names(found), (Names{"contacts", "sales"}));
  EXPECT_EQ(found.modules[1].version.to_string(), "1.0.0");
  EXPECT_EQ(found.modules[1].dir, t.root() / "first" / "sales");
  EXPECT_FALSE(found.diagnostics.has_errors());
  auto warnings = of(found, Severity::kWarning);
  ASSERT_EQ(warnings.size(), 1u);
  const std::string& message = warnings[0].message;
  EXPECT_TRUE(contains(message, "\"sales\"")) << message;
  EXPECT_TRUE(contains(message, (t.root() / "first" / "sales").string())) << message;
  EXPECT_TRUE(contains(message, (t.root() / "second" / "sales").string())) << message;
  EXPECT_EQ(warnings[0].location.file, t.root() / "second" / "sales" / "manifest.yaml");

  // Reversing the path reverses the winner.
  auto reversed = discover({t.root() / "second", t.root() / "first"});
  ASSERT_EQ(names(reversed), (Names{"contacts", "sales"}));
  EXPECT_EQ(reversed.modules[1].version.to_string(), "2.0.0");
}

TEST(DiscoveryTest, TheShadowedCopyIsNotRead) {
  TempTree t;
  t.module("first", "sales");
  t.write("second/sales/manifest.yaml", "name: [unclosed\n");
  auto found = discover({t.root() / "first", t.root() / "second"});
  EXPECT_FALSE(found.diagnostics.has_errors());
  EXPECT_EQ(of(found, Severity::kWarning).size(), 1u);
  EXPECT_EQ(names(found), (Names{"sales"}));
}

TEST(DiscoveryTest, TheSameDirectoryTwiceIsSearchedOnce) {
  TempTree t;
  t.module("addons", "sales");
  auto found = discover({t.root() / "addons", t.root() / "addons" / ".." / "addons"});
  EXPECT_TRUE(found.diagnostics.empty());
  EXPECT_EQ(names(found), (Names{"sales"}));
}

TEST(DiscoveryTest, FoldersWithoutManifestAreNotModules) {
  TempTree t;
  t.module("addons", "sales");
  t.write("addons/docs/README.md", "not a module\n");
  t.write("addons/Static Files/logo.svg", "<svg/>\n");
  fs::create_directories(t.root() / "addons" / ".git");
  t.write("addons/manifest.yaml", "name: addons\nversion: 1.0.0\n");  // a file, not a folder
  t.write("addons/notes.txt", "a file\n");
  t.write("addons/shop/manifest.yml", "name: shop\nversion: 1.0.0\n");  // wrong file name
  auto found = discover({t.root() / "addons"});
  EXPECT_TRUE(found.diagnostics.empty());
  EXPECT_EQ(names(found), (Names{"sales"}));
}

TEST(DiscoveryTest, BadFolderNamesAreRejected) {
  TempTree t;
  t.module("addons", "sales");
  for (std::string bad : {"Sales", "1st", "my-module", "_hidden"})
    t.write("addons/" + bad + "/manifest.yaml", "name: x\nversion: 1.0.0\n");
  auto found = discover({t.root() / "addons"});
  EXPECT_EQ(names(found), (Names{"sales"}));
  auto errors = of(found, Severity::kError);
  ASSERT_EQ(errors.size(), 4u);
  for (std::string bad : {"1st", "Sales", "_hidden", "my-module"}) {
    bool reported = false;
    for (const auto& e : errors)
      if (e.message == "bad module folder name \"" + bad + "\"" &&
          e.location.file == t.root() / "addons" / bad / "manifest.yaml")
        reported = true;
    EXPECT_TRUE(reported) << bad;
  }
}

TEST(DiscoveryTest, EveryManifestProblemOfEveryDirectoryIsReportedInOnePass) {
  TempTree t;
  t.module("one", "good");
  fs::path unknown_key =
      t.write("one/typo/manifest.yaml", "name: typo\nversion: 1.0.0\nsumary: x\n");
  fs::path bad_version = t.write("one/badver/manifest.yaml", "name: badver\nversion: one\n");
  fs::path no_name = t.write("two/noname/manifest.yaml", "version: 1.0.0\n");
  fs::path wrong_name = t.write("two/other/manifest.yaml", "name: different\nversion: 1.0.0\n");
  fs::path syntax = t.write("two/syntax/manifest.yaml", "name: syntax\nversion: [1.0\n");
  t.module("two", "fine");
  // Two problems in one manifest are both reported too.
  fs::path two_problems =
      t.write("two/double/manifest.yaml", "name: double\nversion: 1.x\ncore: maybe\n");

  auto found = discover({t.root() / "one", t.root() / "two"});
  EXPECT_EQ(names(found), (Names{"fine", "good"}));
  auto errors = of(found, Severity::kError);
  auto count_for = [&](const fs::path& file) {
    int n = 0;
    for (const auto& e : errors)
      if (e.location.file == file) {
        ++n;
        EXPECT_GT(e.location.line, 0) << e.to_string();
      }
    return n;
  };
  EXPECT_EQ(count_for(unknown_key), 1);
  EXPECT_EQ(count_for(bad_version), 1);
  EXPECT_EQ(count_for(no_name), 1);
  EXPECT_EQ(count_for(wrong_name), 1);
  EXPECT_EQ(count_for(syntax), 1);
  EXPECT_EQ(count_for(two_problems), 2);
  EXPECT_EQ(errors.size(), 7u);
}

TEST(DiscoveryTest, AMissingDirectoryIsAWarningAndTheOthersAreStillSearched) {
  TempTree t;
  t.module("addons", "sales");
  t.write("plain-file", "not a directory\n");
  auto found = discover({t.root() / "missing", t.root() / "addons", t.root() / "plain-file"});
  EXPECT_EQ(names(found), (Names{"sales"}));
  EXPECT_FALSE(found.diagnostics.has_errors());
  auto warnings = of(found, Severity::kWarning);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0].location.file, t.root() / "missing");
  EXPECT_TRUE(contains(warnings[0].message, "does not exist")) << warnings[0].message;
  EXPECT_TRUE(contains(warnings[0].to_string(), (t.root() / "missing").string()));
  EXPECT_EQ(warnings[1].location.file, t.root() / "plain-file");
  EXPECT_TRUE(contains(warnings[1].message, "not a directory")) << warnings[1].message;
}

// What is wrong with discovering an addons directory that may not be read ("" if nothing).
std::string unreadable_directory_problem(const fs::path& addons) {
  auto found = discover({addons});
  if (!found.diagnostics.has_errors()) return "no error";
  if (!found.modules.empty()) return "modules were found";
  for (const auto& d : found.diagnostics.items())
    if (d.severity == Severity::kError && d.location.file == addons &&
        contains(d.message, "cannot read addons directory"))
      return "";
  return "not the expected error: " + found.diagnostics.items().front().to_string();
}

// Root reads every directory: as root, the discovery runs in a child process that first became
// the unprivileged user `nobody`, and reports through a pipe.
std::string unreadable_directory_problem_unprivileged(const fs::path& addons) {
  if (::geteuid() != 0) return unreadable_directory_problem(addons);
  const passwd* nobody = ::getpwnam("nobody");
  if (!nobody) return "no user nobody to run as";
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    if (::setgroups(0, nullptr) != 0 || ::setgid(nobody->pw_gid) != 0 ||
        ::setuid(nobody->pw_uid) != 0 || ::geteuid() == 0)
      out = "cannot become nobody";
    else
      out = unreadable_directory_problem(addons);
    if (::write(fds[1], out.data(), out.size()) < 0) ::_exit(2);
    ::_exit(0);  // no destructor of the parent's objects runs here
  }
  ::close(fds[1]);
  std::string out;
  char buffer[512];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;)
    out.append(buffer, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child failed: " + out;
  return out;
}

TEST(DiscoveryTest, AnUnreadableDirectoryIsAnError) {
  TempTree t;
  t.module("addons", "sales");
  // Others may pass through the tree's root (an unprivileged child must reach addons/).
  fs::permissions(t.root(), fs::perms::owner_all | fs::perms::others_exec);
  fs::permissions(t.root() / "addons", fs::perms::none);
  std::string problem = unreadable_directory_problem_unprivileged(t.root() / "addons");
  fs::permissions(t.root() / "addons", fs::perms::owner_all);
  EXPECT_EQ(problem, "");
  // Readable again, the same directory is found.
  EXPECT_EQ(names(discover({t.root() / "addons"})), (Names{"sales"}));
}

TEST(DiscoveryTest, AnEmptyPathFindsNothing) {
  auto found = discover({});
  EXPECT_TRUE(found.modules.empty());
  EXPECT_TRUE(found.diagnostics.empty());
}

}  // namespace
}  // namespace keel::modules
