#pragma once

#include "install/lifecycle.hpp"

namespace keel::install {

// Writes the members every module listing shares (`keel module list --json`, GET /modules)
// into an open JSON object of a RapidJSON writer: name, version, installed_version (null when
// not installed), state, core, depends. Callers add their own members around them.
template <typename Writer>
void write_module_state(Writer& w, const ModuleState& row) {
  const auto& m = *row.manifest;
  w.Key("name");
  w.String(m.name.c_str());
  w.Key("version");
  w.String(m.version.to_string().c_str());
  w.Key("installed_version");
  if (row.installed_version.empty())
    w.Null();
  else
    w.String(row.installed_version.c_str());
  w.Key("state");
  w.String(row.state.c_str());
  w.Key("core");
  w.Bool(m.core);
  w.Key("depends");
  w.StartArray();
  for (const auto& d : m.depends)
    w.String(d.name.c_str());
  w.EndArray();
}

}  // namespace keel::install
