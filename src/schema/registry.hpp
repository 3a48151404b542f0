#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"
#include "schema/entity.hpp"

namespace keel::modules {
struct Manifest;
}

namespace keel::schema {

// Every entity of a set of modules, merged in dependency order: each module's `entities:` add
// entities, its `extend:` add fields to or change attributes of entities declared by modules
// it depends on. Built once per module change and never mutated (shared as
// shared_ptr<const Registry>).
class Registry {
 public:
  // `modules` must be in dependency order (ModuleGraph's install order). Reads and validates
  // every entity file; every problem goes to `diagnostics` (all at once, file:line:col). The
  // result is meaningful only when no error was added.
  static std::shared_ptr<const Registry> build(const std::vector<const modules::Manifest*>& modules,
                                               Diagnostics& diagnostics);

  // A registry of entities already built and checked (by `build`, or read back from
  // build_registry_cached's cache): `entities` sorted by name, `modules` in dependency order.
  static std::shared_ptr<const Registry> assemble(std::vector<Entity> entities,
                                                  std::vector<std::string> modules);

  const Entity* entity(std::string_view name) const;
  const std::vector<Entity>& entities() const { return entities_; }     // sorted by name
  const std::vector<std::string>& modules() const { return modules_; }  // dependency order

 private:
  std::vector<Entity> entities_;
  std::map<std::string, size_t, std::less<>> index_;
  std::vector<std::string> modules_;
};

}  // namespace keel::schema
