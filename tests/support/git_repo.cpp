#include "support/git_repo.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "support/run.hpp"

namespace keel::testing {
namespace fs = std::filesystem;

namespace {

std::string run_git(const fs::path& cwd, const std::vector<std::string>& args) {
  std::vector<std::string> all = {
      "-c", "user.name=Keel Test",     "-c", "user.email=test@example.org",
      "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
      "-c", "tag.gpgsign=false"};
  all.insert(all.end(), args.begin(), args.end());
  RunOptions options;
  options.cwd = cwd;
  auto r = run_program("/usr/bin/git", all, options);
  if (r.status != 0) {
    std::string cmd = "git";
    for (const auto& a : args)
      cmd += " " + a;
    ADD_FAILURE() << cmd << " failed (" << r.status << "): " << r.err;
    throw std::runtime_error(cmd + " failed");
  }
  return r.out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

}  // namespace

GitRepo::GitRepo(const fs::path& root, const std::string& name)
    : work_(root / (name + ".work")), bare_(root / (name + ".git")) {
  fs::create_directories(work_);
  run_git(root, {"init", "--quiet", "--bare", bare_.string()});
  run_git(work_, {"init", "--quiet", "-b", "main"});
  run_git(work_, {"remote", "add", "origin", bare_.string()});
}

void GitRepo::write(const std::string& relative, std::string_view content) const {
  fs::path file = work_ / relative;
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
}

void GitRepo::remove(const std::string& relative) const {
  run_git(work_, {"rm", "--quiet", "-r", relative});
}

std::string GitRepo::commit(const std::string& message) const {
  run_git(work_, {"add", "-A"});
  run_git(work_, {"commit", "--quiet", "--allow-empty", "-m", message});
  run_git(work_, {"push", "--quiet", "--force", "origin", "main"});
  std::string id = run_git(work_, {"rev-parse", "HEAD"});
  return id.substr(0, id.find('\n'));
}

void GitRepo::tag(const std::string& name, bool force) const {
  if (force) {
    run_git(work_, {"tag", "-f", name});
    run_git(work_, {"push", "--quiet", "--force", "origin", "refs/tags/" + name});
  } else {
    run_git(work_, {"tag", name});
    run_git(work_, {"push", "--quiet", "origin", "refs/tags/" + name});
  }
}

std::string GitRepo::git(const std::string& args) const {
  return run_git(work_, split(args));
}

}  // namespace keel::testing
