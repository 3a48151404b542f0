#include "native/env.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "app/error.hpp"
#include "app/json.hpp"
#include "native/errors.hpp"
#include "native/extensions.hpp"
#include "records/service.hpp"

namespace keel::native {

namespace {

sdk::Value to_value(const rapidjson::Value& v) {
  if (v.IsNull()) return {};
  if (v.IsBool()) return v.GetBool();
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsNumber()) return v.GetDouble();
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsArray()) {
    sdk::Value::Ids ids;
    bool all_ids = true;
    for (const auto& item : v.GetArray()) {
      if (!item.IsInt64()) {
        all_ids = false;
        break;
      }
      ids.push_back(item.GetInt64());
    }
    if (all_ids) return ids;
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  v.Accept(w);
  return sdk::RawJson{std::string(buffer.GetString(), buffer.GetSize())};
}

// A member that is a number with a fraction or an exponent keeps its exact source text (a
// decimal string, which Value::as_decimal() reads exactly; as_number() still reads a float from
// it): a decimal sent as a JSON number never goes through a double. `source`: the members' source
// text (json::try_parse); Keel's own answers write decimals as strings and need none.
sdk::Record to_record(const rapidjson::Value& object,
                      const std::vector<std::string_view>& source = {}) {
  sdk::Record out;
  size_t i = 0;
  for (const auto& m : object.GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    if (m.value.IsNumber() && !m.value.IsInt64() && i < source.size())
      out.set(std::move(name), std::string(source[i]));
    else
      out.set(std::move(name), to_value(m.value));
    ++i;
  }
  return out;
}

}  // namespace

std::optional<sdk::Record> parse_record(std::string_view json) {
  rapidjson::Document doc;
  std::vector<std::string_view> source;
  if (!json::try_parse(doc, json, json::limits().value_depth + json::kEnvelopeDepth, &source).ok ||
      !doc.IsObject())
    return std::nullopt;
  return to_record(doc, source);
}

sdk::Caller caller_of(const records::SecurityContext& ctx) {
  sdk::Caller c;
  c.user_id = ctx.user_id;
  c.login = ctx.login;
  c.admin = ctx.admin;
  c.roles = ctx.roles;
  std::sort(c.roles.begin(), c.roles.end());
  return c;
}

// sdk::Records over RecordService, on the connection (and so in the transaction) of the call.
class ModuleEnv::Facade final : public sdk::Records {
 public:
  Facade(const records::CallSite& site, const records::SecurityContext& ctx)
      : conn_(site.conn), ctx_(ctx), service_(site.records) {}

  sdk::Page list(std::string_view entity, const sdk::Query& q) override {
    auto opt = [](const std::string& s) {
      return s.empty() ? std::nullopt : std::optional<std::string>(s);
    };
    records::ListRequest request{opt(q.filter), opt(q.sort), std::to_string(q.limit),
                                 std::to_string(q.offset), opt(q.fields)};
    auto json = kept([&] { return service_.list(conn_, ctx_, entity, request).json; });
    rapidjson::Document doc;
    if (!json::try_parse(doc, json, json::limits().value_depth + json::kEnvelopeDepth).ok)
      throw Error("native.bad_answer", "a page of " + std::string(entity) + " could not be read");
    sdk::Page page;
    for (const auto& r : doc["data"].GetArray())
      page.records.push_back(to_record(r));
    page.total = doc["total"].GetInt64();
    return page;
  }
  sdk::Record read(std::string_view entity, std::int64_t id, std::string_view fields) override {
    std::optional<std::string> f;
    if (!fields.empty()) f = std::string(fields);
    return *parse_record(kept([&] { return service_.read(conn_, ctx_, entity, id, f).json; }));
  }
  sdk::Record create(std::string_view entity, const sdk::Record& values) override {
    return *parse_record(
        kept([&] { return service_.create(conn_, ctx_, entity, sdk::to_json(values)).json; }));
  }
  sdk::Record update(std::string_view entity, std::int64_t id, const sdk::Record& values) override {
    return *parse_record(
        kept([&] { return service_.update(conn_, ctx_, entity, id, sdk::to_json(values)).json; }));
  }
  void remove(std::string_view entity, std::int64_t id) override {
    kept([&] { service_.remove(conn_, ctx_, entity, id); });
  }

 private:
  // Keel's errors reach module code as sdk::Error of their kind (KeelFailure).
  template <typename F>
  static auto kept(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const KeelFailure&) {
      throw;  // of a nested call: already translated
    } catch (const Error& e) {
      throw KeelFailure(e, std::current_exception());
    }
  }

  db::Connection& conn_;
  const records::SecurityContext& ctx_;
  const records::RecordService& service_;
};

ModuleEnv::ModuleEnv(const Extensions& extensions, std::string module,
                     const records::CallSite& site)
    : extensions_(extensions),
      module_(std::move(module)),
      site_(site),
      caller_(caller_of(site.ctx)) {}

ModuleEnv::~ModuleEnv() = default;

sdk::Records& ModuleEnv::records() {
  if (!records_) records_ = std::make_unique<Facade>(site_, site_.ctx);
  return *records_;
}

sdk::Records& ModuleEnv::elevated(std::string_view reason) {
  spdlog::warn("native: module {} acts with Keel's rights for user {}: {}", module_,
               caller_.user_id, reason);
  if (!elevated_) {
    system_ = std::make_unique<records::SecurityContext>(records::SecurityContext::system());
    elevated_ = std::make_unique<Facade>(site_, *system_);
  }
  return *elevated_;
}

void ModuleEnv::log(sdk::LogLevel level, std::string_view message) {
  auto l = level == sdk::LogLevel::kDebug     ? spdlog::level::debug
           : level == sdk::LogLevel::kInfo    ? spdlog::level::info
           : level == sdk::LogLevel::kWarning ? spdlog::level::warn
                                              : spdlog::level::err;
  spdlog::log(l, "module {}: {}", module_, message);
}

const void* ModuleEnv::find_service(std::string_view name, std::string_view signature) {
  const auto* s = extensions_.service(name);
  if (!s)
    throw sdk::Error(sdk::ErrorKind::kInternal, "native.no_service",
                     "module \"" + module_ + "\" calls service \"" + std::string(name) +
                         "\", which no installed module provides");
  if (s->signature != signature)
    throw sdk::Error(sdk::ErrorKind::kInternal, "native.no_service",
                     "module \"" + module_ + "\" calls service \"" + std::string(name) +
                         "\" with another signature than \"" + s->chain.front().module +
                         "\" provides");
  if (!s->top)
    throw sdk::Error(sdk::ErrorKind::kInternal, "native.no_service",
                     "module \"" + module_ + "\" calls service \"" + std::string(name) +
                         "\", which an isolated module provides",
                     "services are called between modules of the same isolation mode "
                     "(security.module_isolation_overrides)");
  return s->top.get();
}

}  // namespace keel::native
