#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/loader.hpp"
#include "records/extensions.hpp"

namespace keel::native {

// Who registered something, and how it relates to what others registered.
struct Stamp {
  std::string module;
  sdk::Policy policy = sdk::Policy::kNew;
};
std::string_view to_string(sdk::Policy policy);
std::string_view to_string(sdk::Event event);

// What the native code of the installed modules adds, for one registry snapshot: hooks per
// entity and event (in dependency order), computed fields, routes and service chains. Built by
// Host::extensions(), checked against the registry, immutable.
class Extensions final : public records::Extensions {
 public:
  struct Hook {
    Stamp stamp;
    sdk::Hook fn;
  };
  struct Compute {
    Stamp stamp;
    sdk::Compute fn;
    std::vector<std::string> overridden;  // modules whose computation this one replaced
  };
  struct Route {
    Stamp stamp;
    std::string method;
    std::string pattern;  // full path: /api/v1/x/{module}/...
    sdk::RouteHandler fn;
    sdk::RouteDoc doc;  // what the OpenAPI document says of it
  };
  struct Service {
    std::string signature;            // typeid(Sig).name() of the provider
    std::vector<Stamp> chain;         // provider first, then overrides in dependency order
    std::shared_ptr<const void> top;  // std::function<Sig>: the last override
  };

  // records::Extensions
  bool has_hooks(std::string_view entity) const override;
  std::string before_write(const records::CallSite& site, std::string_view entity, std::int64_t id,
                           std::string_view old, std::string_view body) const override;
  void after_write(const records::CallSite& site, std::string_view entity, std::int64_t id,
                   bool created, std::string_view record) const override;
  void before_delete(const records::CallSite& site, std::string_view entity, std::int64_t id,
                     std::string_view old) const override;
  void after_delete(const records::CallSite& site, std::string_view entity, std::int64_t id,
                    std::string_view old) const override;
  bool computes(std::string_view entity, std::string_view field) const override;
  std::vector<std::string> compute(const records::CallSite& site, std::string_view entity,
                                   std::string_view field,
                                   const std::vector<std::int64_t>& ids) const override;

  const std::vector<Route>& routes() const { return routes_; }
  // Runs a route's handler in the caller's name; module failures become keel::ApiError.
  sdk::HttpResponse run_route(const Route& route, const records::CallSite& site,
                              const sdk::HttpRequest& request) const;
  const Service* service(std::string_view name) const;

  // One line per registration, sorted ("hook validate sale_order: sales (new)"): who
  // registered what, for logs and `GET /modules`-style listings.
  std::vector<std::string> describe() const;

 private:
  friend class Host;
  static constexpr size_t kEvents = 7;
  void run_hooks(const records::CallSite& site, sdk::Event event, std::string_view entity,
                 std::int64_t id, const sdk::Record* old, sdk::Record& values,
                 std::vector<sdk::FieldError>& errors) const;

  std::map<std::string, std::array<std::vector<Hook>, kEvents>, std::less<>> hooks_;
  std::map<std::string, Compute, std::less<>> computes_;  // "entity.field"
  std::vector<Route> routes_;
  std::map<std::string, Service, std::less<>> services_;
  std::shared_ptr<const void> process_;  // the module host of isolated modules, if any
};

}  // namespace keel::native
