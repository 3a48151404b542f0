#include "modules/scaffold.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "app/error.hpp"
#include "modules/manifest.hpp"

namespace keel::modules {
namespace fs = std::filesystem;

namespace {

// "sale_order" -> "sale order".
std::string words_of(const std::string& name) {
  std::string out = name;
  for (auto& c : out)
    if (c == '_') c = ' ';
  return out;
}

// "sale_order" -> "Sale order".
std::string label_of(const std::string& name) {
  std::string out = words_of(name);
  if (!out.empty()) out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

// Replaces every {{key}} of `text`.
std::string fill(std::string text, const std::vector<std::pair<std::string, std::string>>& vars) {
  for (const auto& [key, value] : vars) {
    const std::string mark = "{{" + key + "}}";
    for (size_t at = text.find(mark); at != std::string::npos;
         at = text.find(mark, at + value.size()))
      text.replace(at, mark.size(), value);
  }
  return text;
}

constexpr const char* kManifest = R"(name: {{module}}
version: 0.1.0
summary: {{Module}}, made with `keel module new`
depends:
  - base
entities: [entities/*.yaml]
security: [security/*.yaml]
views: [views/*.yaml]
data: [data/*.yaml]
)";

constexpr const char* kEntity =
    R"(# The entities of {{module}} (docs/entities.md). Add fields, then `keel module upgrade {{module}}`
# (after raising `version` in manifest.yaml).
entities:
  {{entity}}:
    label: {{Entity}}
    title: name
    order: name
    fields:
      name:        {type: string, required: true, max_length: 128, index: true}
      description: {type: text}
      quantity:    {type: integer, default: 0}
      active:      {type: boolean, default: true}
      state:       {type: selection, options: [draft, confirmed, done], default: draft}
)";

constexpr const char* kSecurity =
    R"(# Who may do what with the records of {{module}} (roles, access rights, record rules).
roles:
  user:    {label: {{Module}} user, implies: [base.user]}
  manager: {label: {{Module}} manager, implies: [{{module}}.user]}

access:
  - {entity: {{entity}}, role: {{module}}.user, read: true, create: true, update: true, delete: false}
  - {entity: {{entity}}, role: {{module}}.manager, read: true, create: true, update: true, delete: true}
)";

constexpr const char* kViews = R"(# Views, menus and actions of {{module}} (docs/views.md).
views:
  - id: {{entity}}_list
    entity: {{entity}}
    type: list
    arch:
      - {field: name}
      - {field: quantity}
      - {field: state}
  - id: {{entity}}_form
    entity: {{entity}}
    type: form
    arch:
      - component: group
        children: [{field: name}, {field: quantity}, {field: state}, {field: active}]
      - component: notebook
        children:
          - {component: page, label: Description, children: [{field: description}]}
menus:
  - {id: root, label: {{Module}}, sequence: 50}
  - {id: {{entity}}_menu, parent: root, label: {{Entity}}, action: {{entity}}_action, sequence: 1}
actions:
  - {id: {{entity}}_action, entity: {{entity}}, views: [list, form]}
)";

constexpr const char* kData =
    R"(# Records {{module}} installs, by external id (docs/entities.md "Data files").
records:
  - id: {{entity}}_example
    entity: {{entity}}
    values: {name: Example {{entity_label}}, quantity: 1}
)";

constexpr const char* kCMake =
    R"(# The native code of `{{module}}` (docs/native.md). Keel's own build builds every addon of
# addons/; on its own, against an installed Keel: cmake -S . -B build && cmake --build build
cmake_minimum_required(VERSION 3.25)
project(keel_{{module}} LANGUAGES CXX)
if(NOT COMMAND keel_add_addon)
  find_package(Keel REQUIRED)
endif()

keel_add_addon({{module}} SOURCES src/{{module}}.cpp)
)";

constexpr const char* kSource =
    R"(// Native code of `{{module}}`: registers through the loader, nothing else (docs/native.md).

#include <keel/keel.hpp>

namespace {

// Rejects a negative quantity; all errors of a write are reported at once (422).
void check_quantity(keel::sdk::Env&, keel::sdk::Change& change) {
  if (!change.values.has("quantity")) return;
  const keel::sdk::Value& quantity = change.values.get("quantity");
  if (quantity.is_int() && quantity.as_int() < 0)
    change.errors.push_back({"quantity", "must not be negative"});
}

}  // namespace

KEEL_MODULE({{module}}) {
  loader.validate("{{entity}}", check_quantity);
}
)";

}  // namespace

std::vector<std::string> scaffold_module(const fs::path& dir, const ScaffoldOptions& options) {
  const std::string hint = "names are lowercase letters, digits and _, starting with a letter";
  if (!is_valid_name(options.name))
    throw UsageError("bad module name \"" + options.name + "\"", hint);
  const std::string entity = options.entity.empty() ? options.name : options.entity;
  if (!is_valid_name(entity)) throw UsageError("bad entity name \"" + entity + "\"", hint);
  const fs::path root = dir / options.name;
  std::error_code ec;
  if (fs::exists(fs::symlink_status(root, ec)))
    throw Error("module.exists", root.string() + " already exists",
                "choose another name, or remove the folder first");
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"module", options.name},
      {"Module", label_of(options.name)},
      {"entity", entity},
      {"Entity", label_of(entity)},
      {"entity_label", words_of(entity)}};
  std::vector<std::pair<std::string, std::string>> files = {
      {"manifest.yaml", fill(kManifest, vars)},
      {"entities/" + entity + ".yaml", fill(kEntity, vars)},
      {"security/" + options.name + ".yaml", fill(kSecurity, vars)},
      {"views/" + options.name + ".yaml", fill(kViews, vars)},
      {"data/" + options.name + ".yaml", fill(kData, vars)},
  };
  if (options.native) {
    files[0].second += "library: " + options.name + "   # src/" + options.name + ".cpp\n";
    files.emplace_back("CMakeLists.txt", fill(kCMake, vars));
    files.emplace_back("src/" + options.name + ".cpp", fill(kSource, vars));
  }
  // Written into a hidden folder next to it, then renamed: never a half module.
  fs::create_directories(dir, ec);
  if (ec)
    throw Error("module.write", "cannot create " + dir.string(), "check the addons path",
                ec.message());
  std::string temp_pattern = (dir / ".keel-new-XXXXXX").string();
  if (!::mkdtemp(temp_pattern.data()))
    throw Error("module.write", "cannot create a folder in " + dir.string(),
                "check that the addons directory is writable");
  const fs::path temp = temp_pattern;
  const mode_t mask = ::umask(0);  // mkdtemp made it 0700: give it the usual mode
  ::umask(mask);
  fs::permissions(temp, static_cast<fs::perms>(0777 & ~mask), ec);
  std::vector<std::string> written;
  try {
    for (const auto& [relative, text] : files) {
      fs::path file = temp / relative;
      fs::create_directories(file.parent_path());
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out << text;
      out.close();
      if (!out) throw Error("module.write", "cannot write " + (root / relative).string());
      written.push_back(relative);
    }
    fs::rename(temp, root);
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
  return written;
}

}  // namespace keel::modules
