#include "native/abi.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "keel/value.hpp"

namespace keel::native {
namespace {

sdk::AbiBlock with(void (*change)(sdk::AbiBlock&)) {
  sdk::AbiBlock b = host_abi();
  change(b);
  return b;
}

TEST(Abi, TheHostFitsItself) {
  EXPECT_EQ(abi_mismatch(host_abi(), host_abi()), std::nullopt);
  EXPECT_EQ(host_abi().abi_version, static_cast<unsigned>(KEEL_SDK_ABI_VERSION));
  EXPECT_STREQ(host_abi().keel_version, KEEL_VERSION);
}

TEST(Abi, AMismatchNamesBothSides) {
  auto other = with([](sdk::AbiBlock& b) { b.abi_version = 7; });
  auto why = abi_mismatch(other, host_abi());
  ASSERT_TRUE(why);
  EXPECT_NE(
      why->find("built for SDK ABI 7, this Keel has SDK ABI " KEEL_SDK_STR(KEEL_SDK_ABI_VERSION)),
      std::string::npos)
      << *why;
  EXPECT_NE(why->find("module: SDK ABI 7, Keel " KEEL_VERSION), std::string::npos) << *why;
  EXPECT_NE(
      why->find("this Keel: SDK ABI " KEEL_SDK_STR(KEEL_SDK_ABI_VERSION) ", Keel " KEEL_VERSION),
      std::string::npos)
      << *why;
}

// ABI 5 replaced sdk::Error's HTTP status by an ErrorKind: a module built against ABI 4 (whose
// Error has another layout) is refused, never called.
TEST(Abi, AModuleOfTheSdkWithStatusesIsRefused) {
  static_assert(KEEL_SDK_ABI_VERSION >= 5, "sdk::Error carries a kind since ABI 5");
  auto old = with([](sdk::AbiBlock& b) { b.abi_version = 4; });
  auto why = abi_mismatch(old, host_abi());
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("built for SDK ABI 4, this Keel has SDK ABI"), std::string::npos) << *why;
}

TEST(Abi, CompilerStandardLibraryAndVersionAreChecked) {
  auto clang = with([](sdk::AbiBlock& b) { std::strcpy(b.compiler, "clang 99"); });
  auto why = abi_mismatch(clang, host_abi());
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("built with clang 99, this Keel with " KEEL_SDK_COMPILER), std::string::npos)
      << *why;

  auto libcxx = with([](sdk::AbiBlock& b) { std::strcpy(b.stdlib, "libc++ 17000"); });
  why = abi_mismatch(libcxx, host_abi());
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("built against libc++ 17000"), std::string::npos) << *why;

  auto newer = with([](sdk::AbiBlock& b) { std::strcpy(b.keel_version, "99.0.0"); });
  why = abi_mismatch(newer, host_abi());
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("built for Keel 99.0.0, this is Keel " KEEL_VERSION), std::string::npos)
      << *why;

  auto magic = with([](sdk::AbiBlock& b) { b.magic[0] = 'X'; });
  EXPECT_NE(abi_mismatch(magic, host_abi())->find("bad magic"), std::string::npos);
}

TEST(Abi, UnterminatedFieldsAreReadWithinTheirSize) {
  auto b = with([](sdk::AbiBlock& b) { std::memset(b.compiler, 'x', sizeof b.compiler); });
  auto why = abi_mismatch(b, host_abi());
  ASSERT_TRUE(why);
  EXPECT_NE(why->find(std::string(sizeof b.compiler, 'x') + ","), std::string::npos) << *why;
}

TEST(SdkValue, JsonTextOfValuesAndRecords) {
  sdk::Record r{{"name", "a \"b\"\n"},          {"n", 3},          {"x", 0.1},
                {"ids", sdk::Value::Ids{1, 2}}, {"none", nullptr}, {"ok", true}};
  EXPECT_EQ(sdk::to_json(r),
            R"({"ids":[1,2],"n":3,"name":"a \"b\"\u000a","none":null,"ok":true,"x":0.1})");
  EXPECT_EQ(r.id(), 0);
  EXPECT_DOUBLE_EQ(sdk::Value("12.50").as_number(), 12.5);
  EXPECT_THROW(sdk::Value("12x").as_number(), std::invalid_argument);
  EXPECT_THROW(sdk::Value(1).as_string(), std::invalid_argument);
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every ```cpp block of docs/native.md that starts with "// from <file>" is a verbatim excerpt
// of that file, which the build compiles (so the examples compile and the tests run them).
TEST(NativeDocs, CppExamplesAreExcerptsOfBuiltFiles) {
  std::filesystem::path root = KEEL_SOURCE_DIR;
  std::istringstream doc(read_text(root / "docs/native.md"));
  int blocks = 0;
  std::string line, source, text;
  bool in_block = false;
  for (int n = 1; std::getline(doc, line); ++n) {
    if (!in_block && line == "```cpp") {
      in_block = true;
      source.clear();
      text.clear();
    } else if (in_block && line == "```") {
      in_block = false;
      if (source.empty()) continue;
      ++blocks;
      std::string file = read_text(root / source);
      EXPECT_NE(file.find(text), std::string::npos)
          << "docs/native.md:" << n << ": the example is not in " << source << ":\n"
          << text;
    } else if (in_block && source.empty() && text.empty() && line.rfind("// from ", 0) == 0) {
      source = line.substr(8);
    } else if (in_block) {
      text += line + "\n";
    }
  }
  EXPECT_GE(blocks, 5);
}

}  // namespace
}  // namespace keel::native
