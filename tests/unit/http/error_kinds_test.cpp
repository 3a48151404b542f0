// Errors below http/ carry kinds; http/ maps them to statuses, cli/ to exit statuses, and the
// native SDK's boundary to the SDK's statuses. The tables must agree.
#include <gtest/gtest.h>

#include <string>

#include "app/error.hpp"
#include "cli/cli.hpp"
#include "http/message.hpp"
#include "native/errors.hpp"

namespace keel {
namespace {

constexpr ErrorKind kKinds[] = {
    ErrorKind::kFailed,    ErrorKind::kUsage,       ErrorKind::kBadInput,
    ErrorKind::kLimits,    ErrorKind::kInvalid,     ErrorKind::kUnauthenticated,
    ErrorKind::kForbidden, ErrorKind::kNotFound,    ErrorKind::kConflict,
    ErrorKind::kTooMany,   ErrorKind::kUnavailable, ErrorKind::kTimeout,
    ErrorKind::kInternal,
};

TEST(ErrorKinds, StatusesOfHttpAndOfTheSdkAgree) {
  for (auto kind : kKinds) {
    ApiError e(kind, "x.y", "message");
    SCOPED_TRACE(std::string(to_string(kind)));
    EXPECT_EQ(native::sdk_status_of(e), http::status_of(kind));
    EXPECT_EQ(http::status_of(e), http::status_of(kind));
    // A module's error of that status comes back as the same status.
    native::ModuleError back(http::status_of(kind), "x.y", "message", "", {});
    EXPECT_EQ(http::status_of(back), http::status_of(kind));
    EXPECT_EQ(http::status_of(back.kind()), http::status_of(kind));
  }
  EXPECT_EQ(http::status_of(ErrorKind::kBadInput), 400);
  EXPECT_EQ(http::status_of(ErrorKind::kInvalid), 422);
  EXPECT_EQ(http::status_of(ErrorKind::kNotFound), 404);
}

TEST(ErrorKinds, AModuleKeepsTheStatusItChose) {
  native::ModuleError teapot(418, "tea.pot", "short and stout", "tip it over", {});
  EXPECT_EQ(teapot.kind(), ErrorKind::kFailed);
  EXPECT_EQ(http::status_of(teapot), 418);
  EXPECT_EQ(native::sdk_status_of(teapot), 418);
  auto r = http::problem_of(teapot);
  EXPECT_EQ(r.status, 418);
  EXPECT_NE(r.body.find("tip it over"), std::string::npos) << r.body;
}

TEST(ErrorKinds, ExitStatusesOfTheCli) {
  for (auto kind : kKinds)
    EXPECT_EQ(cli::exit_code_of(kind), kind == ErrorKind::kUsage ? 2 : 1) << to_string(kind);
  EXPECT_EQ(UsageError("no command").kind(), ErrorKind::kUsage);
  EXPECT_EQ(Error("module.unknown", "no such module").kind(), ErrorKind::kFailed);
  EXPECT_EQ(ValidationError("view.invalid", "invalid views", {}).kind(), ErrorKind::kInvalid);
}

TEST(ErrorKinds, KeelAssertNamesTheBrokenInvariant) {
  int checked = 0;
  KEEL_ASSERT(++checked == 1, "the condition is evaluated once");
  EXPECT_EQ(checked, 1);
  try {
    KEEL_ASSERT(checked == 2, "checked counts to two");
    FAIL() << "no error";
  } catch (const InvariantError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_EQ(e.code(), "internal.invariant");
    EXPECT_NE(std::string(e.what()).find("checked counts to two"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("error_kinds_test.cpp:"), std::string::npos) << e.what();
    EXPECT_EQ(http::status_of(e), 500);
  }
}

}  // namespace
}  // namespace keel
