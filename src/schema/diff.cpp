#include "schema/diff.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "db/connection.hpp"
#include "schema/field_traits.hpp"

namespace keel::schema {

using db::quote_ident;
using db::quote_literal;

namespace {

// PostgreSQL's limit on identifiers (NAMEDATALEN - 1).
constexpr size_t kMaxIdentifier = 63;

std::string hex8(const std::string& text) {
  // FNV-1a: a short, stable fingerprint for names and option lists.
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text)
    h = (h ^ c) * 16777619u;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

// A name for (table, column, suffix) that differs from object_name(): a fingerprint of the
// table and column keeps it apart from the natural name another pair would produce.
std::string hashed_name(const std::string& table, const std::string& column,
                        const std::string& suffix) {
  std::string head = table + "_" + column;
  head = head.substr(0, std::min(head.size(), kMaxIdentifier - 10 - suffix.size() - 1));
  return head + "_" + hex8(table + "." + column) + "_" + suffix;
}

// Every CHECK of a selection is named check_prefix() followed by 6 hex digits of its options,
// so that the CHECK of an older list of options is found (and of no other field).
std::string check_prefix(const std::string& table, const std::string& column) {
  std::string base = table + "_" + column + "_check_";
  if (base.size() + 6 <= kMaxIdentifier) return base;
  return base.substr(0, kMaxIdentifier - 6 - 10) + "_" + hex8(table + "." + column) + "_";
}

bool is_selection_check(const std::string& name, const std::string& definition,
                        const std::string& prefix) {
  return name.size() == prefix.size() + 6 && name.compare(0, prefix.size(), prefix) == 0 &&
         std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }) &&
         definition.rfind("CHECK", 0) == 0;
}

// Whether a foreign key's pg_get_constraintdef() refers to `table`'s id.
bool references(const std::string& definition, const std::string& table) {
  return definition.find("REFERENCES " + table + "(id)") != std::string::npos ||
         definition.find("REFERENCES " + quote_ident(table) + "(id)") != std::string::npos;
}

std::string on_delete_sql(OnDelete od) {
  switch (od) {
    case OnDelete::kCascade:
      return "CASCADE";
    case OnDelete::kSetNull:
      return "SET NULL";
    case OnDelete::kRestrict:
      break;
  }
  return "RESTRICT";
}

// The DEFAULT expression of a field, "" when it has none.
std::string default_sql(const Field& f) {
  if (!f.default_value) return "";
  const std::string& v = *f.default_value;
  switch (f.type) {
    case FieldType::kDate:
      return v == "today" ? "CURRENT_DATE" : quote_literal(v) + "::date";
    case FieldType::kDatetime:
      return v == "now" ? "now()" : quote_literal(v) + "::timestamp with time zone";
    case FieldType::kInteger:
    case FieldType::kBigint:
    case FieldType::kMany2one:
    case FieldType::kDecimal:
      return v;  // validated as a number by the registry
    case FieldType::kBoolean:
      return v == "true" || v == "True" || v == "TRUE" ? "true" : "false";
    case FieldType::kFloat:
      return quote_literal(v) + "::double precision";
    case FieldType::kJson:
      return quote_literal(v) + "::jsonb";
    case FieldType::kString:
    case FieldType::kEmail:
      // cast to the column's own type (text for a string without max_length)
      return quote_literal(v) + (sql_type(f) == "text" ? "::text" : "::character varying");
    default:
      return quote_literal(v) + "::text";
  }
}

// A default expression as compared: PostgreSQL prints defaults its own way (casts added,
// '5'::bigint, 'a'::character varying; parentheses; negative numbers quoted, '-5'::integer).
// Casts and parentheses outside quoted literals are removed, and a lone literal is unquoted.
std::string normalize_default(const std::string& expr) {
  std::string out;
  size_t i = 0;
  while (i < expr.size()) {
    char c = expr[i];
    if (c == '\'') {  // a literal, kept as is ('' inside it is a quote)
      size_t j = i + 1;
      while (j < expr.size() && !(expr[j] == '\'' && (j + 1 >= expr.size() || expr[j + 1] != '\'')))
        j += expr[j] == '\'' ? 2 : 1;
      out.append(expr, i, j + 1 - i);
      i = j + 1;
    } else if (c == ':' && i + 1 < expr.size() && expr[i + 1] == ':') {  // ::type name[(n,m)]
      i += 2;
      while (i < expr.size() && (std::islower(static_cast<unsigned char>(expr[i])) ||
                                 expr[i] == ' ' || expr[i] == '_'))
        ++i;
      if (i < expr.size() && expr[i] == '(') {
        size_t close = expr.find(')', i);
        if (close != std::string::npos && expr.find_first_not_of("0123456789,", i + 1) == close)
          i = close + 1;
      }
    } else {
      if (c != '(' && c != ')') out += c;
      ++i;
    }
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (out.size() >= 2 && out.front() == '\'' && out.back() == '\'') {
    std::string inner = out.substr(1, out.size() - 2), text;
    bool lone = true;
    for (size_t k = 0; k < inner.size(); ++k) {
      if (inner[k] == '\'') {
        if (k + 1 < inner.size() && inner[k + 1] == '\'') {
          text += '\'';
          ++k;
          continue;
        }
        lone = false;  // several literals: keep the text as it is
        break;
      }
      text += inner[k];
    }
    if (lone) return text;
  }
  return out;
}

// Whether PostgreSQL's printed default is ours.
bool same_default(const std::string& live, const std::string& wanted) {
  return live == wanted || normalize_default(live) == normalize_default(wanted);
}

// Whether changing a column from `from` to `to` keeps every value (safe widenings only).
bool safe_cast(const std::string& from, const std::string& to) {
  static const std::regex varchar(R"(character varying\((\d+)\))");
  static const std::regex numeric(R"(numeric\((\d+),(\d+)\))");
  std::smatch a, b;
  if (std::regex_match(from, a, varchar)) {
    if (to == "text") return true;
    if (std::regex_match(to, b, varchar)) return std::stoi(b[1]) >= std::stoi(a[1]);
  }
  if (from == "integer" && to == "bigint") return true;
  if (std::regex_match(from, a, numeric)) {
    if (to == "numeric") return true;
    if (std::regex_match(to, b, numeric)) {
      int p1 = std::stoi(a[1]), s1 = std::stoi(a[2]), p2 = std::stoi(b[1]), s2 = std::stoi(b[2]);
      return s2 >= s1 && (p2 - s2) >= (p1 - s1);
    }
  }
  if ((from == "integer" || from == "bigint") && to == "numeric") return true;
  return false;
}

// The module whose attribute gives a column its type (max_length, precision...).
const std::string& type_owner(const Field& f) {
  if (f.type == FieldType::kString) return f.module_of("max_length");
  if (f.type == FieldType::kDecimal)
    return f.set_by.count("precision") ? f.module_of("precision") : f.module_of("scale");
  return f.module;
}

std::string natural_link_table(const std::string& table, const std::string& field) {
  std::string name = table + "_" + field + "_rel";
  if (name.size() > kMaxIdentifier) name = name.substr(0, 54) + "_" + hex8(name);
  return name;
}

class Planner {
 public:
  Planner(const Registry& registry, const db::LiveSchema& live)
      : registry_(registry), live_(live) {}

  std::vector<Statement> run() {
    claim_names();
    for (const auto& e : registry_.entities())
      tables(e);
    for (const auto& e : registry_.entities())
      columns(e);
    for (const auto& e : registry_.entities())
      constraints(e);
    for (const auto& e : registry_.entities())
      foreign_keys(e);
    for (const auto& e : registry_.entities())
      indexes(e);
    for (const auto& e : registry_.entities())
      link_tables(e);
    throw_if_errors(diagnostics_, "schema.unsafe_change",
                    "the schema change would lose data and needs an explicit migration");
    return std::move(out_);
  }

 private:
  const db::LiveTable* live_table(const std::string& name) const {
    auto it = live_.tables.find(name);
    return it == live_.tables.end() ? nullptr : &it->second;
  }

  // A statement; `kind` empty when it changes an existing object instead of creating one.
  // `owner` owns the created object (the module the statement runs for by default).
  void emit(std::string sql, const std::string& module, std::string kind, std::string table,
            std::string object, std::string check_sql = {}, std::string check_message = {},
            const std::string& owner = {}) {
    Statement st{std::move(sql), module, {}, std::move(check_sql), std::move(check_message)};
    if (!kind.empty())
      st.creates.push_back(
          {std::move(kind), std::move(table), std::move(object), owner.empty() ? module : owner});
    out_.push_back(std::move(st));
  }

  // Indexes (a unique constraint is one too) and link tables are relations: their names are
  // unique in the whole schema, not per table, and "sale" + "order_date" gives the same
  // "sale_order_date_idx" as "sale_order" + "date". Records which (table, column) pairs, and
  // which entity tables, want each natural name.
  void claim_names() {
    for (const auto& e : registry_.entities()) {
      claims_[e.table].insert(e.table);
      for (const auto& f : e.fields) {
        std::string who = e.table + "." + f.name;
        if (f.type == FieldType::kMany2many)
          claims_[natural_link_table(e.table, f.name)].insert(who);
        if (!f.has_column()) continue;
        if (f.unique)
          claims_[object_name(e.table, f.name, "key")].insert(who);
        else if (f.index)
          claims_[object_name(e.table, f.name, "idx")].insert(who);
      }
    }
  }

  // Whether `name` is wanted by more than one pair or table, or held in the database by a
  // table, or by an index of another table than `table`.
  bool contested(const std::string& name, const std::string& table) const {
    if (auto it = claims_.find(name); it != claims_.end() && it->second.size() > 1) return true;
    if (live_.tables.count(name)) return true;
    for (const auto& [t, live] : live_.tables)
      if (t != table && live.indexes.count(name)) return true;
    return false;
  }

  // The name of the unique constraint or index (`suffix` "key" or "idx") of table.column: the
  // natural name unless another object holds or wants it. A name the table already has is
  // kept, so that a name never changes once created.
  std::string relation_name(const std::string& table, const std::string& column,
                            const std::string& suffix) const {
    std::string natural = object_name(table, column, suffix);
    std::string hashed = hashed_name(table, column, suffix);
    if (const db::LiveTable* live = live_table(table)) {
      for (const auto& name : {natural, hashed})
        if (live->indexes.count(name) || live->constraints.count(name)) return name;
    }
    return contested(natural, table) ? hashed : natural;
  }

  // Whether the live `link` table is the link table of `table`: its source_id refers to it.
  bool links_from(const db::LiveTable& link, const std::string& table) const {
    for (const auto& [name, definition] : link.constraints)
      if (definition.rfind("FOREIGN KEY (source_id)", 0) == 0 && references(definition, table))
        return true;
    return false;
  }

  std::string link_table_name(const std::string& table, const std::string& field) const {
    std::string natural = natural_link_table(table, field);
    std::string hashed = hashed_name(table, field, "rel");
    if (const db::LiveTable* live = live_table(natural)) {
      auto it = claims_.find(natural);
      bool shared = it != claims_.end() && it->second.size() > 1;
      if (!shared || links_from(*live, table)) return natural;
    }
    if (live_table(hashed)) return hashed;
    bool taken = live_table(natural) != nullptr;
    return taken || contested(natural, "") ? hashed : natural;
  }

  void tables(const Entity& e) {
    if (live_table(e.table)) return;
    std::string sql = "CREATE TABLE " + quote_ident(e.table) +
                      " (\n  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
                      "  created_at timestamp with time zone NOT NULL DEFAULT now(),\n"
                      "  updated_at timestamp with time zone NOT NULL DEFAULT now(),\n"
                      "  created_by bigint,\n  updated_by bigint";
    for (const auto& f : e.fields) {
      if (!f.has_column()) continue;
      sql += ",\n  " + quote_ident(f.name) + " " + sql_type(f);
      if (f.required) sql += " NOT NULL";
      if (auto d = default_sql(f); !d.empty()) sql += " DEFAULT " + d;
    }
    sql += "\n)";
    emit(std::move(sql), e.module, "table", e.table, e.table);
    // Columns created with the table belong to their fields' modules.
    for (const auto& f : e.fields)
      if (f.has_column()) out_.back().creates.push_back({"column", e.table, f.name, f.module});
  }

  void columns(const Entity& e) {
    const db::LiveTable* live = live_table(e.table);
    if (!live) return;
    for (const auto& f : e.fields) {
      if (!f.has_column()) continue;
      std::string type = sql_type(f);
      std::string def = default_sql(f);
      std::string qt = quote_ident(e.table), qc = quote_ident(f.name);
      std::string alter = "ALTER TABLE " + qt + " ALTER COLUMN " + qc;
      auto it = live->columns.find(f.name);
      if (it == live->columns.end()) {
        std::string sql = "ALTER TABLE " + qt + " ADD COLUMN " + qc + " " + type;
        if (!def.empty()) sql += " DEFAULT " + def;
        if (f.required) sql += " NOT NULL";
        std::string check, message;
        if (f.required && def.empty()) {
          check = "SELECT count(*) FROM " + qt;
          message = "cannot add required column " + e.table + "." + f.name +
                    " without a default: the table has {} rows";
        }
        emit(std::move(sql), f.module, "column", e.table, f.name, check, message);
        continue;
      }
      const db::LiveColumn& col = it->second;
      if (col.type != type) {
        if (safe_cast(col.type, type)) {
          emit(alter + " TYPE " + type, type_owner(f), "", e.table, f.name);
        } else {
          diagnostics_.error(f.location,
                             "changing " + e.table + "." + f.name + " from " + col.type + " to " +
                                 type + " could lose data",
                             "write a migration (migrations/<version>/pre.sql) that converts "
                             "the column, or keep the old type");
        }
      }
      // Defaults and NOT NULL follow the entity both ways: loosening loses no data.
      if (!def.empty() && !same_default(col.default_expr, def))
        emit(alter + " SET DEFAULT " + def, f.module_of("default"), "", e.table, f.name);
      else if (def.empty() && !col.default_expr.empty())
        emit(alter + " DROP DEFAULT", f.module_of("default"), "", e.table, f.name);
      if (f.required && !col.not_null)
        emit(alter + " SET NOT NULL", f.module_of("required"), "", e.table, f.name,
             "SELECT count(*) FROM " + qt + " WHERE " + qc + " IS NULL",
             "cannot make " + e.table + "." + f.name + " required: {} rows have no value");
      else if (!f.required && col.not_null)
        emit(alter + " DROP NOT NULL", f.module_of("required"), "", e.table, f.name);
    }
  }

  void constraints(const Entity& e) {
    const db::LiveTable* live = live_table(e.table);
    std::string qt = quote_ident(e.table);
    for (const auto& f : e.fields) {
      if (!f.has_column()) continue;
      if (f.type == FieldType::kSelection) {
        std::string options;
        for (const auto& o : f.options)
          options += o + '\n';
        std::string prefix = check_prefix(e.table, f.name);
        std::string name = prefix + hex8(options).substr(0, 6);
        const std::string& owner = f.module_of("options");
        if (!live || !live->constraints.count(name)) {
          // A changed list of options replaces the previous CHECK (the new one validates
          // existing rows when it is added).
          if (live)
            for (const auto& [cname, definition] : live->constraints)
              if (is_selection_check(cname, definition, prefix))
                emit("ALTER TABLE " + qt + " DROP CONSTRAINT " + quote_ident(cname), owner, "",
                     e.table, cname);
          std::string list;
          for (const auto& o : f.options)
            list += (list.empty() ? "" : ", ") + quote_literal(o);
          emit("ALTER TABLE " + qt + " ADD CONSTRAINT " + quote_ident(name) + " CHECK (" +
                   quote_ident(f.name) + " IN (" + list + "))",
               owner, "constraint", e.table, name);
        }
      }
      if (f.unique) {
        std::string name = relation_name(e.table, f.name, "key");
        if (!live || !live->constraints.count(name))
          emit("ALTER TABLE " + qt + " ADD CONSTRAINT " + quote_ident(name) + " UNIQUE (" +
                   quote_ident(f.name) + ")",
               f.module_of("unique"), "constraint", e.table, name,
               "SELECT count(*) FROM (SELECT 1 FROM " + qt + " WHERE " + quote_ident(f.name) +
                   " IS NOT NULL GROUP BY " + quote_ident(f.name) + " HAVING count(*) > 1) d",
               "cannot make " + e.table + "." + f.name +
                   " unique: {} values appear more than "
                   "once");
      }
    }
  }

  void foreign_keys(const Entity& e) {
    const db::LiveTable* live = live_table(e.table);
    for (const auto& f : e.fields) {
      if (f.type != FieldType::kMany2one || !f.has_column()) continue;
      const Entity* target = registry_.entity(f.target);
      if (!target) continue;
      std::string name = object_name(e.table, f.name, "fkey");
      std::string action = on_delete_sql(f.on_delete);
      std::string qt = quote_ident(e.table);
      // The key lives as long as the column: it belongs to the field's module, whichever
      // module's on_delete it carries.
      const std::string& module = f.module_of("on_delete");
      if (live) {
        auto it = live->constraints.find(name);
        if (it != live->constraints.end()) {
          if (references(it->second, target->table) &&
              it->second.find("ON DELETE " + action) != std::string::npos)
            continue;
          emit("ALTER TABLE " + qt + " DROP CONSTRAINT " + quote_ident(name), module, "", e.table,
               name);
        }
      }
      emit("ALTER TABLE " + qt + " ADD CONSTRAINT " + quote_ident(name) + " FOREIGN KEY (" +
               quote_ident(f.name) + ") REFERENCES " + quote_ident(target->table) +
               " (id) ON DELETE " + action,
           module, "constraint", e.table, name, {}, {}, f.module);
    }
  }

  void indexes(const Entity& e) {
    const db::LiveTable* live = live_table(e.table);
    for (const auto& f : e.fields) {
      if (!f.index || !f.has_column() || f.unique) continue;  // unique already has an index
      std::string name = relation_name(e.table, f.name, "idx");
      if (live && live->indexes.count(name)) continue;
      emit("CREATE INDEX " + quote_ident(name) + " ON " + quote_ident(e.table) + " (" +
               quote_ident(f.name) + ")",
           f.module_of("index"), "index", e.table, name);
    }
  }

  void link_tables(const Entity& e) {
    for (const auto& f : e.fields) {
      if (f.type != FieldType::kMany2many) continue;
      const Entity* target = registry_.entity(f.target);
      if (!target) continue;
      std::string table = link_table_name(e.table, f.name);
      if (live_table(table)) continue;
      emit("CREATE TABLE " + quote_ident(table) + " (\n  source_id bigint NOT NULL REFERENCES " +
               quote_ident(e.table) +
               " (id) ON DELETE CASCADE,\n  target_id bigint NOT NULL "
               "REFERENCES " +
               quote_ident(target->table) +
               " (id) ON DELETE CASCADE,\n"
               "  PRIMARY KEY (source_id, target_id)\n)",
           f.module, "table", table, table);
      std::string index = object_name(table, "target_id", "idx");
      emit("CREATE INDEX " + quote_ident(index) + " ON " + quote_ident(table) + " (target_id)",
           f.module, "index", table, index);
    }
  }

  const Registry& registry_;
  const db::LiveSchema& live_;
  std::map<std::string, std::set<std::string>> claims_;  // relation name -> who wants it
  std::vector<Statement> out_;
  Diagnostics diagnostics_;
};

}  // namespace

std::string sql_type(const Field& f) {
  if (f.type == FieldType::kString && f.max_length)
    return "character varying(" + std::to_string(*f.max_length) + ")";
  if (f.type == FieldType::kDecimal && f.precision > 0)
    return "numeric(" + std::to_string(f.precision) + "," + std::to_string(f.scale) + ")";
  return std::string(traits(f.type).sql_type);
}

std::string link_table(const Registry& registry, const Entity& entity, const Field& field) {
  // The planner's claims (see Planner::claim_names) without a live schema: the natural name
  // unless an entity table or another many2many wants it too.
  std::string natural = natural_link_table(entity.table, field.name);
  for (const auto& e : registry.entities()) {
    if (e.table == natural) return hashed_name(entity.table, field.name, "rel");
    for (const auto& f : e.fields)
      if (f.type == FieldType::kMany2many && !(e.table == entity.table && f.name == field.name) &&
          natural_link_table(e.table, f.name) == natural)
        return hashed_name(entity.table, field.name, "rel");
  }
  return natural;
}

std::string object_name(const std::string& table, const std::string& column,
                        const std::string& suffix) {
  std::string name = table + "_" + column + "_" + suffix;
  if (name.size() <= 63) return name;
  return name.substr(0, 63 - 9 - suffix.size() - 1) + "_" + hex8(name) + "_" + suffix;
}

}  // namespace keel::schema

namespace keel::schema {

std::vector<Statement> plan_schema(const Registry& registry, const db::LiveSchema& live) {
  return Planner(registry, live).run();
}

std::vector<Statement> plan_sql_objects(const std::vector<SqlObject>& objects,
                                        const db::LiveSchema& live,
                                        const std::set<std::string>& new_tables) {
  std::vector<Statement> out;
  for (const auto& o : objects) {
    Statement st;
    st.sql = o.sql;
    st.module = o.module;
    if (o.kind == "function") {
      auto it = live.functions.find(o.name);
      if (it != live.functions.end() && it->second == o.body) continue;
      if (it == live.functions.end()) st.creates.push_back({o.kind, o.table, o.name, o.module});
    } else {
      auto table = live.tables.find(o.table);
      bool exists = table != live.tables.end();
      if (exists && table->second.triggers.count(o.name)) continue;
      if (!exists && !new_tables.count(o.table)) continue;  // its table is not there
      st.creates.push_back({o.kind, o.table, o.name, o.module});
    }
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace keel::schema
