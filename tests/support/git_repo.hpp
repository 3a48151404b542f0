#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace keel::testing {

// A git repository for fetch tests: a work tree under `root`/<name>.work whose commits are
// pushed to the bare repository `root`/<name>.git, the source `keel module fetch` clones.
// Runs the git command; every failure fails the test (ADD_FAILURE) and throws.
class GitRepo {
 public:
  GitRepo(const std::filesystem::path& root, const std::string& name);

  // Writes a file of the work tree (folders created).
  void write(const std::string& relative, std::string_view content) const;
  void remove(const std::string& relative) const;
  // Commits everything and pushes the branch `main`; returns the commit id.
  std::string commit(const std::string& message) const;
  // Creates (or with `force` moves) a tag at the current commit and pushes it.
  void tag(const std::string& name, bool force = false) const;
  // `git` with `args` in the work tree; returns its stdout.
  std::string git(const std::string& args) const;

  const std::filesystem::path& bare() const { return bare_; }
  std::string url() const { return "file://" + bare_.string(); }

 private:
  std::filesystem::path work_, bare_;
};

}  // namespace keel::testing
