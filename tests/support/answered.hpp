#pragma once

// An error of a service as the REST API answers it: its status from http::status_of (services
// throw kinds; only http/ knows statuses). Tests of the services check the statuses, which the
// move to kinds must not change.

#include <string>
#include <vector>

#include "app/error.hpp"
#include "http/message.hpp"

namespace keel::testing {

class Answered {
 public:
  Answered() = default;  // nothing thrown: status 0
  explicit Answered(const Error& e)
      : error_(e.kind(), e.code(), e.what(), e.hint(), e.field_errors(), e.detail()),
        status_(http::status_of(e)) {}

  int status() const { return status_; }
  ErrorKind kind() const { return error_.kind(); }
  const std::string& code() const { return error_.code(); }
  const char* what() const { return error_.what(); }
  const std::string& hint() const { return error_.hint(); }
  const std::string& detail() const { return error_.detail(); }
  const std::vector<Error::FieldError>& field_errors() const { return error_.field_errors(); }

 private:
  Error error_{ErrorKind::kFailed, "", ""};
  int status_ = 0;
};

}  // namespace keel::testing
