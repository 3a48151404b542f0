#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keel/env.hpp"
#include "records/extensions.hpp"

namespace keel::native {

class Extensions;

// A JSON object (a record or a request body) as an SDK Record; nullopt when it is not one.
std::optional<sdk::Record> parse_record(std::string_view json);

// The caller as module code sees it.
sdk::Caller caller_of(const records::SecurityContext& ctx);

// The Env of one call into module code: records through RecordService on the call's
// connection, as the caller or (explicitly, logged) as Keel itself; services of the snapshot.
class ModuleEnv final : public sdk::Env {
 public:
  ModuleEnv(const Extensions& extensions, std::string module, const records::CallSite& site);
  ~ModuleEnv() override;

  const std::string& module() const override { return module_; }
  const sdk::Caller& caller() const override { return caller_; }
  sdk::Records& records() override;
  sdk::Records& elevated(std::string_view reason) override;
  void log(sdk::LogLevel level, std::string_view message) override;

 protected:
  const void* find_service(std::string_view name, std::string_view signature) override;

 private:
  class Facade;
  const Extensions& extensions_;
  std::string module_;
  const records::CallSite& site_;
  sdk::Caller caller_;
  std::unique_ptr<Facade> records_;
  std::unique_ptr<records::SecurityContext> system_;
  std::unique_ptr<Facade> elevated_;
};

}  // namespace keel::native
