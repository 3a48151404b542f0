#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/error.hpp"

namespace keel::modules {
struct Manifest;
}

namespace keel::schema {

class Registry;

// Registry::build with a cache of its result, for starting servers quickly: building the
// registry of 50 modules / 5,000 fields from YAML takes most of a start (docs/api.md, "Install,
// start and memory"). The cache is keyed by a BLAKE2b hash of this build of Keel, the modules in
// order (name and version) and the bytes of every entity file, so it answers exactly what
// Registry::build would for the same files; only registries built without any diagnostic are
// cached. Entries live in `cache_dir` (`<var>/cache`): one file per key, written atomically,
// older keys removed. A missing, unreadable or damaged entry falls back to Registry::build; a
// cache that cannot be written only costs the next start its speed. `cache_dir` empty: no cache.
std::shared_ptr<const Registry> build_registry_cached(
    const std::vector<const modules::Manifest*>& modules, Diagnostics& diagnostics,
    const std::filesystem::path& cache_dir);

// The serialised form (exposed for the round-trip test).
std::string serialize_registry(const Registry& registry);
// nullptr when `data` is not a complete serialised registry.
std::shared_ptr<const Registry> deserialize_registry(const std::string& data);

}  // namespace keel::schema
