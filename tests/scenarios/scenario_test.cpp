// Declarative scenarios, in the style of DuckDB's sqllogictest: every folder of tests/scenarios
// with a `scenario.test` is one test case (`Scenarios/Scenario.Run/<folder>`), run against a
// fresh database of the run's private cluster. The format is described in docs/testing.md;
// in short, steps separated by blank lines, each a command line, optional body lines, and after
// a `----` line what must come out:
//
//   keel module install shop           the real `keel` binary, with --db and --addons-path
//   ----
//   exit 0
//
//   request POST /api/v1/records/partner as alice   to a real `keel serve` process
//   {"name": "Ada", "credit": "12.50"}
//   ----
//   status 201
//   {"name": "Ada", "credit": "12.50"}
//
//   sql
//   SELECT name FROM partner
//   ----
//   [["Ada"]]
//
// A failed expectation is reported at the scenario file's line.

#include <gtest/gtest.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "support/auth.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/serve_process.hpp"

namespace keel {
namespace {
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// JSON with numbers kept as their text: 12.50 and 12.5 differ, and a number never equals a
// string ("12.50" is not 12.50), so that money stays exact in expectations.

struct Json {
  enum Kind { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject } kind = kNull;
  Json() = default;
  Json(Kind k, std::string t = {}) : kind(k), text(std::move(t)) {}
  std::string text;  // a number's or a string's text
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

class JsonBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, JsonBuilder> {
 public:
  bool Null() { return add({Json::kNull}); }
  bool Bool(bool b) { return add({b ? Json::kTrue : Json::kFalse}); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return add({Json::kNumber, std::string(s, n)});
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return add({Json::kString, std::string(s, n)});
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    keys_.emplace_back(s, n);
    return true;
  }
  bool StartObject() {
    open_.push_back({Json::kObject});
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() {
    open_.push_back({Json::kArray});
    return true;
  }
  bool EndArray(rapidjson::SizeType) { return close(); }

  Json root;

 private:
  bool add(Json v) {
    if (open_.empty()) {
      root = std::move(v);
    } else if (open_.back().kind == Json::kArray) {
      open_.back().items.push_back(std::move(v));
    } else {
      open_.back().members.emplace_back(std::move(keys_.back()), std::move(v));
      keys_.pop_back();
    }
    return true;
  }
  bool close() {
    Json v = std::move(open_.back());
    open_.pop_back();
    return add(std::move(v));
  }
  std::vector<Json> open_;
  std::vector<std::string> keys_;
};

// Parses `text`; nullopt and `error` set when it is not JSON.
std::optional<Json> parse_json(const std::string& text, std::string& error) {
  JsonBuilder builder;
  rapidjson::Reader reader;
  rapidjson::StringStream in(text.c_str());
  auto ok =
      reader.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseFullPrecisionFlag>(
          in, builder);
  if (ok.IsError()) {
    error = "not JSON (at offset " + std::to_string(ok.Offset()) + ")";
    return std::nullopt;
  }
  return std::move(builder.root);
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string to_text(const Json& v) {
  switch (v.kind) {
    case Json::kNull:
      return "null";
    case Json::kFalse:
      return "false";
    case Json::kTrue:
      return "true";
    case Json::kNumber:
      return v.text;
    case Json::kString:
      return quoted(v.text);
    case Json::kArray: {
      std::string out = "[";
      for (const auto& item : v.items)
        out += (out.size() > 1 ? ", " : "") + to_text(item);
      return out + "]";
    }
    case Json::kObject: {
      std::string out = "{";
      for (const auto& [name, item] : v.members)
        out += (out.size() > 1 ? ", " : "") + quoted(name) + ": " + to_text(item);
      return out + "}";
    }
  }
  return "";
}

// Whether `actual` matches `expected`: objects by subset (every expected member present and
// matching, other members ignored), arrays element by element with the same length, scalars
// exactly (numbers by their text). The first difference, as a path and a message, else "".
std::string mismatch(const Json& expected, const Json& actual, const std::string& path) {
  std::string where = path.empty() ? "$" : path;
  if (expected.kind != actual.kind)
    return where + ": expected " + to_text(expected) + ", got " + to_text(actual);
  switch (expected.kind) {
    case Json::kObject:
      for (const auto& [name, item] : expected.members) {
        auto it = std::find_if(actual.members.begin(), actual.members.end(),
                               [&](const auto& m) { return m.first == name; });
        if (it == actual.members.end())
          return where + ": member " + quoted(name) + " is missing in " + to_text(actual);
        std::string inner = mismatch(item, it->second, where + "." + name);
        if (!inner.empty()) return inner;
      }
      return "";
    case Json::kArray:
      if (expected.items.size() != actual.items.size())
        return where + ": expected " + std::to_string(expected.items.size()) + " items, got " +
               std::to_string(actual.items.size()) + ": " + to_text(actual);
      for (size_t i = 0; i < expected.items.size(); ++i) {
        std::string inner =
            mismatch(expected.items[i], actual.items[i], where + "[" + std::to_string(i) + "]");
        if (!inner.empty()) return inner;
      }
      return "";
    default:
      if (expected.text != actual.text)
        return where + ": expected " + to_text(expected) + ", got " + to_text(actual);
      return "";
  }
}

// ---------------------------------------------------------------------------------------------
// The file: steps separated by blank lines; `#` starts a comment line.

struct Line {
  int number = 0;
  std::string text;
};

struct Step {
  Line command;
  std::vector<Line> body;    // lines between the command and `----`
  std::vector<Line> expect;  // lines after `----`
  bool has_expect = false;
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

std::vector<Step> read_steps(const fs::path& file) {
  std::vector<Step> steps;
  std::ifstream in(file);
  std::string text;
  int number = 0;
  Step* open = nullptr;
  while (std::getline(in, text)) {
    ++number;
    std::string t = trim(text);
    if (t.empty()) {
      open = nullptr;
      continue;
    }
    if (t[0] == '#') continue;
    // Only `request` and `sql` take body lines: after another command a line other than
    // `----` starts the next step, so that `user` lines can follow one another.
    bool takes_body = open && (open->command.text.rfind("request", 0) == 0 ||
                               open->command.text.rfind("sql", 0) == 0);
    if (open && !open->has_expect && !takes_body && t != "----") open = nullptr;
    if (!open) {
      steps.push_back({{number, t}, {}, {}, false});
      open = &steps.back();
    } else if (t == "----") {
      open->has_expect = true;
    } else {
      (open->has_expect ? open->expect : open->body).push_back({number, text});
    }
  }
  return steps;
}

std::string joined(const std::vector<Line>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l.text + "\n";
  return out;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Percent-encodes what may not stand in a request target (so that a scenario can write
// `?filter={"name":"Ada"}`), keeping `%` so that encoded text passes as it is.
std::string encode_target(const std::string& target) {
  static const std::string kKeep = "-._~:/?#@!$&'()*+,;=%";
  std::string out;
  for (unsigned char c : target) {
    if (std::isalnum(c) || kKeep.find(static_cast<char>(c)) != std::string::npos) {
      out += static_cast<char>(c);
    } else {
      static const char* kHex = "0123456789ABCDEF";
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running a scenario.

class Runner {
 public:
  explicit Runner(fs::path dir) : dir_(std::move(dir)), file_((dir_ / "scenario.test").string()) {
    if (fs::exists(dir_ / "addons")) addons_ = dir_ / "addons";
  }

  void run() {
    auto steps = read_steps(file_);
    if (steps.empty()) fail(1, "no step");
    for (const auto& step : steps) {
      auto w = words(step.command.text);
      const std::string& verb = w[0];
      if (verb == "addons") {
        addons(step, w);
      } else if (verb == "keel") {
        keel(step, w);
      } else if (verb == "user") {
        user(step, w);
      } else if (verb == "request") {
        request(step, w);
      } else if (verb == "sql") {
        sql(step);
      } else {
        fail(step.command.number,
             "unknown step `" + verb + "` (addons, keel, user, request or sql; docs/testing.md)");
      }
      // Like sqllogictest, the first failed step ends the scenario: later ones would only
      // repeat its consequence.
      if (::testing::Test::HasFailure()) return;
    }
  }

 private:
  // A failure reported at the scenario file's line.
  void fail(int line, const std::string& message) {
    ADD_FAILURE_AT(file_.c_str(), line) << message;
  }

  std::string expand(const std::string& text) const {
    return replace_all(replace_all(text, "{addons}", addons_.string()), "{dir}", dir_.string());
  }

  // `addons PATH`: the addons directory of the following steps, relative to the scenario
  // folder; `fixture:NAME` is tests/fixtures/addons/NAME.
  void addons(const Step& step, const std::vector<std::string>& w) {
    if (w.size() != 2) return fail(step.command.number, "usage: addons PATH | addons fixture:NAME");
    fs::path path = w[1].rfind("fixture:", 0) == 0
                        ? fs::path(KEEL_FIXTURES_DIR "/addons") / w[1].substr(8)
                        : dir_ / w[1];
    if (!fs::is_directory(path))
      return fail(step.command.number, "no such addons directory: " + path.string());
    addons_ = path;
    server_.reset();
  }

  // `keel ARGS...`: the keel binary of this build with --db and --addons-path. Expectations:
  // `exit N` (0 when there is no `----`), `stdout TEXT`, `stderr TEXT` (substrings).
  void keel(const Step& step, const std::vector<std::string>& w) {
    server_.reset();  // the next request meets a server that loaded what this command did
    std::vector<std::string> args(w.begin() + 1, w.end());
    args.insert(args.end(), {"--db", database_.conninfo(), "--addons-path", addons_.string()});
    auto r = testing::run_keel(args, {}, dir_);
    std::string shown = step.command.text + "\n--- exit " + std::to_string(r.status) +
                        "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err + "---";
    bool exit_checked = false;
    for (const auto& line : step.expect) {
      std::string t = trim(line.text);
      auto space = t.find(' ');
      std::string key = t.substr(0, space);
      std::string value = space == std::string::npos ? "" : expand(trim(t.substr(space + 1)));
      if (key == "exit") {
        exit_checked = true;
        if (std::to_string(r.status) != value)
          fail(line.number, "expected exit " + value + "\n" + shown);
      } else if (key == "stdout" || key == "stderr") {
        const std::string& out = key == "stdout" ? r.out : r.err;
        if (out.find(value) == std::string::npos)
          fail(line.number, key + " lacks: " + value + "\n" + shown);
      } else {
        fail(line.number, "unknown expectation `" + key + "` of keel (exit, stdout, stderr)");
      }
    }
    if (!exit_checked && r.status != 0) fail(step.command.number, "expected exit 0\n" + shown);
  }

  // The id of the user `login`: one of a `user` step, or one that exists in the database
  // (`admin`, which the first `keel serve` on a database without users creates).
  std::optional<std::int64_t> user_id(const std::string& login) {
    if (auto it = users_.find(login); it != users_.end()) return it->second;
    auto conn = database_.connect();
    auto r = conn.exec("SELECT id FROM base_user WHERE login = $1", db::Params().add(login));
    if (r.rows() == 0) return std::nullopt;
    return users_[login] = r.get_int(0, 0);
  }

  // `user LOGIN ROLE...`: a user with these roles (base installed), password kTestPassword.
  void user(const Step& step, const std::vector<std::string>& w) {
    if (w.size() < 2) return fail(step.command.number, "usage: user LOGIN [ROLE...]");
    std::vector<std::string> roles(w.begin() + 2, w.end());
    try {
      auto conn = database_.connect();
      users_[w[1]] = testing::create_user(conn, w[1], roles);
    } catch (const std::exception& e) {
      fail(step.command.number, std::string("cannot create the user: ") + e.what());
    }
  }

  // `request METHOD TARGET [as LOGIN]`, the body on the following lines. Expectations:
  // `status N` (required), `problem CODE` (problem+json of type urn:keel:problem:CODE),
  // `header NAME VALUE`, `absent PATH` (no such member), then JSON that the answer must match
  // (docs/testing.md).
  void request(const Step& step, const std::vector<std::string>& w) {
    int at = step.command.number;
    if (w.size() != 3 && !(w.size() == 5 && w[3] == "as"))
      return fail(at, "usage: request METHOD TARGET [as LOGIN]");
    if (!step.has_expect) return fail(at, "a request needs `----` and at least `status N`");
    std::map<std::string, std::string> headers;
    if (w.size() == 5) {
      auto id = user_id(w[4]);
      if (!id) return fail(at, "no user " + w[4] + " (add a `user` step)");
      headers = testing::bearer(testing::token_for(*id));
    }
    std::string body = expand(joined(step.body));
    if (!body.empty()) headers["Content-Type"] = "application/json";
    if (!server_) {
      try {
        server_ = std::make_unique<testing::ServeProcess>(database_.conninfo(), addons_,
                                                          testing::kTestSecret);
      } catch (const std::exception& e) {
        return fail(at, e.what());
      }
    }
    auto reply =
        testing::http_request(server_->port(), w[1], encode_target(expand(w[2])), body, headers);
    std::string shown =
        step.command.text + "\n--- status " + std::to_string(reply.status) + "\n" + reply.body;
    if (reply.status >= 500 || reply.status == 0)
      shown += "\n--- keel serve:\n" + server_->log_text();

    bool status_checked = false;
    std::vector<Line> json_lines;
    for (const auto& line : step.expect) {
      std::string t = trim(line.text);
      if (!json_lines.empty() || t[0] == '{' || t[0] == '[') {
        json_lines.push_back(line);
        continue;
      }
      auto space = t.find(' ');
      std::string key = t.substr(0, space);
      std::string value = space == std::string::npos ? "" : expand(trim(t.substr(space + 1)));
      if (key == "status") {
        status_checked = true;
        if (std::to_string(reply.status) != value)
          fail(line.number, "expected status " + value + "\n" + shown);
      } else if (key == "problem") {
        std::string error;
        auto problem = parse_json(reply.body, error);
        Json shape(Json::kObject);
        shape.members.emplace_back("type", Json(Json::kString, "urn:keel:problem:" + value));
        if (reply.header("content-type") != "application/problem+json") {
          fail(line.number, "expected application/problem+json, got " +
                                reply.header("content-type") + "\n" + shown);
        } else if (!problem) {
          fail(line.number, "the problem is " + error + "\n" + shown);
        } else if (std::string diff = mismatch(shape, *problem, ""); !diff.empty()) {
          fail(line.number, "expected problem " + value + ": " + diff + "\n" + shown);
        }
      } else if (key == "absent") {
        // `absent a.b`: the answer has no member b in its member a.
        std::string error;
        auto answer = parse_json(reply.body, error);
        const Json* at_path = answer ? &*answer : nullptr;
        std::istringstream parts(value);
        for (std::string part; at_path && std::getline(parts, part, '.');) {
          auto it = std::find_if(at_path->members.begin(), at_path->members.end(),
                                 [&](const auto& m) { return m.first == part; });
          at_path = it == at_path->members.end() ? nullptr : &it->second;
        }
        if (!answer)
          fail(line.number, "the answer is " + error + "\n" + shown);
        else if (at_path)
          fail(line.number, "expected no " + value + "\n" + shown);
      } else if (key == "header") {
        auto sep = value.find(' ');
        std::string name = value.substr(0, sep);
        std::string expected = sep == std::string::npos ? "" : trim(value.substr(sep + 1));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (reply.header(name) != expected)
          fail(line.number, "expected header " + name + ": " + expected + ", got " +
                                reply.header(name) + "\n" + shown);
      } else {
        fail(line.number, "unknown expectation `" + key +
                              "` of request (status, problem, header, absent, JSON)");
      }
    }
    if (!status_checked) fail(at, "a request needs `status N` after `----`\n" + shown);
    if (!json_lines.empty()) expect_json(json_lines, reply.body, shown);
  }

  void expect_json(const std::vector<Line>& lines, const std::string& actual_text,
                   const std::string& shown) {
    int at = lines.front().number;
    std::string error;
    auto expected = parse_json(expand(joined(lines)), error);
    if (!expected) return fail(at, "the expected JSON is " + error);
    auto actual = parse_json(actual_text, error);
    if (!actual) return fail(at, "the answer is " + error + "\n" + shown);
    std::string diff = mismatch(*expected, *actual, "");
    if (!diff.empty()) fail(at, "JSON differs: " + diff + "\n" + shown);
  }

  // `sql`, the statements on the following lines, run on the test database. Expectations:
  // none (the statements must succeed), `error SQLSTATE`, or the rows as JSON: an array of
  // rows, each an array of the values' text (null for NULL), compared exactly.
  void sql(const Step& step) {
    int at = step.command.number;
    if (step.body.empty()) return fail(at, "sql needs statements on the following lines");
    std::string text = joined(step.body);
    std::optional<std::string> sqlstate;
    db::Result result;
    try {
      auto conn = database_.connect();
      result = conn.exec(text);
    } catch (const db::DbError& e) {
      sqlstate = e.sqlstate();
      if (step.expect.empty() || trim(step.expect.front().text).rfind("error", 0) != 0)
        return fail(at, std::string("the statement failed: ") + e.what());
    }
    if (step.expect.empty()) return;
    std::string first = trim(step.expect.front().text);
    if (first.rfind("error", 0) == 0) {
      std::string code = trim(first.substr(5));
      if (!sqlstate)
        fail(step.expect.front().number, "expected error " + code + ", the statement succeeded");
      else if (!code.empty() && *sqlstate != code)
        fail(step.expect.front().number, "expected error " + code + ", got " + *sqlstate);
      return;
    }
    Json rows{Json::kArray};
    for (int r = 0; r < result.rows(); ++r) {
      Json row{Json::kArray};
      for (int c = 0; c < result.columns(); ++c)
        row.items.push_back(result.is_null(r, c)
                                ? Json{Json::kNull}
                                : Json{Json::kString, std::string(result.get(r, c))});
      rows.items.push_back(std::move(row));
    }
    std::string shown = text + "--- rows: " + to_text(rows);
    expect_json(step.expect, to_text(rows), shown);
  }

  fs::path dir_;
  std::string file_;
  fs::path addons_;
  testing::TestDatabase database_;
  std::unique_ptr<testing::ServeProcess> server_;
  std::map<std::string, std::int64_t> users_;
};

std::vector<fs::path> scenario_directories() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(KEEL_SOURCE_DIR "/tests/scenarios"))
    if (entry.is_directory() && fs::exists(entry.path() / "scenario.test"))
      out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

class Scenario : public ::testing::TestWithParam<fs::path> {};

TEST_P(Scenario, Run) {
  Runner(GetParam()).run();
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Scenario, ::testing::ValuesIn(scenario_directories()),
                         [](const ::testing::TestParamInfo<fs::path>& info) {
                           std::string name = info.param.filename().string();
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// docs/testing.md shows tests/scenarios/docs_example/scenario.test, which must stay the same
// text: the example of the documentation is a tested scenario.
TEST(ScenarioDocs, TheExampleOfTheDocsIsATestedScenario) {
  auto read = [](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  std::string doc = read(KEEL_SOURCE_DIR "/docs/testing.md");
  const std::string marker = "<!-- scenario: docs_example -->\n```text\n";
  auto start = doc.find(marker);
  ASSERT_NE(start, std::string::npos) << "docs/testing.md lacks the marked example";
  start += marker.size();
  auto end = doc.find("```\n", start);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(doc.substr(start, end - start),
            read(KEEL_SOURCE_DIR "/tests/scenarios/docs_example/scenario.test"));
}

// The runner itself: subset matching and exact numbers.
TEST(ScenarioJson, NumbersAreComparedAsTextAndNeverEqualStrings) {
  std::string error;
  auto j = [&](const std::string& text) { return *parse_json(text, error); };
  EXPECT_EQ(mismatch(j(R"({"a": 12.50})"), j(R"({"a": 12.50, "b": 1})"), ""), "");
  EXPECT_NE(mismatch(j(R"({"a": 12.50})"), j(R"({"a": 12.5})"), ""), "");
  EXPECT_NE(mismatch(j(R"({"a": "12.50"})"), j(R"({"a": 12.50})"), ""), "");
  EXPECT_NE(mismatch(j(R"({"a": 1})"), j(R"({"b": 1})"), ""), "");
  EXPECT_NE(mismatch(j("[1, 2]"), j("[1, 2, 3]"), ""), "");
  EXPECT_NE(mismatch(j("[true]"), j("[false]"), ""), "");
  EXPECT_EQ(mismatch(j(R"([{"id": 1}])"), j(R"([{"id": 1, "x": null}])"), ""), "");
  EXPECT_EQ(mismatch(j(R"({"n": 123456789012345678901234567890})"),
                     j(R"({"n": 123456789012345678901234567890})"), ""),
            "");
  EXPECT_NE(mismatch(j(R"({"n": 123456789012345678901234567890})"),
                     j(R"({"n": 123456789012345678901234567891})"), ""),
            "");
  EXPECT_FALSE(parse_json("{", error).has_value());
}

}  // namespace
}  // namespace keel
