#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "keel/env.hpp"
#include "keel/errors.hpp"
#include "keel/http.hpp"
#include "keel/value.hpp"

namespace keel::sdk {

// What a registration does to what other modules registered; stamped on every registration
// with the module, so "who registered this?" always has an answer.
enum class Policy {
  kNew,       // something of the module's own: conflicts with an existing one
  kExtend,    // adds to something that exists (a hook on another module's entity)
  kOverride,  // replaces something that exists, and may call it
};

enum class Event {
  kValidate,
  kBeforeCreate,
  kAfterCreate,
  kBeforeUpdate,
  kAfterUpdate,
  kBeforeDelete,
  kAfterDelete,
};

// One write as the hooks of an entity see it. Hooks run inside the write's transaction, in
// module dependency order; an exception fails the write and rolls it back.
struct Change {
  Event event;
  std::string_view entity;
  std::int64_t id = 0;              // 0 before a create
  const Record* old = nullptr;      // the record before an update or a delete
  Record& values;                   // before/validate: the fields written (before hooks may change
                                    // them); after create/update: the record as written
  std::vector<FieldError>& errors;  // validate hooks add here; all are reported at once (422)
};

using Hook = std::function<void(Env&, Change&)>;
// A computed field: the values for a page of records, one per id and in the same order.
// Called once per page (a list, a read), never once per row.
using Compute = std::function<std::vector<Value>(Env&, std::span<const std::int64_t> ids)>;
using RouteHandler = std::function<HttpResponse(Env&, const HttpRequest&)>;
using Callback = std::function<void()>;

// How a service crosses between the server and a module host (security.module_isolation): the
// arguments after `Env&` and the result, each as a Record. KEEL provides one for every service
// whose signature is `R(Env&, A...)` with R and each A a Value, Record, Decimal, std::string,
// bool, integer or double (by value or const reference; R may be void); a service of another
// signature is called only between modules of one process.
class ServiceBridge {
 public:
  using Remote = std::function<Record(Env&, const std::vector<Record>&)>;
  virtual ~ServiceBridge() = default;
  // Calls `fn`, a std::function of the service's signature, with `args`; its result.
  virtual Record invoke(const void* fn, Env& env, const std::vector<Record>& args) const = 0;
  // A std::function of the service's signature that hands its arguments to `remote`.
  virtual std::shared_ptr<const void> proxy(Remote remote) const = 0;
};

namespace detail {

template <typename T>
struct Bridged : std::false_type {};
template <typename T>
struct BridgedScalar : std::true_type {
  static Record put(const T& v) { return Record{{"value", Value(v)}}; }
};
template <>
struct Bridged<Value> : std::true_type {
  static Record put(const Value& v) { return Record{{"value", v}}; }
  static Value get(const Record& r) { return r.get("value"); }
};
template <>
struct Bridged<Record> : std::true_type {
  static Record put(const Record& r) { return r; }
  static Record get(const Record& r) { return r; }
};
template <>
struct Bridged<Decimal> : BridgedScalar<Decimal> {
  static Decimal get(const Record& r) { return r.get("value").as_decimal(); }
};
template <>
struct Bridged<std::string> : BridgedScalar<std::string> {
  static std::string get(const Record& r) { return r.get("value").as_string(); }
};
template <>
struct Bridged<bool> : BridgedScalar<bool> {
  static bool get(const Record& r) { return r.get("value").as_bool(); }
};
template <>
struct Bridged<double> : BridgedScalar<double> {
  static double get(const Record& r) { return r.get("value").as_number(); }
};
template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) struct Bridged<T> : BridgedScalar<T> {
  static T get(const Record& r) { return static_cast<T>(r.get("value").as_int()); }
};

// A parameter that crosses: a bridged type by value or by const reference.
template <typename A>
inline constexpr bool kBridgedParam = Bridged<std::decay_t<A>>::value &&
                                      (std::is_same_v<A, std::decay_t<A>> ||
                                       std::is_same_v<A, const std::decay_t<A>&>);

template <typename Sig>
struct BridgeOf {
  static std::shared_ptr<const ServiceBridge> make() { return nullptr; }
};
template <typename R, typename... A>
requires((std::is_void_v<R> || Bridged<R>::value) &&
         (kBridgedParam<A> && ...)) struct BridgeOf<R(Env&, A...)> {
  using Function = std::function<R(Env&, A...)>;
  struct Impl final : ServiceBridge {
    Record invoke(const void* fn, Env& env, const std::vector<Record>& args) const override {
      if (args.size() != sizeof...(A))
        throw Error(ErrorKind::kInternal, "native.service",
                    "a service call with the wrong number of arguments");
      return call(*static_cast<const Function*>(fn), env, args, std::index_sequence_for<A...>{});
    }
    std::shared_ptr<const void> proxy(Remote remote) const override {
      return std::make_shared<const Function>([remote = std::move(remote)](Env& env, A... a) -> R {
        Record out = remote(env, std::vector<Record>{Bridged<std::decay_t<A>>::put(a)...});
        if constexpr (!std::is_void_v<R>) return Bridged<R>::get(out);
      });
    }

   private:
    template <size_t... I>
    static Record call(const Function& f, Env& env, const std::vector<Record>& args,
                       std::index_sequence<I...>) {
      if constexpr (std::is_void_v<R>) {
        f(env, Bridged<std::decay_t<A>>::get(args[I])...);
        return {};
      } else {
        return Bridged<R>::put(f(env, Bridged<std::decay_t<A>>::get(args[I])...));
      }
    }
  };
  static std::shared_ptr<const ServiceBridge> make() { return std::make_shared<const Impl>(); }
};

}  // namespace detail

template <typename Sig>
struct ServiceTraits;
template <typename R, typename... A>
struct ServiceTraits<R(A...)> {
  using Function = std::function<R(A...)>;
  // An override gets the implementation it replaces first.
  using Override = std::function<R(const Function& next, A...)>;
};

// Handed to the module's entry function: the only way a module registers anything. Everything
// registered is stamped with the module and its policy and checked against the entities
// before the module is used.
class Loader {
 public:
  virtual ~Loader() = default;

  // The module being loaded.
  virtual const std::string& module() const = 0;

  // Record hooks on an entity of this module (Policy::kNew) or of a dependency (kExtend).
  virtual void hook(std::string entity, Event event, Hook fn) = 0;
  void validate(std::string entity, Hook fn) { hook(std::move(entity), Event::kValidate, fn); }
  void before_create(std::string e, Hook fn) { hook(std::move(e), Event::kBeforeCreate, fn); }
  void after_create(std::string e, Hook fn) { hook(std::move(e), Event::kAfterCreate, fn); }
  void before_update(std::string e, Hook fn) { hook(std::move(e), Event::kBeforeUpdate, fn); }
  void after_update(std::string e, Hook fn) { hook(std::move(e), Event::kAfterUpdate, fn); }
  void before_delete(std::string e, Hook fn) { hook(std::move(e), Event::kBeforeDelete, fn); }
  void after_delete(std::string e, Hook fn) { hook(std::move(e), Event::kAfterDelete, fn); }

  // The values of a field declared `computed: true` (kNew), or a new computation of a field
  // another module computes (kOverride).
  virtual void compute(std::string entity, std::string field, Compute fn,
                       Policy policy = Policy::kNew) = 0;

  // An HTTP route under /api/v1/x/{module}: route("GET", "/orders/{id}/summary", doc, ...).
  // `doc` is what GET /api/v1/openapi.json says about it (keel/http.hpp).
  virtual void route(std::string method, std::string path, RouteDoc doc, RouteHandler fn) = 0;
  // A route described by its method and path only.
  void route(std::string method, std::string path, RouteHandler fn) {
    route(std::move(method), std::move(path), RouteDoc{}, std::move(fn));
  }

  // A named service other modules call through Env::service<Sig>(name).
  template <typename Sig>
  void provide(std::string name, std::function<Sig> fn) {
    auto shared = std::make_shared<const std::function<Sig>>(std::move(fn));
    add_service(
        std::move(name), typeid(Sig).name(), Policy::kNew,
        [shared](std::shared_ptr<const void>) { return shared; }, detail::BridgeOf<Sig>::make());
  }
  // Replaces a service of a dependency; `fn` gets the implementation it replaces as `next`.
  // Overrides chain in module dependency order.
  template <typename Sig>
  void override_service(std::string name, typename ServiceTraits<Sig>::Override fn) {
    add_service(
        std::move(name), typeid(Sig).name(), Policy::kOverride,
        [fn = std::move(fn)](std::shared_ptr<const void> next) {
          auto prev = std::static_pointer_cast<const std::function<Sig>>(next);
          return std::shared_ptr<const void>(
              std::make_shared<const std::function<Sig>>(bind_next(fn, prev)));
        },
        detail::BridgeOf<Sig>::make());
  }

  // Called once the module is loaded and registered; and when the server stops (reverse
  // dependency order).
  virtual void on_loaded(Callback fn) = 0;
  virtual void on_stopping(Callback fn) = 0;

  // Used by KEEL_MODULE when the entry function throws.
  virtual void fail(std::string message) = 0;

 protected:
  using ServiceFactory = std::function<std::shared_ptr<const void>(std::shared_ptr<const void>)>;
  // `bridge`: how the service crosses between processes; nullptr when its signature cannot.
  virtual void add_service(std::string name, std::string signature, Policy policy,
                           ServiceFactory make, std::shared_ptr<const ServiceBridge> bridge) = 0;

 private:
  template <typename R, typename... A>
  static std::function<R(A...)> bind_next(std::function<R(const std::function<R(A...)>&, A...)> fn,
                                          std::shared_ptr<const std::function<R(A...)>> prev) {
    return [fn = std::move(fn), prev = std::move(prev)](A... args) -> R {
      return fn(*prev, std::forward<A>(args)...);
    };
  }
};

}  // namespace keel::sdk
