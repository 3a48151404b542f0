#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"
#include "modules/semver.hpp"

namespace keel::modules {

// One entry of `depends:`, from either form: "contacts >=1.0 <2" or {name, version, git, ref}.
struct Dependency {
  std::string name;
  VersionConstraint constraint;  // any version when none is given
  std::string git;               // where `keel module fetch` clones it from; may be empty
  std::string ref;               // tag, branch or commit of `git`; may be empty
  SourceLocation location;
};

// The typed form of a module's manifest.yaml. Only built from a manifest that validated.
struct Manifest {
  std::string name;
  Version version;
  std::string summary;
  std::string description;
  std::string author;
  std::string license;
  std::string website;
  std::string category;
  bool core = false;
  std::vector<Dependency> depends;
  bool auto_install = false;
  // File patterns as written (relative to the module folder, globs allowed).
  std::vector<LocatedString> entities, views, security, data, demo;
  std::string library;  // native library name (lib<library>.so); empty when none

  std::filesystem::path dir;   // the module folder
  std::filesystem::path file;  // its manifest.yaml
  SourceLocation location;     // of the manifest's top-level map
};

// The keys a manifest may hold, in documentation order (the JSON Schema lists the same).
const std::vector<std::string_view>& manifest_keys();

// `[a-z][a-z0-9_]*`: module, entity, field and role-part names.
bool is_valid_name(std::string_view name);

// Parses and validates manifest text. `file` is used in diagnostics; `folder_name`, when not
// empty, must equal `name`. Every problem found goes to `diagnostics`; a Manifest is returned
// only when there was no error.
std::optional<Manifest> parse_manifest(std::string_view text, const std::filesystem::path& file,
                                       std::string_view folder_name, Diagnostics& diagnostics);

// Reads `<dir>/manifest.yaml` and parses it with the folder's name.
std::optional<Manifest> load_manifest(const std::filesystem::path& dir, Diagnostics& diagnostics);

// Expands a manifest's file patterns (`entities/*.yaml`) inside its module folder: patterns in
// the order given, the matches of each sorted by path, every file once. A pattern without
// wildcards must name an existing regular file; a wildcard may match nothing; no file may lie
// outside the folder (through a link).
std::vector<std::filesystem::path> expand_patterns(const Manifest& manifest,
                                                   const std::vector<LocatedString>& patterns,
                                                   Diagnostics& diagnostics);

}  // namespace keel::modules
