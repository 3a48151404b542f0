#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

namespace keel::testing {

// Parses an answer's JSON; a parse error fails the test (and names the text).
inline rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

}  // namespace keel::testing
