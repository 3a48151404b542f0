#include "query/filter.hpp"

#include <algorithm>

#include "app/error.hpp"
#include "app/json.hpp"
#include "query/values.hpp"
#include "schema/field_traits.hpp"

namespace keel::query {

using schema::Entity;
using schema::Field;
using schema::FieldType;

namespace {

// Nesting of and/or/not a filter may use.
constexpr int kMaxDepth = 32;
// many2one fields one path may follow ("a.b.c" follows two).
constexpr int kMaxPathHops = 16;
// Parameters one statement may bind (PostgreSQL's protocol allows 65535).
constexpr std::size_t kMaxParameters = 65535;

const std::vector<Field>& implicit_fields() {
  static const std::vector<Field> fields = [] {
    std::vector<Field> out;
    auto add = [&](const char* name, FieldType type) {
      Field f;
      f.name = name;
      f.type = type;
      f.readonly = true;
      out.push_back(std::move(f));
    };
    add("id", FieldType::kBigint);
    add("created_at", FieldType::kDatetime);
    add("updated_at", FieldType::kDatetime);
    add("created_by", FieldType::kBigint);
    add("updated_by", FieldType::kBigint);
    return out;
  }();
  return fields;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A name from a request, shown in an error message: printable ASCII, at most 64 characters.
std::string shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

[[noreturn]] void bad(std::string_view what, std::string message, std::string hint = {}) {
  throw ApiError(ErrorKind::kBadInput, "records.bad_" + std::string(what), std::move(message),
                 std::move(hint));
}

std::string array_element(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

bool integral(const Field& f) {
  return schema::traits(f.type).integral;
}

bool temporal(const Field& f) {
  return schema::traits(f.type).temporal;
}

class FilterCompiler {
 public:
  explicit FilterCompiler(QueryScope& scope) : scope_(scope) {}

  std::string node(const rapidjson::Value& v, int depth) {
    if (depth > kMaxDepth)
      bad("filter", "filter nested deeper than " + std::to_string(kMaxDepth) + " levels");
    if (!v.IsObject())
      bad("filter", "a filter must be a JSON object such as {\"name\": {\"eq\": \"x\"}}");
    unique_keys(v, "a filter");
    std::vector<std::string> parts;
    for (const auto& m : v.GetObject()) {
      std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (key == "and" || key == "or") {
        if (!m.value.IsArray())
          bad("filter", "\"" + std::string(key) + "\" takes an array of filters");
        std::vector<std::string> items;
        for (const auto& item : m.value.GetArray())
          items.push_back(node(item, depth + 1));
        parts.push_back(join(items, key == "and" ? " AND " : " OR ", key == "and"));
      } else if (key == "not") {
        if (!m.value.IsObject()) bad("filter", "\"not\" takes a filter object");
        parts.push_back("NOT coalesce(" + node(m.value, depth + 1) + ", false)");
      } else {
        parts.push_back(field(key, m.value));
      }
    }
    return join(parts, " AND ", true);
  }

 private:
  // A key given twice in one object would be ambiguous (JSON readers keep the first, the last or
  // both): refused.
  static void unique_keys(const rapidjson::Value& object, const std::string& where) {
    std::vector<std::string_view> keys;
    keys.reserve(object.MemberCount());
    for (const auto& m : object.GetObject())
      keys.emplace_back(m.name.GetString(), m.name.GetStringLength());
    std::sort(keys.begin(), keys.end());
    auto twice = std::adjacent_find(keys.begin(), keys.end());
    if (twice != keys.end())
      bad("filter", "key \"" + shown(*twice) + "\" is given twice in " + where,
          "combine the conditions with {\"and\": [...]}");
  }

  static std::string join(const std::vector<std::string>& parts, const char* op, bool all) {
    if (parts.empty()) return all ? "TRUE" : "FALSE";
    if (parts.size() == 1) return parts[0];
    std::string out = "(";
    for (size_t i = 0; i < parts.size(); ++i)
      out += (i ? op : "") + parts[i];
    return out + ")";
  }

  std::string field(std::string_view path, const rapidjson::Value& v) {
    QueryScope::Column c = scope_.resolve(path, "filter");
    const Field& f = *c.field;
    if (schema::traits(f.type).filter == schema::FilterOperators::kNone)
      bad("filter",
          "\"" + std::string(path) + "\" is a " + std::string(to_string(f.type)) +
              ": filters on one2many and many2many fields are not supported yet",
          "filter the target entity on its many2one instead");
    if (!f.has_column())
      bad("filter", "\"" + std::string(path) +
                        "\" is computed and not stored: it cannot be "
                        "filtered on");
    if (!v.IsObject()) return op(c, path, "eq", v);
    if (v.MemberCount() == 0)
      bad("filter", "no operator for \"" + std::string(path) + "\"",
          "write {\"" + std::string(path) + "\": {\"eq\": value}}");
    unique_keys(v, "the operators of \"" + shown(path) + "\"");
    std::vector<std::string> parts;
    for (const auto& m : v.GetObject())
      parts.push_back(
          op(c, path, std::string_view(m.name.GetString(), m.name.GetStringLength()), m.value));
    return join(parts, " AND ", true);
  }

  [[noreturn]] void bad_value(std::string_view path, std::string_view op,
                              const std::string& message) {
    bad("filter",
        "invalid value for \"" + std::string(path) + "\" " + std::string(op) + ": " + message);
  }

  std::string op(const QueryScope::Column& c, std::string_view path, std::string_view op,
                 const rapidjson::Value& v) {
    const Field& f = *c.field;
    static const std::vector<std::string_view> kOps = {"eq", "ne",  "lt",   "lte",   "gt",  "gte",
                                                       "in", "nin", "like", "ilike", "null"};
    if (std::find(kOps.begin(), kOps.end(), op) == kOps.end()) {
      std::string hint = "operators: eq ne lt lte gt gte in nin like ilike null";
      if (auto near = closest_match(op, kOps))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      bad("filter", "unknown operator \"" + shown(op) + "\" for \"" + std::string(path) + "\"",
          hint);
    }
    if (op == "null") {
      if (!v.IsBool()) bad_value(path, op, "null takes true or false");
      return c.sql + (v.GetBool() ? " IS NULL" : " IS NOT NULL");
    }
    const auto ops = schema::traits(f.type).filter;
    bool json = ops == schema::FilterOperators::kEquality,
         binary = ops == schema::FilterOperators::kNullOnly;
    if (binary || (json && op != "eq" && op != "ne"))
      bad("filter",
          "operator \"" + std::string(op) + "\" does not apply to " +
              std::string(to_string(f.type)) + " field \"" + std::string(path) + "\"",
          binary ? "binary fields can only be tested with null"
                 : "json fields take eq, ne and null");
    if (op == "eq" || op == "ne") {
      if (v.IsNull()) return c.sql + (op == "eq" ? " IS NULL" : " IS NOT NULL");
      if (v.IsArray() && !json)
        bad_value(path, op, "a list needs the operator in or nin, not " + std::string(op));
      return c.sql + (op == "eq" ? " = " : " IS DISTINCT FROM ") + value(c, path, op, v);
    }
    if (op == "lt" || op == "lte" || op == "gt" || op == "gte") {
      if (v.IsNull()) bad_value(path, op, "null cannot be compared; use the null operator");
      const char* sql_op = op == "lt" ? " < " : op == "lte" ? " <= " : op == "gt" ? " > " : " >= ";
      return c.sql + sql_op + value(c, path, op, v);
    }
    if (op == "like" || op == "ilike") {
      if (!is_textual(f))
        bad("filter", "operator \"" + std::string(op) + "\" applies to text fields; \"" +
                          std::string(path) + "\" is a " + std::string(to_string(f.type)));
      if (!v.IsString()) bad_value(path, op, "the pattern must be a string");
      std::string_view pattern(v.GetString(), v.GetStringLength());
      if (pattern.find('\0') != std::string_view::npos)
        bad_value(path, op, "must not contain NUL characters");
      return c.sql + (op == "like" ? " LIKE " : " ILIKE ") +
             scope_.bind(std::string(pattern), "text");
    }
    // in, nin
    if (v.IsString() && std::string_view(v.GetString(), v.GetStringLength()) == "$user.roles") {
      // The caller's roles (implied ones included), for fields that hold role names.
      if (f.type != FieldType::kString && f.type != FieldType::kText &&
          f.type != FieldType::kSelection)
        bad_value(path, op, "$user.roles compares with string, text and selection fields");
      std::string roles = "{";
      for (const auto& role : scope_.context().roles)
        roles += (roles.size() > 1 ? "," : "") + array_element(role);
      std::string array = scope_.bind(roles + "}", "text[]");
      return op == "in" ? c.sql + "::text = ANY(" + array + ")"
                        : "(" + c.sql + " IS NULL OR " + c.sql + "::text <> ALL(" + array + "))";
    }
    if (!v.IsArray()) bad_value(path, op, std::string(op) + " takes an array of values");
    std::string list = "{";
    bool has_null = false, first = true;
    for (const auto& item : v.GetArray()) {
      if (item.IsNull()) {
        has_null = true;
        continue;
      }
      std::string text;
      if (auto var = variable(item, path, op)) {
        if (var->sql) bad_value(path, op, "$now and $today cannot appear in a list");
        if (!integral(f)) bad_value(path, op, "$user.id compares with integer and many2one fields");
        text = var->text;
      } else {
        text = literal(f, path, op, item);
      }
      list += (first ? "" : ",") + array_element(text);
      first = false;
    }
    list += "}";
    std::string array = scope_.bind(std::move(list), param_type(f) + "[]");
    if (op == "in")
      return has_null ? "(" + c.sql + " = ANY(" + array + ") OR " + c.sql + " IS NULL)"
                      : c.sql + " = ANY(" + array + ")";
    return has_null ? "(" + c.sql + " IS NOT NULL AND " + c.sql + " <> ALL(" + array + "))"
                    : "(" + c.sql + " IS NULL OR " + c.sql + " <> ALL(" + array + "))";
  }

  struct Variable {
    bool sql = false;  // now(), CURRENT_DATE: SQL text of our own
    std::string text;  // the SQL, or the value of $user.id
  };

  // The variable `v` names; nullopt when `v` is no variable ("$5" and "$$x" are strings).
  std::optional<Variable> variable(const rapidjson::Value& v, std::string_view path,
                                   std::string_view op) {
    if (!v.IsString() || v.GetStringLength() < 2 || v.GetString()[0] != '$') return std::nullopt;
    std::string_view name(v.GetString() + 1, v.GetStringLength() - 1);
    if (!(name[0] >= 'a' && name[0] <= 'z') && !(name[0] >= 'A' && name[0] <= 'Z'))
      return std::nullopt;
    if (name == "user.id") return Variable{false, std::to_string(scope_.context().user_id)};
    if (name == "now") return Variable{true, "now()"};
    if (name == "today") return Variable{true, "CURRENT_DATE"};
    bad("filter",
        "unknown variable \"$" + shown(name) + "\" in \"" + std::string(path) + "\" " +
            std::string(op),
        "variables: $user.id, $user.roles (with in and nin), $now, $today; write \"$$\" for a "
        "literal \"$\"");
  }

  // The text of a literal value; "$$x" stands for the string "$x".
  std::string literal(const Field& f, std::string_view path, std::string_view op,
                      const rapidjson::Value& v) {
    std::string error;
    std::optional<std::string> text;
    if (v.IsString() && v.GetStringLength() >= 2 && v.GetString()[0] == '$' &&
        v.GetString()[1] == '$') {
      rapidjson::Value rest(rapidjson::StringRef(v.GetString() + 1, v.GetStringLength() - 1));
      text = to_sql_text(f, rest, ValueCheck::kType, error);
    } else {
      text = to_sql_text(f, v, ValueCheck::kType, error);
    }
    if (!text) bad_value(path, op, error);
    return *text;
  }

  // The SQL of one value compared with column `c`: a variable or a bound parameter.
  std::string value(const QueryScope::Column& c, std::string_view path, std::string_view op,
                    const rapidjson::Value& v) {
    const Field& f = *c.field;
    if (auto var = variable(v, path, op)) {
      if (var->sql) {
        if (!temporal(f))
          bad_value(path, op, "$now and $today compare with date and datetime fields");
        return "CAST(" + var->text + " AS " + param_type(f) + ")";
      }
      if (!integral(f)) bad_value(path, op, "$user.id compares with integer and many2one fields");
      return scope_.bind(var->text, param_type(f));
    }
    return scope_.bind(literal(f, path, op, v), param_type(f));
  }

  QueryScope& scope_;
};

}  // namespace

const Field* find_field(const Entity& entity, std::string_view name) {
  if (const Field* f = entity.field(name)) return f;
  for (const auto& f : implicit_fields())
    if (f.name == name) return &f;
  return nullptr;
}

bool is_implicit_field(std::string_view name) {
  const auto& names = schema::reserved_field_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool field_visible(const Field& field, const security::Context& ctx) {
  if (field.secret) return false;
  if (ctx.admin || field.roles.empty()) return true;
  for (const auto& role : field.roles)
    if (std::find(ctx.roles.begin(), ctx.roles.end(), role) != ctx.roles.end()) return true;
  return false;
}

QueryScope::QueryScope(const schema::Registry& registry, const security::Policy& policy,
                       const Entity& root, const security::Context& ctx)
    : registry_(registry), policy_(policy), root_(root), ctx_(ctx) {}

QueryScope::Column QueryScope::resolve(std::string_view path, std::string_view what) {
  const Entity* entity = base_ >= 0 ? joins_[base_].entity : &root_;
  int parent = base_;
  size_t start = 0;
  for (int hops = 0;; ++hops) {
    if (hops > kMaxPathHops)
      throw ApiError(ErrorKind::kLimits, "limits.path_depth",
                     "the path \"" + shown(path.substr(0, 200)) + "\" in " + std::string(what) +
                         " follows more than " + std::to_string(kMaxPathHops) + " many2one fields",
                     "use a shorter path");
    size_t dot = path.find('.', start);
    std::string_view name =
        path.substr(start, dot == std::string_view::npos ? path.npos : dot - start);
    const Field* f = valid_name(name) ? find_field(*entity, name) : nullptr;
    if (!f) {
      std::vector<std::string_view> names;
      for (const auto& candidate : entity->fields)
        names.push_back(candidate.name);
      for (auto n : schema::reserved_field_names())
        names.push_back(n);
      std::string hint;
      if (auto near = closest_match(name, names))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      bad(what,
          "unknown field \"" + shown(name) + "\" of \"" + entity->name + "\" in " +
              std::string(what) +
              (dot == std::string_view::npos && start == 0 ? ""
                                                           : " (path \"" + shown(path) + "\")"),
          hint);
    }
    if (!trusted_ && !field_visible(*f, ctx_))
      throw ApiError(ErrorKind::kForbidden, "records.forbidden_field",
                     "field \"" + entity->name + "." + f->name + "\" is not visible to you");
    std::string alias = parent >= 0 ? joins_[parent].alias : "t";
    if (dot == std::string_view::npos)
      return Column{alias + "." + db::quote_ident(f->name), f, entity, alias};
    if (f->type != FieldType::kMany2one || !f->has_column())
      bad(what, "\"" + shown(path.substr(0, dot)) + "\" is a " + std::string(to_string(f->type)) +
                    ": only many2one fields can be followed in a path (\"" + shown(path) + "\")");
    const Entity* target = registry_.entity(f->target);
    KEEL_ASSERT(target, "the registry resolves every many2one target");
    if (!trusted_ && !policy_.allowed(ctx_, target->name, security::Operation::kRead))
      throw ApiError(ErrorKind::kForbidden, "security.forbidden",
                     "you may not read " + target->name + " records (path \"" + shown(path) + "\")",
                     "ask an administrator for a role that grants it");
    // The caller's joins are keyed by their path; a rule's apart (a rule sees every row).
    std::string key = parent == base_ ? (base_ >= 0 ? joins_[base_].key + "!"
                                         : trusted_ ? "!"
                                                    : "") +
                                            std::string(name)
                                      : joins_[parent].key + "." + std::string(name);
    parent = static_cast<int>(join(key, parent, *f, *target));
    entity = target;
    start = dot + 1;
  }
}

size_t QueryScope::join(const std::string& key, int parent, const Field& field,
                        const Entity& target) {
  if (auto it = join_index_.find(key); it != join_index_.end()) return it->second;
  size_t index = joins_.size();
  joins_.push_back(Join{key, "j" + std::to_string(index + 1), &target, parent, field.name, {}});
  join_index_.emplace(key, index);
  if (!trusted_ && base_ < 0) {
    // A path the caller named: what the target's read rules hide from the caller joins as null
    // (its fields cannot be read, filtered or sorted on).
    base_ = static_cast<int>(index);
    struct Restore {
      QueryScope& scope;
      ~Restore() { scope.base_ = -1; }
    } restore{*this};
    std::string rule = rules(security::Operation::kRead);
    joins_[index].rule = std::move(rule);
  }
  return index;
}

std::string QueryScope::rules(security::Operation op) {
  if (ctx_.admin) return {};
  const auto& policy = policy_;
  const std::string& entity = base_ >= 0 ? joins_[base_].entity->name : root_.name;
  auto rules = policy.rules_for(entity, op);
  if (rules.empty()) return {};
  struct Trusted {
    QueryScope& scope;
    bool was;
    explicit Trusted(QueryScope& s) : scope(s), was(s.trusted_) { scope.trusted_ = true; }
    ~Trusted() { scope.trusted_ = was; }
  } trusted(*this);
  auto conjunction = [&](std::string_view role) {
    std::string out;
    for (const auto* r : rules)
      if (r->role == role)
        out += (out.empty() ? "(" : " AND (") + compile_filter(r->filter, *this) + ")";
    return out;
  };
  std::string out = conjunction("");
  auto granting = policy.granting_roles(ctx_, entity, op);
  bool unrestricted = std::any_of(granting.begin(), granting.end(), [&](const std::string& role) {
    return std::none_of(rules.begin(), rules.end(), [&](const auto* r) { return r->role == role; });
  });
  if (unrestricted) return out;
  // Only now compile the roles' rules: every value bound must appear in the SQL.
  std::string any;
  for (const auto& role : granting)
    any += (any.empty() ? "(" : " OR (") + conjunction(role) + ")";
  if (any.empty()) any = "FALSE";
  return out + (out.empty() ? "(" : " AND (") + any + ")";
}

std::string QueryScope::alias_of(std::string_view path) const {
  if (path.empty()) return "t";
  auto it = join_index_.find(path);
  return it == join_index_.end() ? std::string() : joins_[it->second].alias;
}

std::string QueryScope::bind(std::string value, std::string_view cast) {
  if (params_.size() >= kMaxParameters)
    throw ApiError(ErrorKind::kLimits, "limits.parameters",
                   "the request needs more than " + std::to_string(kMaxParameters) +
                       " values in one statement",
                   "split it into smaller requests");
  params_.add(std::move(value));
  std::string p = "$" + std::to_string(params_.size());
  return cast.empty() ? p : p + "::" + std::string(cast);
}

std::string QueryScope::bind_null(std::string_view cast) {
  if (params_.size() >= kMaxParameters)
    throw ApiError(ErrorKind::kLimits, "limits.parameters",
                   "the request needs more than " + std::to_string(kMaxParameters) +
                       " values in one statement",
                   "split it into smaller requests");
  params_.add(std::nullopt);
  std::string p = "$" + std::to_string(params_.size());
  return cast.empty() ? p : p + "::" + std::string(cast);
}

std::string QueryScope::joined(size_t index) const {
  const Join& j = joins_[index];
  std::string out = db::quote_ident(j.entity->table) + " " + j.alias;
  std::string below;
  for (size_t i = index + 1; i < joins_.size(); ++i)
    if (joins_[i].parent == static_cast<int>(index)) below += " LEFT JOIN " + joined(i);
  std::string on = j.alias + ".id = " + (j.parent >= 0 ? joins_[j.parent].alias : "t") + "." +
                   db::quote_ident(j.column);
  if (j.rule.empty()) return out + " ON " + on + below;
  // The rule may name the joins below: they are joined inside, and a hidden row is null with
  // all of them.
  if (!below.empty()) out = "(" + out + below + ")";
  return out + " ON " + on + " AND " + j.rule;
}

std::string QueryScope::from() const {
  std::string out = db::quote_ident(root_.table) + " t";
  for (size_t i = 0; i < joins_.size(); ++i)
    if (joins_[i].parent < 0) out += " LEFT JOIN " + joined(i);
  return out;
}

std::string compile_filter(const rapidjson::Value& filter, QueryScope& scope) {
  return FilterCompiler(scope).node(filter, 0);
}

std::string compile_filter(std::string_view json, QueryScope& scope) {
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return "TRUE";
  rapidjson::Document doc;
  json::parse(doc, json, "the filter", "records.bad_filter");
  return compile_filter(doc, scope);
}

void check_filter(const schema::Registry& registry, const Entity& entity,
                  const std::string& filter) {
  // As Keel itself: the policy is not consulted (no rights, no rules).
  static const security::Policy kNoPolicy;
  const auto ctx = security::Context::system();
  QueryScope scope(registry, kNoPolicy, entity, ctx);
  compile_filter(filter, scope);
}

std::shared_ptr<const security::Policy> load_policy(
    const std::vector<const modules::Manifest*>& modules, const schema::Registry& registry,
    Diagnostics& diagnostics) {
  // Security files name entities and fields: read them once the entities are valid.
  if (diagnostics.has_errors()) return std::make_shared<const security::Policy>();
  return std::make_shared<const security::Policy>(security::Policy::load(
      modules, registry, diagnostics, [&](const Entity& entity, const std::string& filter) {
        check_filter(registry, entity, filter);
      }));
}

}  // namespace keel::query
