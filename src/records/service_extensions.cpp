// RecordService's public operations: the stored ones (service.cpp) with what native modules
// add around them (records/extensions.hpp): record hooks inside the write's transaction, and
// computed fields, one call per page of records.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <set>
#include <string>

#include "app/error.hpp"
#include "app/json.hpp"
#include "db/connection.hpp"
#include "query/filter.hpp"
#include "records/extensions.hpp"
#include "records/service.hpp"
#include "records/stored.hpp"
#include "records/transaction.hpp"
#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::records {

using query::field_visible;

namespace {

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// The fields of a request that native code computes, and the rest, for the SELECT.
struct Split {
  std::optional<std::string> fields;  // what service.cpp reads from the table
  std::vector<std::string> computed;  // what native code adds
};

Split split_computed(const Extensions& ext, const schema::Entity& e, const SecurityContext& ctx,
                     const std::optional<std::string>& fields) {
  Split out{fields, {}};
  if (!fields || trim(*fields).empty()) {
    for (const auto& f : e.fields)
      if (!f.has_column() && ext.computes(e.name, f.name) && field_visible(f, ctx))
        out.computed.push_back(f.name);
    return out;
  }
  std::string rest;
  std::string_view list = *fields;
  while (true) {
    size_t comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    const schema::Field* f = e.field(item);
    if (f && !f->has_column() && ext.computes(e.name, item) && field_visible(*f, ctx)) {
      out.computed.emplace_back(item);
    } else {
      rest += (rest.empty() ? "" : ",") + std::string(item);
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (!out.computed.empty()) out.fields = rest.empty() ? "id" : rest;
  return out;
}

using Op = security::Operation;

// Whether the caller's roles grant `op` on the entity at all (the stored operation answers 403
// otherwise, before any module code runs).
bool may(const security::Policy& policy, const SecurityContext& ctx, const schema::Entity& e,
         Op op) {
  return policy.allowed(ctx, e.name, op);
}

enum class Shape { kPage, kRecord, kWritten };

// Adds the computed fields to a record, or to every record of a page ({"data": [...]}): one
// call of each computation for all of them. A written record that came back as {"id": N}
// alone is one the caller may not read: nothing is added.
std::string add_computed(const CallSite& site, const Extensions& ext, const schema::Entity& e,
                         const std::vector<std::string>& names, const std::string& json,
                         Shape shape) {
  rapidjson::Document doc;
  if (!json::try_parse(doc, json, json::limits().value_depth + json::kEnvelopeDepth).ok ||
      !doc.IsObject())
    return json;
  std::vector<rapidjson::Value*> records;
  if (shape == Shape::kPage) {
    for (auto& r : doc["data"].GetArray())
      records.push_back(&r);
  } else if (shape == Shape::kRecord || doc.MemberCount() > 1) {
    records.push_back(&doc);
  }
  if (records.empty()) return json;
  std::vector<std::int64_t> ids;
  for (auto* r : records)
    ids.push_back((*r)["id"].GetInt64());
  auto& alloc = doc.GetAllocator();
  for (const auto& name : names) {
    auto values = ext.compute(site, e.name, name, ids);
    for (size_t i = 0; i < records.size(); ++i) {
      rapidjson::Document value(&alloc);
      if (!json::try_parse(value, values[i], json::limits().value_depth).ok)
        throw Error("native.bad_value",
                    "the computed field " + e.name + "." + name +
                        " gave a value that is not JSON within the limits",
                    "a computation must give JSON nested at most limits.json_value_depth deep");
      rapidjson::Value key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()), alloc);
      records[i]->AddMember(key, rapidjson::Value(value, alloc), alloc);
    }
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  doc.Accept(w);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The top-level member names of a JSON object body (the fields a write sets).
std::set<std::string> members_of(std::string_view body) {
  std::set<std::string> out;
  rapidjson::Document doc;
  if (json::try_parse(doc, body, json::limits().value_depth + json::kEnvelopeDepth).ok &&
      doc.IsObject())
    for (const auto& m : doc.GetObject())
      out.emplace(m.name.GetString(), m.name.GetStringLength());
  return out;
}

}  // namespace

void RecordService::fill_stored_computed(db::Connection& conn) const {
  atomically(conn, [&] {
    stored_->fill_missing(conn, *this);
    return 0;
  });
}

JsonResult RecordService::list(db::Connection& conn, const SecurityContext& ctx,
                               std::string_view entity_name, const ListRequest& request) const {
  const schema::Entity* e = registry_->entity(entity_name);
  if (!extensions_ || !e) return list_stored(conn, ctx, entity_name, request);
  Split split = split_computed(*extensions_, *e, ctx, request.fields);
  if (split.computed.empty()) return list_stored(conn, ctx, entity_name, request);
  ListRequest stored = request;
  stored.fields = split.fields;
  JsonResult result = list_stored(conn, ctx, entity_name, stored);
  result.json =
      add_computed({conn, ctx, *this}, *extensions_, *e, split.computed, result.json, Shape::kPage);
  return result;
}

JsonResult RecordService::read(db::Connection& conn, const SecurityContext& ctx,
                               std::string_view entity_name, std::int64_t id,
                               const std::optional<std::string>& fields) const {
  const schema::Entity* e = registry_->entity(entity_name);
  if (!extensions_ || !e) return read_stored(conn, ctx, entity_name, id, fields);
  Split split = split_computed(*extensions_, *e, ctx, fields);
  JsonResult result = read_stored(conn, ctx, entity_name, id, split.fields);
  if (!split.computed.empty())
    result.json = add_computed({conn, ctx, *this}, *extensions_, *e, split.computed, result.json,
                               Shape::kRecord);
  return result;
}

JsonResult RecordService::create(db::Connection& conn, const SecurityContext& ctx,
                                 std::string_view entity_name, std::string_view body) const {
  const schema::Entity* e = registry_->entity(entity_name);
  if (!extensions_ || !e) return create_stored(conn, ctx, entity_name, body);
  CallSite site{conn, ctx, *this};
  Split split = split_computed(*extensions_, *e, ctx, std::nullopt);
  // No module code runs for a caller who may not create at all: the stored operation says 403.
  if ((!extensions_->has_hooks(e->name) && split.computed.empty() &&
       !stored_->affected_by(e->name)) ||
      !may(*policy_, ctx, *e, Op::kCreate))
    return create_stored(conn, ctx, entity_name, body);
  return atomically(conn, [&] {
    std::string written = extensions_->before_write(site, e->name, 0, {}, body);
    JsonResult result = create_stored(conn, ctx, entity_name, written);
    extensions_->after_write(site, e->name, result.id, true, result.json);
    if (stored_->affected_by(e->name)) {
      stored_->after(conn, *this, *e, result.id, nullptr, false, {});
      if (stored_->has_own(e->name)) {
        // Again, with the values just computed (unless the caller may not read it).
        try {
          result.json = read_stored(conn, ctx, entity_name, result.id, std::nullopt).json;
        } catch (const ApiError&) {
        }
      }
    }
    if (!split.computed.empty())
      result.json =
          add_computed(site, *extensions_, *e, split.computed, result.json, Shape::kWritten);
    return result;
  });
}

JsonResult RecordService::update(db::Connection& conn, const SecurityContext& ctx,
                                 std::string_view entity_name, std::int64_t id,
                                 std::string_view body) const {
  const schema::Entity* e = registry_->entity(entity_name);
  if (!extensions_ || !e) return update_stored(conn, ctx, entity_name, id, body);
  CallSite site{conn, ctx, *this};
  Split split = split_computed(*extensions_, *e, ctx, std::nullopt);
  if ((!extensions_->has_hooks(e->name) && split.computed.empty() &&
       !stored_->affected_by(e->name)) ||
      !may(*policy_, ctx, *e, Op::kUpdate))
    return update_stored(conn, ctx, entity_name, id, body);
  return atomically(conn, [&] {
    std::string written(body);
    if (extensions_->has_hooks(e->name)) {
      // The record before, as the caller may read it (a 404 when it may not).
      std::string old = read_stored(conn, ctx, entity_name, id, std::nullopt).json;
      written = extensions_->before_write(site, e->name, id, old, body);
    }
    std::set<std::string> changed;
    StoredComputed::Pending pending;
    if (stored_->affected_by(e->name)) {
      changed = members_of(written);
      pending = stored_->before(conn, *e, id, &changed);
    }
    JsonResult result = update_stored(conn, ctx, entity_name, id, written);
    extensions_->after_write(site, e->name, id, false, result.json);
    if (stored_->affected_by(e->name)) {
      stored_->after(conn, *this, *e, id, &changed, false, std::move(pending));
      if (stored_->has_own(e->name)) {
        // Again, with the values just computed (unless the caller may not read it).
        try {
          result.json = read_stored(conn, ctx, entity_name, id, std::nullopt).json;
        } catch (const ApiError&) {
        }
      }
    }
    if (!split.computed.empty())
      result.json =
          add_computed(site, *extensions_, *e, split.computed, result.json, Shape::kWritten);
    return result;
  });
}

void RecordService::remove(db::Connection& conn, const SecurityContext& ctx,
                           std::string_view entity_name, std::int64_t id) const {
  const schema::Entity* e = registry_->entity(entity_name);
  if (!extensions_ || !e || (!extensions_->has_hooks(e->name) && !stored_->affected_by(e->name)) ||
      !may(*policy_, ctx, *e, Op::kDelete))
    return remove_stored(conn, ctx, entity_name, id);
  CallSite site{conn, ctx, *this};
  atomically(conn, [&] {
    bool hooks = extensions_->has_hooks(e->name);
    std::string old;
    if (hooks) {
      old = read_stored(conn, ctx, entity_name, id, std::nullopt).json;
      extensions_->before_delete(site, e->name, id, old);
    }
    auto pending = stored_->before(conn, *e, id, nullptr);
    remove_stored(conn, ctx, entity_name, id);
    if (hooks) extensions_->after_delete(site, e->name, id, old);
    stored_->after(conn, *this, *e, id, nullptr, true, std::move(pending));
    return 0;
  });
}

}  // namespace keel::records
