#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "modules/lock.hpp"

namespace keel::modules {

struct FetchOptions {
  // The directories searched for modules (core first), as Config::module_path() gives them.
  std::vector<std::filesystem::path> module_path;
  std::filesystem::path core_dir;
  // Where fetched modules go: the first custom addons directory (created when missing).
  std::filesystem::path target_dir;
  std::filesystem::path lock_file = "addons.lock";
  // Move every fetched module to what its `ref` names now, instead of the locked commit.
  bool update = false;
  // One line per module fetched, updated or kept ("fetched accounting 2.1.3 from ...").
  std::function<void(const std::string&)> report;
};

struct FetchResult {
  std::vector<std::string> fetched;  // modules cloned or updated, in the order they were
  LockFile lock;                     // what was written to the lock file
  Diagnostics warnings;              // modules changed since they were fetched, stale entries
};

// `keel module fetch` (contract §1, §4 rule 5): walks the dependencies of every module on the
// path, and of every module it fetches; each missing one that names a `git:` source is cloned
// (the `git` command) at its `ref` (tag, branch or commit; the default branch when empty), or
// at the commit addons.lock records for it, into `target_dir/<name>`. The repository root is
// the module folder; its `.git` is not kept. The fetched manifest must have the dependency's
// name and a version that satisfies its constraint, and, for a locked module, the digest the
// lock records. A failure leaves no folder behind and throws keel::Error; the lock file then
// records what was fetched before it. Missing dependencies without `git:` are left to the
// graph to report.
FetchResult fetch_modules(const FetchOptions& options);

}  // namespace keel::modules
