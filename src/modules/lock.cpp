#include "modules/lock.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"

namespace keel::modules {
namespace fs = std::filesystem;

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

const LockEntry* LockFile::find(std::string_view name) const {
  for (const auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

void LockFile::put(LockEntry entry) {
  auto it = std::lower_bound(entries.begin(), entries.end(), entry.name,
                             [](const LockEntry& e, const std::string& n) { return e.name < n; });
  if (it != entries.end() && it->name == entry.name)
    *it = std::move(entry);
  else
    entries.insert(it, std::move(entry));
}

std::optional<LockFile> read_lock_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  Diagnostics problems;
  YamlReader r(file, problems);
  const std::string summary = "invalid lock file " + file.string();
  auto root = r.parse(text.str());
  LockFile lock;
  if (root && !root->IsNull()) {
    if (!root->IsSequence()) {
      r.error(*root, "a lock file is a list of modules, got " + std::string(yaml_kind(*root)),
              "delete it and run `keel module fetch` to write it again");
    } else {
      static const std::vector<std::string_view> keys = {"name", "source", "ref", "commit",
                                                         "digest"};
      std::set<std::string> seen;
      for (const auto& item : *root) {
        if (!r.check_map(item, keys, "lock entry")) continue;
        LockEntry e;
        auto name = r.string(item, "name", true);
        auto source = r.string(item, "source", true);
        auto ref = r.string(item, "ref");
        auto commit = r.string(item, "commit", true);
        auto digest = r.string(item, "digest", true);
        if (!name || !source || !commit || !digest) continue;
        if (!is_valid_name(name->value)) {
          r.error(item["name"], "bad module name \"" + name->value + "\"");
          continue;
        }
        if (!seen.insert(name->value).second) {
          r.error(item["name"], "module \"" + name->value + "\" is listed twice", "keep one entry");
          continue;
        }
        if ((commit->value.size() != 40 && commit->value.size() != 64) || !is_hex(commit->value)) {
          r.error(item["commit"], "bad commit id \"" + commit->value + "\"",
                  "a commit is written as its full hexadecimal id");
          continue;
        }
        if (digest->value.rfind("sha256:", 0) != 0 || digest->value.size() != 71 ||
            !is_hex(digest->value.substr(7))) {
          r.error(item["digest"], "bad digest \"" + digest->value + "\"",
                  "a digest is written \"sha256:\" and 64 hexadecimal digits");
          continue;
        }
        e.name = name->value;
        e.source = source->value;
        e.ref = ref ? ref->value : "";
        e.commit = commit->value;
        e.digest = digest->value;
        lock.put(std::move(e));
      }
    }
  }
  throw_if_errors(problems, "lock.invalid", summary);
  return lock;
}

std::string render_lock_file(const LockFile& lock) {
  YAML::Emitter out;
  out << YAML::BeginSeq;
  for (const auto& e : lock.entries) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << e.name;
    out << YAML::Key << "source" << YAML::Value << e.source;
    out << YAML::Key << "ref" << YAML::Value << YAML::DoubleQuoted << e.ref;
    out << YAML::Key << "commit" << YAML::Value << YAML::DoubleQuoted << e.commit;
    out << YAML::Key << "digest" << YAML::Value << e.digest;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  std::string text =
      "# addons.lock: written by `keel module fetch`; `keel module fetch` reproduces exactly\n"
      "# these commits and refuses a module whose content does not match its digest.\n";
  text += lock.entries.empty() ? std::string("[]") : std::string(out.c_str());
  return text + "\n";
}

void write_lock_file(const fs::path& file, const LockFile& lock) {
  fs::path temp = file;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << render_lock_file(lock);
    out.close();
    if (!out)
      throw Error("lock.write", "cannot write " + temp.string(),
                  "check that the working directory is writable");
  }
  fs::rename(temp, file);
}

}  // namespace keel::modules
