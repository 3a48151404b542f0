#pragma once

// The one way Keel reads JSON that comes from outside (request bodies, filters, tokens, view
// customisations, module bodies) and the JSON it stores for clients (json fields): parsed
// iteratively, UTF-8 validated, and refused past a nesting limit while parsing, so that no input
// can make a parser, a writer or a walk over the value recurse without bound
// (docs/configuration.md "[limits]").

#include <rapidjson/document.h>

#include <string>
#include <string_view>
#include <vector>

namespace keel::json {

struct Limits {
  // Arrays and objects inside one another in a request's own structure (a body, a filter, a
  // token, a view): the top-level value counts as level 1.
  int depth = 64;
  // The same for the value of a `json` field, counted from the value itself.
  int value_depth = 256;
};

// Levels Keel's own answers add around json values (a page: object, data, record, ...), allowed
// when Keel reads an answer of its own again (native modules, computed fields).
constexpr int kEnvelopeDepth = 8;

// The limits of this process (set once at start from the configuration, before any thread).
const Limits& limits();
void set_limits(const Limits& limits);

// The outcome of a parse: `ok`, else a message and whether the nesting limit was the cause.
struct ParseResult {
  bool ok = true;
  bool too_deep = false;
  std::size_t offset = 0;
  std::string message;  // "at offset 12: Missing a name for object member." or the limit
};

// Parses `text` into `doc`, refusing values nested deeper than `max_depth`. When the top-level
// value is an object and `members` is given, members->at(i) is the exact source text of the
// i-th member's value (numbers keep every digit there; see exact_number).
ParseResult try_parse(rapidjson::Document& doc, std::string_view text, int max_depth,
                      std::vector<std::string_view>* members = nullptr);

// As try_parse, but throws ApiError bad_input: `code` for a syntax error (naming `what` and the
// offset), `limits.json_depth` when the nesting limit is exceeded (naming the limit).
void parse(rapidjson::Document& doc, std::string_view text, std::string_view what,
           const std::string& code, int max_depth,
           std::vector<std::string_view>* members = nullptr);
// With limits().depth.
void parse(rapidjson::Document& doc, std::string_view text, std::string_view what,
           const std::string& code);

// Levels of arrays and objects in `v` (a scalar is 0, [] is 1), counted without recursion.
int depth(const rapidjson::Value& v);

}  // namespace keel::json
