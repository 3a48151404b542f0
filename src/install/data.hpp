#pragma once

#include <string>

#include "schema/registry.hpp"

namespace keel::db {
class Connection;
}
namespace keel::modules {
struct Manifest;
}
namespace keel::records {
class RecordService;
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
// written. Records are created and updated through `service` with the system context: the
// API's type checks and validation and the modules' hooks apply; a refusal names the file, the
// record's external id and the field. An `update: id` entry gives values for a record declared
// before (applied when this load wrote it: a module's hooks may need a record in steps).
void load_data(db::Connection& conn, const records::RecordService& service,
               const modules::Manifest& module, bool demo, DataMode mode);

}  // namespace keel::install
