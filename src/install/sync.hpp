#pragma once

#include "modules/manifest.hpp"

namespace keel::db {
class Connection;
}
namespace keel::schema {
class Registry;
}
namespace keel::security {
class Policy;
}

// The tables of base that mirror the installed modules' files (not business records: the
// lifecycle rewrites them from the files): entities and fields, roles, access rows and record
// rules, the modules themselves. The UI tables are ui::store_module's.
namespace keel::install {

// Rewrites base_entity and base_field from the registry.
void sync_metadata(db::Connection& conn, const schema::Registry& registry);

// Rewrites roles, access rows and record rules from the policy. Roles keep their ids (users'
// role assignments refer to them); a role no installed module declares any more is deleted,
// and with it its assignments, access rows and rules (cascade).
void sync_security(db::Connection& conn, const security::Policy& policy);

// The row of `m` in base_module: installed at its version. `fresh`: an install (installed_at
// is now), else an upgrade.
void record_module(db::Connection& conn, const modules::Manifest& m, bool fresh);

// Running servers reload their snapshot when the transaction commits (LISTEN keel_modules).
void notify_servers(db::Connection& conn);

}  // namespace keel::install
