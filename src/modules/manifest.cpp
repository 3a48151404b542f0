#include "modules/manifest.hpp"

#include <glob.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "app/yaml_reader.hpp"

namespace keel::modules {
namespace fs = std::filesystem;

const std::vector<std::string_view>& manifest_keys() {
  static const std::vector<std::string_view> keys = {
      "name",    "version",  "summary", "description", "author",       "license",
      "website", "category", "core",    "depends",     "auto_install", "entities",
      "views",   "security", "data",    "demo",        "library"};
  return keys;
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.front() < 'a' || name.front() > 'z') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

namespace {

const char* kNameHint = "module names are lowercase letters, digits and _, starting with a letter";

void parse_constraint(YamlReader& r, const YAML::Node& node, std::string_view text, Dependency& dep,
                      bool& ok) {
  std::string error;
  auto c = VersionConstraint::parse(text, &error);
  if (!c) {
    r.error(node, "bad version constraint for \"" + dep.name + "\": " + error,
            "use e.g. \">=1.0 <2\", \"^1.2\", \"~1.2.3\" or \"1.2.*\"");
    ok = false;
    return;
  }
  dep.constraint = std::move(*c);
}

std::optional<Dependency> parse_dependency(YamlReader& r, const YAML::Node& item) {
  Dependency dep;
  dep.location = r.at(item);
  bool ok = true;
  if (item.IsScalar()) {
    // "contacts" or "contacts >=1.0 <2"
    std::string text = item.Scalar();
    size_t end = text.find_first_of(" \t");
    dep.name = text.substr(0, end);
    if (!is_valid_name(dep.name)) {
      r.error(item, "bad module name \"" + dep.name + "\" in depends", kNameHint);
      return std::nullopt;
    }
    if (end != std::string::npos) {
      std::string rest = text.substr(end);
      if (rest.find_first_not_of(" \t") != std::string::npos)
        parse_constraint(r, item, rest, dep, ok);
    }
    return ok ? std::optional(std::move(dep)) : std::nullopt;
  }
  if (!item.IsMap()) {
    r.error(item,
            "a dependency must be a name (\"contacts >=1.0\") or a map with name, "
            "version, git, ref; got " +
                std::string(yaml_kind(item)));
    return std::nullopt;
  }
  static const std::vector<std::string_view> keys = {"name", "version", "git", "ref"};
  r.check_map(item, keys, "dependency");
  auto name = r.string(item, "name", true);
  if (!name) return std::nullopt;
  dep.name = name->value;
  if (!is_valid_name(dep.name)) {
    r.diagnostics().error(name->location, "bad module name \"" + dep.name + "\" in depends",
                          kNameHint);
    ok = false;
  }
  if (auto version = r.string(item, "version")) {
    parse_constraint(r, item["version"], version->value, dep, ok);
  } else if (item["version"].IsDefined() && !item["version"].IsNull()) {
    ok = false;
  }
  if (auto git = r.string(item, "git")) {
    if (git->value.empty()) {
      r.error(item["git"], "\"git\" must not be empty", "give a repository URL or a local path");
      ok = false;
    }
    dep.git = git->value;
  }
  if (auto ref = r.string(item, "ref")) {
    dep.ref = ref->value;
    if (dep.git.empty()) {
      r.error(item["ref"], "\"ref\" without \"git\" in the dependency on \"" + dep.name + "\"",
              "add the repository as `git: URL`");
      ok = false;
    }
  }
  return ok ? std::optional(std::move(dep)) : std::nullopt;
}

void parse_patterns(YamlReader& r, const YAML::Node& map, std::string_view key,
                    std::vector<LocatedString>& out, bool& ok) {
  auto list = r.string_list(map, key, /*allow_scalar=*/true);
  if (!list) {
    if (map[std::string(key)].IsDefined() && !map[std::string(key)].IsNull()) ok = false;
    return;
  }
  for (auto& item : *list) {
    fs::path p(item.value);
    bool escapes = false;
    for (const auto& part : p)
      if (part == "..") escapes = true;
    if (item.value.empty() || p.is_absolute() || escapes) {
      r.diagnostics().error(
          item.location,
          "\"" + item.value + "\" in \"" + std::string(key) +
              "\" must be a path inside the module folder",
          "write it relative to the module folder, e.g. " + std::string(key) + "/*.yaml");
      ok = false;
      continue;
    }
    out.push_back(std::move(item));
  }
}

}  // namespace

std::optional<Manifest> parse_manifest(std::string_view text, const fs::path& file,
                                       std::string_view folder_name, Diagnostics& diagnostics) {
  YamlReader r(file, diagnostics);
  auto doc = r.parse(text);
  if (!doc) return std::nullopt;
  if (!doc->IsMap()) {
    diagnostics.error(
        {file, doc->IsNull() ? 1 : r.at(*doc).line, doc->IsNull() ? 1 : r.at(*doc).column},
        "a manifest must be a map with at least `name` and `version`, got " +
            std::string(yaml_kind(*doc)),
        "start with:\nname: " + std::string(folder_name.empty() ? "my_module" : folder_name) +
            "\nversion: 1.0.0");
    return std::nullopt;
  }
  const YAML::Node& m = *doc;
  const size_t errors_before = diagnostics.errors().size();
  r.check_map(m, manifest_keys(), "manifest");

  Manifest out;
  out.file = file;
  out.dir = file.parent_path();
  out.location = r.at(m);

  if (auto name = r.string(m, "name", true)) {
    out.name = name->value;
    if (!is_valid_name(out.name)) {
      diagnostics.error(name->location, "bad module name \"" + out.name + "\"", kNameHint);
    } else if (!folder_name.empty() && out.name != folder_name) {
      diagnostics.error(name->location,
                        "module name \"" + out.name + "\" differs from its folder \"" +
                            std::string(folder_name) + "\"",
                        "rename the folder or set `name: " + std::string(folder_name) + "`");
    }
  }
  if (auto version = r.string(m, "version", true)) {
    std::string error;
    if (auto v = Version::parse(version->value, &error))
      out.version = *v;
    else
      diagnostics.error(version->location, "bad version: " + error,
                        "versions are semantic: MAJOR.MINOR.PATCH, e.g. 1.0.0");
  }
  for (auto [key, target] : {std::pair{"summary", &out.summary},
                             {"description", &out.description},
                             {"author", &out.author},
                             {"license", &out.license},
                             {"website", &out.website},
                             {"category", &out.category}}) {
    if (auto s = r.string(m, key)) *target = s->value;
  }
  if (auto library = r.string(m, "library")) {
    out.library = library->value;
    if (!is_valid_name(out.library))
      diagnostics.error(library->location, "bad library name \"" + out.library + "\"",
                        "the library is lib<library>.so; use lowercase letters, digits and _");
  }
  if (auto b = r.boolean(m, "core")) out.core = *b;
  if (auto b = r.boolean(m, "auto_install")) out.auto_install = *b;

  bool ok = true;
  if (YAML::Node deps = m["depends"]; deps.IsDefined() && !deps.IsNull()) {
    if (!deps.IsSequence()) {
      r.error(deps, "\"depends\" must be a list, got " + std::string(yaml_kind(deps)),
              "write one dependency per line: `- base`");
    } else {
      std::set<std::string, std::less<>> seen;
      for (const auto& item : deps) {
        auto dep = parse_dependency(r, item);
        if (!dep) continue;
        if (dep->name == out.name) {
          r.error(item, "module \"" + out.name + "\" depends on itself",
                  "remove \"" + out.name + "\" from depends");
        } else if (!seen.insert(dep->name).second) {
          r.error(item, "\"" + dep->name + "\" is listed twice in depends",
                  "merge the two entries into one");
        } else {
          out.depends.push_back(std::move(*dep));
        }
      }
    }
  }
  parse_patterns(r, m, "entities", out.entities, ok);
  parse_patterns(r, m, "views", out.views, ok);
  parse_patterns(r, m, "security", out.security, ok);
  parse_patterns(r, m, "data", out.data, ok);
  parse_patterns(r, m, "demo", out.demo, ok);

  if (diagnostics.errors().size() != errors_before) return std::nullopt;
  return out;
}

std::optional<Manifest> load_manifest(const fs::path& dir, Diagnostics& diagnostics) {
  fs::path file = dir / "manifest.yaml";
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    diagnostics.error({file}, "cannot read the manifest",
                      "check that the file exists and is readable");
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_manifest(text.str(), file, dir.filename().string(), diagnostics);
}

std::vector<fs::path> expand_patterns(const Manifest& manifest,
                                      const std::vector<LocatedString>& patterns,
                                      Diagnostics& diagnostics) {
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  std::error_code ec;
  fs::path root = fs::weakly_canonical(manifest.dir, ec);
  for (const auto& [pattern, location] : patterns) {
    const bool wildcard = pattern.find_first_of("*?[") != std::string::npos;
    fs::path full = manifest.dir / pattern;
    std::vector<fs::path> matches;
    if (wildcard) {
      // No match (even in a missing directory) is fine for a wildcard.
      glob_t g{};
      if (::glob(full.c_str(), GLOB_ERR, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i)
          matches.emplace_back(g.gl_pathv[i]);
      }
      globfree(&g);
      // Sorted here, not by glob(3)'s strcoll: the same order whatever the locale.
      std::sort(matches.begin(), matches.end());
    } else if (!fs::exists(full, ec)) {
      diagnostics.error(location,
                        "\"" + pattern + "\" does not exist in module \"" + manifest.name + "\"",
                        "create the file or remove it from the manifest");
      continue;
    } else if (!fs::is_regular_file(full, ec)) {
      diagnostics.error(
          location, "\"" + pattern + "\" in module \"" + manifest.name + "\" is not a file",
          "name a file, or the files of a folder with a glob: " + pattern + "/*.yaml");
      continue;
    } else {
      matches.push_back(full);
    }
    for (const auto& p : matches) {
      fs::path canon = fs::weakly_canonical(p, ec);
      auto rel = canon.lexically_relative(root);
      if (rel.empty() || *rel.begin() == "..") {
        // Appended, not `"\"" + p.string() + ...`: GCC 12 at -O2 warns (-Wrestrict, a false
        // positive) about the prepend of a literal to a temporary string.
        std::string message = "\"";
        message += p.string();
        message += "\" is outside module \"" + manifest.name + "\" (through a link)";
        diagnostics.error(location, std::move(message),
                          "copy the file into the module folder instead of linking to it");
        continue;
      }
      if (fs::is_regular_file(p, ec) && seen.insert(p).second) out.push_back(p);
    }
  }
  return out;
}

}  // namespace keel::modules
