#pragma once

#include <string>

#include "schema/registry.hpp"

namespace keel::db {
class Connection;
}
namespace keel::modules {
struct Manifest;
}

namespace keel::install {

enum class DataMode { kInstall, kUpgrade };

// Loads a module's data files (and its demo files when `demo`): each record is created, or
// updated when its external id exists already (unless the file says `noupdate: true`, whose
// records are only ever created). On upgrade, records the module declared before and no longer
// declares are deleted when nothing references them; its demo files are loaded again when the
// database holds records of them (it was installed with demo data). References `{ref: id}` name
// other records by external id (`module.id`, or `id` for this module). Every problem is reported
// with the file, line and column of the record; the whole file set is checked before anything is
// written.
void load_data(db::Connection& conn, const schema::Registry& registry,
               const modules::Manifest& module, bool demo, DataMode mode);

}  // namespace keel::install
