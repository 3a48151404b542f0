#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::modules {

// One module that `keel module fetch` cloned: where from, which ref was asked for, the commit
// it resolved to and the canonical digest of the module folder (signing.hpp).
struct LockEntry {
  std::string name;
  std::string source;
  std::string ref;  // as the manifest wrote it; empty: the repository's default branch
  std::string commit;
  std::string digest;  // "sha256:<hex>"
  friend bool operator==(const LockEntry&, const LockEntry&) = default;
};

// `addons.lock` (contract §4 rule 5): a YAML list of {name, source, ref, commit, digest}.
struct LockFile {
  std::vector<LockEntry> entries;  // sorted by name

  const LockEntry* find(std::string_view name) const;
  // Adds or replaces the entry of `entry.name`, keeping the list sorted.
  void put(LockEntry entry);
  friend bool operator==(const LockFile&, const LockFile&) = default;
};

// Reads a lock file; nullopt when it does not exist. Throws ValidationError (`lock.invalid`)
// with every problem at file:line:col.
std::optional<LockFile> read_lock_file(const std::filesystem::path& file);

// The YAML text of a lock file, entries in name order.
std::string render_lock_file(const LockFile& lock);

// Writes the lock file (to a temporary file next to it, then renamed into place).
void write_lock_file(const std::filesystem::path& file, const LockFile& lock);

}  // namespace keel::modules
