#include "records/stored.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "app/error.hpp"
#include "app/json.hpp"
#include "db/connection.hpp"
#include "query/values.hpp"

namespace keel::records {

using query::param_type;
using query::to_sql_text;
using query::ValueCheck;
using schema::Entity;
using schema::Field;
using schema::FieldType;

namespace {

// Cascades deeper than this are a cycle of `depends` (a computes b computes a).
constexpr int kMaxDepth = 16;
// Records recomputed per call of a computation.
constexpr size_t kBatch = 1000;

std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "}";
}

std::vector<std::int64_t> ids_of(const db::Result& r) {
  std::vector<std::int64_t> out;
  for (int i = 0; i < r.rows(); ++i)
    if (!r.is_null(i, 0)) out.push_back(r.get_int(i, 0));
  return out;
}

}  // namespace

StoredComputed::StoredComputed(const schema::Registry& registry, const Extensions* extensions)
    : registry_(registry), extensions_(extensions) {
  if (!extensions_) return;
  for (const auto& e : registry.entities()) {
    for (const auto& f : e.fields) {
      if (!f.computed || !f.store || !extensions_->computes(e.name, f.name)) continue;
      own_[e.name].push_back(&f);
      // A create computes it whatever it depends on.
      triggers_[e.name];
      for (const auto& path : f.depends) {
        auto dot = path.find('.');
        std::string first = path.substr(0, dot);
        triggers_[e.name].push_back({&e, &f, Kind::kSelf, nullptr, first});
        if (dot == std::string::npos) continue;
        const Field* via = e.field(first);
        if (!via) continue;
        std::string rest = path.substr(dot + 1);
        if (via->type == FieldType::kMany2one) {
          triggers_[via->target].push_back({&e, &f, Kind::kMany2one, via, rest});
        } else if (via->type == FieldType::kOne2many) {
          triggers_[via->target].push_back({&e, &f, Kind::kOne2many, via, rest});
          // Moving a record to another parent (or creating, deleting it) changes both parents.
          triggers_[via->target].push_back({&e, &f, Kind::kOne2many, via, via->inverse});
        }
      }
    }
  }
}

void StoredComputed::collect(db::Connection& conn, const Entity& e,
                             const std::vector<std::int64_t>& ids,
                             const std::set<std::string>* changed, bool deleted,
                             Pending& out) const {
  auto it = triggers_.find(e.name);
  if (it == triggers_.end() || ids.empty()) return;
  if (!changed && !deleted) {  // a create: the record's own fields
    if (auto own = own_.find(e.name); own != own_.end())
      for (const auto* f : own->second)
        out[{&e, f}].insert(ids.begin(), ids.end());
  }
  std::string id_list = id_array(ids);
  for (const auto& t : it->second) {
    if (changed && !changed->count(t.changed)) continue;
    auto& targets = out[{t.target, t.field}];
    switch (t.kind) {
      case Kind::kSelf:
        if (!deleted) targets.insert(ids.begin(), ids.end());
        break;
      case Kind::kOne2many: {
        // The parents the records belong to (by the one2many's inverse many2one).
        auto r = conn.exec("SELECT DISTINCT " + db::quote_ident(t.via->inverse) + " FROM " +
                               db::quote_ident(e.table) + " WHERE id = ANY($1::bigint[])",
                           db::Params().add(id_list));
        for (auto id : ids_of(r))
          targets.insert(id);
        break;
      }
      case Kind::kMany2one: {
        // The records pointing at them.
        auto r = conn.exec("SELECT id FROM " + db::quote_ident(t.target->table) + " WHERE " +
                               db::quote_ident(t.via->name) + " = ANY($1::bigint[])",
                           db::Params().add(id_list));
        for (auto id : ids_of(r))
          targets.insert(id);
        break;
      }
    }
  }
}

StoredComputed::Pending StoredComputed::before(db::Connection& conn, const Entity& e,
                                               std::int64_t id,
                                               const std::set<std::string>* changed) const {
  Pending out;
  auto it = triggers_.find(e.name);
  if (it == triggers_.end()) return out;
  // Only what the stored rows say before the write: the old parents, the records pointing here.
  std::set<std::string> relevant;
  for (const auto& t : it->second)
    if (t.kind != Kind::kSelf && (!changed || changed->count(t.changed)))
      relevant.insert(t.changed);
  if (relevant.empty()) return out;
  collect(conn, e, {id}, &relevant, true, out);
  return out;
}

void StoredComputed::after(db::Connection& conn, const RecordService& service, const Entity& e,
                           std::int64_t id, const std::set<std::string>* changed, bool deleted,
                           Pending pending) const {
  if (!deleted) collect(conn, e, {id}, changed, false, pending);
  recompute(conn, service, std::move(pending), 0);
}

void StoredComputed::recompute(db::Connection& conn, const RecordService& service, Pending pending,
                               int depth) const {
  if (depth > kMaxDepth)
    throw Error("records.compute_cycle", "stored computed fields recompute each other without end",
                "check the `depends` of the stored computed fields for a cycle");
  SecurityContext system = SecurityContext::system();
  CallSite site{conn, system, service};
  for (auto& [key, id_set] : pending) {
    if (id_set.empty()) continue;
    const auto& [e, f] = key;
    std::vector<std::int64_t> all(id_set.begin(), id_set.end());
    Pending next;
    for (size_t from = 0; from < all.size(); from += kBatch) {
      std::vector<std::int64_t> ids(
          all.begin() + static_cast<std::ptrdiff_t>(from),
          all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + kBatch)));
      auto values = extensions_->compute(site, e->name, f->name, ids);
      // The values as PostgreSQL reads them, checked like a write of the field.
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
      w.StartArray();
      for (size_t i = 0; i < ids.size(); ++i) {
        rapidjson::Document v;
        std::string error;
        std::optional<std::string> text;
        if (json::try_parse(v, values[i], json::limits().value_depth).ok) {
          if (v.IsNull()) {
            w.Null();
            continue;
          }
          text = to_sql_text(*f, v, ValueCheck::kFull, error, values[i]);
        } else {
          error = "is not JSON";
        }
        if (!text)
          throw Error("native.bad_value", "the stored computed field " + e->name + "." + f->name +
                                              " of record " + std::to_string(ids[i]) + " " + error +
                                              ": " + values[i]);
        w.String(text->c_str(), static_cast<rapidjson::SizeType>(text->size()));
      }
      w.EndArray();
      std::string value =
          f->type == FieldType::kBinary ? "decode(v.val, 'base64')" : "v.val::" + param_type(*f);
      conn.exec("UPDATE " + db::quote_ident(e->table) + " t SET " + db::quote_ident(f->name) +
                    " = " + value +
                    " FROM (SELECT unnest($1::bigint[]) AS id, "
                    "jsonb_array_elements_text($2::jsonb) AS val) v WHERE t.id = v.id",
                db::Params()
                    .add(id_array(ids))
                    .add(std::string_view(buffer.GetString(), buffer.GetSize())));
      std::set<std::string> written = {f->name};
      collect(conn, *e, ids, &written, false, next);
    }
    recompute(conn, service, std::move(next), depth + 1);
  }
}

void StoredComputed::fill_missing(db::Connection& conn, const RecordService& service) const {
  for (const auto& [entity, fields] : own_) {
    const Entity* e = registry_.entity(entity);
    for (const auto* f : fields) {
      auto r = conn.exec("SELECT id FROM " + db::quote_ident(e->table) + " WHERE " +
                         db::quote_ident(f->name) + " IS NULL ORDER BY id");
      Pending pending;
      for (auto id : ids_of(r))
        pending[{e, f}].insert(id);
      recompute(conn, service, std::move(pending), 0);
    }
  }
}

}  // namespace keel::records
