// Catalog's queries: the views served (declared, or generated from an entity's fields), actions,
// components and the modules' folders. Building a catalog is catalog_build.cpp's job.
#include "ui/catalog.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "schema/field_traits.hpp"
#include "schema/registry.hpp"

namespace keel::ui {
namespace fs = std::filesystem;
using schema::FieldType;

namespace {

// How many fields a generated list (and kanban) view shows at most.
constexpr size_t kListColumns = 5;
constexpr size_t kKanbanFields = 4;

std::string json_string(const std::string& s) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return buffer.GetString();
}

bool in_list(FieldType t) {
  return schema::traits(t).list_column;
}

bool in_search(FieldType t) {
  return schema::traits(t).search_field;
}

Node field_node(const std::string& name) {
  Node n;
  n.field = name;
  return n;
}

}  // namespace

const std::vector<std::string_view>& view_types() {
  static const std::vector<std::string_view> kTypes = {"list", "form", "search", "kanban"};
  return kTypes;
}

std::optional<View> Catalog::view(std::string_view id) const {
  for (const auto& v : views_)
    if (v.id == id) return v;
  // Generated: module.entity.type
  auto first = id.find('.');
  auto last = id.rfind('.');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  const schema::Entity* e = registry_->entity(id.substr(first + 1, last - first - 1));
  std::string_view type = id.substr(last + 1);
  const auto& types = view_types();
  if (!e || e->module != id.substr(0, first) ||
      std::find(types.begin(), types.end(), type) == types.end())
    return std::nullopt;
  return generate(*e, type);
}

std::optional<View> Catalog::view_for(std::string_view entity, std::string_view type) const {
  const View* best = nullptr;
  for (const auto& v : views_)
    if (v.entity == entity && v.type == type && (!best || v.priority < best->priority)) best = &v;
  if (best) return *best;
  const schema::Entity* e = registry_->entity(entity);
  const auto& types = view_types();
  if (!e || std::find(types.begin(), types.end(), type) == types.end()) return std::nullopt;
  return generate(*e, type);
}

View Catalog::generate(const schema::Entity& e, std::string_view type) const {
  View v;
  v.id = e.module + "." + e.name + "." + std::string(type);
  v.module = e.module;
  v.entity = e.name;
  v.type = type;
  v.label = e.label;
  v.generated = true;
  v.location = e.location;
  // The fields to consider: the hint's, or every field with the title first.
  std::vector<const schema::Field*> fields;
  const std::vector<std::string>* hinted = nullptr;
  if (auto it = defaults_.find(e.name); it != defaults_.end())
    if (auto f = it->second.fields.find(std::string(type)); f != it->second.fields.end())
      hinted = &f->second;
  if (hinted) {
    for (const auto& name : *hinted)
      if (const auto* f = e.field(name)) fields.push_back(f);
  } else {
    if (const auto* t = e.title.empty() ? nullptr : e.field(e.title)) fields.push_back(t);
    for (const auto& f : e.fields)
      if (!f.secret && f.name != e.title) fields.push_back(&f);
  }
  if (type == "list" || type == "kanban") {
    size_t most = type == "list" ? kListColumns : kKanbanFields;
    for (const auto* f : fields)
      if ((hinted || in_list(f->type)) && (hinted || v.arch.size() < most))
        v.arch.push_back(field_node(f->name));
  } else if (type == "search") {
    for (const auto* f : fields)
      if (hinted || in_search(f->type)) v.arch.push_back(field_node(f->name));
  } else {  // form: one group of fields, relations in a notebook (a page each)
    Node group, notebook;
    group.component = "group";
    notebook.component = "notebook";
    for (const auto* f : fields) {
      if (f->type == FieldType::kOne2many || f->type == FieldType::kMany2many) {
        Node page;
        page.component = "page";
        page.attrs["label"] = json_string(f->label);
        page.children.push_back(field_node(f->name));
        notebook.children.push_back(std::move(page));
      } else {
        group.children.push_back(field_node(f->name));
      }
    }
    if (!group.children.empty()) v.arch.push_back(std::move(group));
    if (!notebook.children.empty()) v.arch.push_back(std::move(notebook));
  }
  v.declared = v.arch;
  v.hash = arch_hash(v.arch);
  return v;
}

const Action* Catalog::action(std::string_view id) const {
  for (const auto& a : actions_)
    if (a.id == id) return &a;
  return nullptr;
}

const Component* Catalog::component(std::string_view name) const {
  for (const auto& c : components_)
    if (c.name == name) return &c;
  return nullptr;
}

const fs::path* Catalog::module_dir(std::string_view module) const {
  auto it = modules_.find(module);
  return it == modules_.end() ? nullptr : &it->second.first;
}

std::string Catalog::module_version(std::string_view module) const {
  auto it = modules_.find(module);
  return it == modules_.end() ? "" : it->second.second;
}

}  // namespace keel::ui
