#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "keel/errors.hpp"
#include "keel/records.hpp"

namespace keel::sdk {

// Who the module code runs for.
struct Caller {
  std::int64_t user_id = 0;  // 0: Keel itself
  std::string login;
  bool admin = false;
  std::vector<std::string> roles;  // sorted, implied roles included

  bool has_role(std::string_view role) const {
    return admin || std::binary_search(roles.begin(), roles.end(), role);
  }
};

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// What a hook, a computed field, a route or a service gets from Keel for one call: the
// caller, records as the caller, services, logging. Valid only during the call.
class Env {
 public:
  virtual ~Env() = default;

  // The module whose code is running.
  virtual const std::string& module() const = 0;
  virtual const Caller& caller() const = 0;
  // Records with the caller's rights.
  virtual Records& records() = 0;
  // Records with Keel's own rights (an administrator). Explicit and logged with `reason`, the
  // module and the caller: use it for what the caller may not do but the module must.
  virtual Records& elevated(std::string_view reason) = 0;
  virtual void log(LogLevel level, std::string_view message) = 0;

  // The named service (the last override of it, in dependency order) with signature `Sig`;
  // throws sdk::Error when there is none or its signature differs.
  template <typename Sig>
  const std::function<Sig>& service(std::string_view name) {
    return *static_cast<const std::function<Sig>*>(find_service(name, typeid(Sig).name()));
  }

 protected:
  // The std::function<Sig> registered as `name`, checked against `signature`
  // (typeid(Sig).name()).
  virtual const void* find_service(std::string_view name, std::string_view signature) = 0;
};

}  // namespace keel::sdk
