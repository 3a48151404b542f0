#include "native/extensions.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "app/error.hpp"
#include "native/env.hpp"
#include "native/errors.hpp"

namespace keel::native {

std::string_view to_string(sdk::Policy policy) {
  switch (policy) {
    case sdk::Policy::kNew:
      return "new";
    case sdk::Policy::kExtend:
      return "extend";
    case sdk::Policy::kOverride:
      return "override";
  }
  return "?";
}

std::string_view to_string(sdk::Event event) {
  switch (event) {
    case sdk::Event::kValidate:
      return "validate";
    case sdk::Event::kBeforeCreate:
      return "before_create";
    case sdk::Event::kAfterCreate:
      return "after_create";
    case sdk::Event::kBeforeUpdate:
      return "before_update";
    case sdk::Event::kAfterUpdate:
      return "after_update";
    case sdk::Event::kBeforeDelete:
      return "before_delete";
    case sdk::Event::kAfterDelete:
      return "after_delete";
  }
  return "?";
}

namespace {

// Runs module code; what it throws becomes the answer of the operation: sdk::Error as an
// ApiError of its kind, code, hint, detail and field errors, Keel's own errors (from its Records
// calls, KeelFailure) as they were, anything else a 500 that names the module (the message goes
// to the log only).
template <typename F>
auto guarded(const std::string& module, const std::string& what, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const KeelFailure& e) {
    e.rethrow();  // Keel's own error, which the module let through: as it was
  } catch (const sdk::Error& e) {
    throw from_sdk(e);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    spdlog::error("native: module {} failed in {}: {}", module, what, e.what());
    throw ApiError(ErrorKind::kInternal, "native.error",
                   "module \"" + module + "\" failed in " + what, "see the server log");
  } catch (...) {
    spdlog::error("native: module {} failed in {}: unknown exception", module, what);
    throw ApiError(ErrorKind::kInternal, "native.error",
                   "module \"" + module + "\" failed in " + what, "see the server log");
  }
}

std::vector<ApiError::FieldError> api_errors(const std::vector<sdk::FieldError>& errors) {
  std::vector<ApiError::FieldError> out;
  for (const auto& e : errors)
    out.push_back({e.field, e.message});
  return out;
}

}  // namespace

bool Extensions::has_hooks(std::string_view entity) const {
  return hooks_.find(entity) != hooks_.end();
}

void Extensions::run_hooks(const records::CallSite& site, sdk::Event event, std::string_view entity,
                           std::int64_t id, const sdk::Record* old, sdk::Record& values,
                           std::vector<sdk::FieldError>& errors) const {
  auto it = hooks_.find(entity);
  if (it == hooks_.end()) return;
  for (const auto& hook : it->second[static_cast<size_t>(event)]) {
    ModuleEnv env(*this, hook.stamp.module, site);
    sdk::Change change{event, entity, id, old, values, errors};
    guarded(hook.stamp.module, std::string(to_string(event)) + " hook of " + std::string(entity),
            [&] { hook.fn(env, change); });
  }
}

std::string Extensions::before_write(const records::CallSite& site, std::string_view entity,
                                     std::int64_t id, std::string_view old,
                                     std::string_view body) const {
  auto values = parse_record(body);
  if (!values) return std::string(body);  // RecordService reports the bad body
  const sdk::Record given = *values;
  std::optional<sdk::Record> before;
  if (!old.empty()) before = parse_record(old);
  const sdk::Record* old_record = before ? &*before : nullptr;
  std::vector<sdk::FieldError> errors;
  run_hooks(site, id == 0 ? sdk::Event::kBeforeCreate : sdk::Event::kBeforeUpdate, entity, id,
            old_record, *values, errors);
  run_hooks(site, sdk::Event::kValidate, entity, id, old_record, *values, errors);
  if (!errors.empty()) {
    std::string message = "invalid " + std::string(entity) + " record: ";
    for (size_t i = 0; i < errors.size(); ++i)
      message += (i ? "; " : "") + errors[i].field + " " + errors[i].message;
    throw ApiError(ErrorKind::kInvalid, "records.invalid", message,
                   "fix the fields listed in errors", api_errors(errors));
  }
  // Unchanged bodies go on as they came (numbers keep their exact text).
  return *values == given ? std::string(body) : sdk::to_json(*values);
}

void Extensions::after_write(const records::CallSite& site, std::string_view entity,
                             std::int64_t id, bool created, std::string_view record) const {
  auto values = parse_record(record);
  if (!values) return;
  std::vector<sdk::FieldError> errors;
  run_hooks(site, created ? sdk::Event::kAfterCreate : sdk::Event::kAfterUpdate, entity, id,
            nullptr, *values, errors);
  if (!errors.empty())
    throw ApiError(ErrorKind::kInvalid, "records.invalid",
                   "invalid " + std::string(entity) + " record", "fix the fields listed in errors",
                   api_errors(errors));
}

void Extensions::before_delete(const records::CallSite& site, std::string_view entity,
                               std::int64_t id, std::string_view old) const {
  auto before = parse_record(old);
  sdk::Record values;
  std::vector<sdk::FieldError> errors;
  run_hooks(site, sdk::Event::kBeforeDelete, entity, id, before ? &*before : nullptr, values,
            errors);
  if (!errors.empty())
    throw ApiError(ErrorKind::kInvalid, "records.invalid",
                   "cannot delete " + std::string(entity) + " " + std::to_string(id),
                   "fix the fields listed in errors", api_errors(errors));
}

void Extensions::after_delete(const records::CallSite& site, std::string_view entity,
                              std::int64_t id, std::string_view old) const {
  auto before = parse_record(old);
  sdk::Record values;
  std::vector<sdk::FieldError> errors;
  run_hooks(site, sdk::Event::kAfterDelete, entity, id, before ? &*before : nullptr, values,
            errors);
}

bool Extensions::computes(std::string_view entity, std::string_view field) const {
  std::string key(entity);
  key += '.';
  key += field;
  return computes_.count(key) > 0;
}

std::vector<std::string> Extensions::compute(const records::CallSite& site, std::string_view entity,
                                             std::string_view field,
                                             const std::vector<std::int64_t>& ids) const {
  std::string key = std::string(entity) + "." + std::string(field);
  const Compute& c = computes_.at(key);
  ModuleEnv env(*this, c.stamp.module, site);
  auto values = guarded(c.stamp.module, "computing " + key,
                        [&] { return c.fn(env, std::span<const std::int64_t>(ids)); });
  if (values.size() != ids.size())
    throw ApiError(ErrorKind::kInternal, "native.error",
                   "module \"" + c.stamp.module + "\" computed " + std::to_string(values.size()) +
                       " values of " + key + " for " + std::to_string(ids.size()) + " records",
                   "a computation returns one value per id, in order");
  std::vector<std::string> out;
  out.reserve(values.size());
  for (const auto& v : values)
    out.push_back(sdk::to_json(v));
  return out;
}

sdk::HttpResponse Extensions::run_route(const Route& route, const records::CallSite& site,
                                        const sdk::HttpRequest& request) const {
  ModuleEnv env(*this, route.stamp.module, site);
  return guarded(route.stamp.module, "route " + route.method + " " + route.pattern,
                 [&] { return route.fn(env, request); });
}

const Extensions::Service* Extensions::service(std::string_view name) const {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

std::vector<std::string> Extensions::describe() const {
  std::vector<std::string> out;
  auto stamp = [](const Stamp& s) {
    return s.module + " (" + std::string(to_string(s.policy)) + ")";
  };
  for (const auto& [entity, events] : hooks_)
    for (size_t e = 0; e < kEvents; ++e)
      for (const auto& h : events[e])
        out.push_back("hook " + std::string(to_string(static_cast<sdk::Event>(e))) + " " + entity +
                      ": " + stamp(h.stamp));
  for (const auto& [key, c] : computes_)
    out.push_back("compute " + key + ": " + stamp(c.stamp));
  for (const auto& r : routes_)
    out.push_back("route " + r.method + " " + r.pattern + ": " + stamp(r.stamp));
  for (const auto& [name, s] : services_) {
    std::string chain;
    for (const auto& st : s.chain)
      chain += (chain.empty() ? "" : " <- ") + stamp(st);
    out.push_back("service " + name + ": " + chain);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace keel::native
