// Errors below http/ carry kinds; http/ maps them to statuses, cli/ to exit statuses. The native
// SDK has the same kinds: an error crosses its boundary with its kind.
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

TEST(ErrorKinds, KindsCrossTheSdkBoundaryBothWays) {
  for (auto kind : kKinds) {
    SCOPED_TRACE(std::string(to_string(kind)));
    ApiError e(kind, "x.y", "message", "a hint", {{"f", "bad"}}, "a detail");
    EXPECT_EQ(http::status_of(e), http::status_of(kind));
    // Handed to module code, and let through by it: the same kind, code, hint, detail, fields.
    sdk::Error to = native::to_sdk(e);
    EXPECT_EQ(native::kind_of(to.kind()), kind);
    ApiError back = native::from_sdk(to);
    EXPECT_EQ(back.kind(), kind);
    EXPECT_EQ(http::status_of(back), http::status_of(kind));
    EXPECT_EQ(back.code(), "x.y");
    EXPECT_EQ(back.hint(), "a hint");
    EXPECT_EQ(back.detail(), "a detail");
    ASSERT_EQ(back.field_errors().size(), 1u);
    EXPECT_EQ(back.field_errors()[0].field, "f");
  }
  EXPECT_EQ(http::status_of(ErrorKind::kBadInput), 400);
  EXPECT_EQ(http::status_of(ErrorKind::kInvalid), 422);
  EXPECT_EQ(http::status_of(ErrorKind::kNotFound), 404);
  // A value that is no kind (a module's own cast, a corrupt frame) is an internal error.
  EXPECT_EQ(native::kind_of(static_cast<sdk::ErrorKind>(200)), ErrorKind::kInternal);
  EXPECT_EQ(native::kind_of_raw(13), ErrorKind::kInternal);
}

TEST(ErrorKinds, AModulesErrorIsAnsweredByItsKindWithHintAndDetail) {
  sdk::Error gone(sdk::ErrorKind::kNotFound, "shop.gone", "no such shelf", "list the shelves", {},
                  "shelf 7");
  auto r = http::problem_of(native::from_sdk(gone));
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find(R"("type":"urn:keel:problem:shop.gone")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"j("detail":"no such shelf (shelf 7)")j"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("hint":"list the shelves")"), std::string::npos) << r.body;
  // Without a code: native.error.
  EXPECT_EQ(native::from_sdk(sdk::Error(sdk::ErrorKind::kConflict, "", "x")).code(),
            "native.error");
  EXPECT_EQ(native::from_sdk(sdk::ValidationError("bad", {{"a", "b"}})).kind(),
            ErrorKind::kInvalid);
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
