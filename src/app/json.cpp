#include "app/json.hpp"

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "app/error.hpp"

namespace keel::json {

namespace {

Limits g_limits;

using Stream = rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;

// Forwards every event to the document, counting levels (failing past the limit) and noting
// where each member value of a top-level object starts and ends in the text.
class BoundedHandler {
 public:
  BoundedHandler(rapidjson::Document& doc, const Stream& stream, std::string_view text,
                 int max_depth, std::vector<std::string_view>* members)
      : doc_(doc), stream_(stream), text_(text), max_depth_(max_depth), members_(members) {}

  bool too_deep() const { return too_deep_; }

  bool Null() { return doc_.Null() && value_done(false); }
  bool Bool(bool b) { return doc_.Bool(b) && value_done(false); }
  bool Int(int i) { return doc_.Int(i) && value_done(false); }
  bool Uint(unsigned i) { return doc_.Uint(i) && value_done(false); }
  bool Int64(std::int64_t i) { return doc_.Int64(i) && value_done(false); }
  bool Uint64(std::uint64_t i) { return doc_.Uint64(i) && value_done(false); }
  bool Double(double d) { return doc_.Double(d) && value_done(false); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.RawNumber(s, n, copy) && value_done(false);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.String(s, n, copy) && value_done(false);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (depth_ == 1 && root_object_) key_end_ = stream_.Tell();
    return doc_.Key(s, n, copy);
  }
  bool StartObject() {
    if (!open()) return false;
    if (depth_ == 1 && first_) root_object_ = true;
    first_ = false;
    return doc_.StartObject();
  }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndObject(n) && value_done(true);
  }
  bool StartArray() {
    if (!open()) return false;
    first_ = false;
    return doc_.StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndArray(n) && value_done(true);
  }

 private:
  bool open() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }
  // A value ended; at level 1 of a top-level object it is a member's value. A closing bracket
  // is reported before the reader takes it: it belongs to the value.
  bool value_done(bool closing) {
    first_ = false;
    if (!members_ || !root_object_ || depth_ != 1) return true;
    std::size_t end = stream_.Tell() + (closing ? 1 : 0);
    std::size_t begin = key_end_;
    while (begin < end && (text_[begin] == ':' || text_[begin] == ' ' || text_[begin] == '\t' ||
                           text_[begin] == '\r' || text_[begin] == '\n'))
      ++begin;
    members_->push_back(text_.substr(begin, end - begin));
    return true;
  }

  rapidjson::Document& doc_;
  const Stream& stream_;
  std::string_view text_;
  int max_depth_;
  std::vector<std::string_view>* members_;
  int depth_ = 0;
  bool first_ = true;
  bool root_object_ = false;
  bool too_deep_ = false;
  std::size_t key_end_ = 0;
};

}  // namespace

const Limits& limits() {
  return g_limits;
}

void set_limits(const Limits& limits) {
  g_limits = limits;
}

ParseResult try_parse(rapidjson::Document& doc, std::string_view text, int max_depth,
                      std::vector<std::string_view>* members) {
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;
  if (members) members->clear();
  rapidjson::MemoryStream memory(text.data(), text.size());
  Stream stream(memory);
  ParseResult result;
  auto generate = [&](rapidjson::Document& target) {
    BoundedHandler handler(target, stream, text, max_depth, members);
    rapidjson::Reader reader;
    rapidjson::ParseResult r = reader.Parse<kFlags>(stream, handler);
    if (!r.IsError()) return true;
    result.ok = false;
    result.offset = r.Offset();
    result.too_deep = handler.too_deep();
    result.message = result.too_deep ? "nested deeper than " + std::to_string(max_depth) +
                                           " levels (offset " + std::to_string(r.Offset()) + ")"
                                     : "at offset " + std::to_string(r.Offset()) + ": " +
                                           rapidjson::GetParseError_En(r.Code());
    return false;
  };
  doc.SetNull();
  doc.Populate(generate);
  if (!result.ok && members) members->clear();
  return result;
}

void parse(rapidjson::Document& doc, std::string_view text, std::string_view what,
           const std::string& code, int max_depth, std::vector<std::string_view>* members) {
  ParseResult r = try_parse(doc, text, max_depth, members);
  if (r.ok) return;
  if (r.too_deep)
    throw ApiError(ErrorKind::kLimits, "limits.json_depth", std::string(what) + " is " + r.message,
                   "send flatter JSON; the limits are limits.json_depth and "
                   "limits.json_value_depth in the configuration");
  throw ApiError(ErrorKind::kBadInput, code,
                 "malformed JSON in " + std::string(what) + " " + r.message);
}

void parse(rapidjson::Document& doc, std::string_view text, std::string_view what,
           const std::string& code) {
  parse(doc, text, what, code, limits().depth);
}

int depth(const rapidjson::Value& v) {
  // Each entry: a container and the level it sits at.
  std::vector<std::pair<const rapidjson::Value*, int>> stack{{&v, 0}};
  int deepest = 0;
  while (!stack.empty()) {
    auto [value, level] = stack.back();
    stack.pop_back();
    if (value->IsArray()) {
      deepest = std::max(deepest, level + 1);
      for (const auto& item : value->GetArray())
        if (item.IsArray() || item.IsObject()) stack.emplace_back(&item, level + 1);
    } else if (value->IsObject()) {
      deepest = std::max(deepest, level + 1);
      for (const auto& m : value->GetObject())
        if (m.value.IsArray() || m.value.IsObject()) stack.emplace_back(&m.value, level + 1);
    }
  }
  return deepest;
}

}  // namespace keel::json
