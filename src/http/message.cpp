#include "http/message.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace keel::http {

std::optional<std::string> Request::query_value(std::string_view name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::string_view Request::header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string_view{} : std::string_view(it->second);
}

const std::string& Request::param(std::string_view name) const {
  static const std::string empty;
  auto it = params.find(name);
  return it == params.end() ? empty : it->second;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::defer(std::function<Response()> work) {
  Response r;
  r.deferred = std::move(work);
  return r;
}

Response Response::block(std::function<Response()> work) {
  Response r;
  r.blocking = std::move(work);
  return r;
}

Response Response::await(std::function<void(Resume)> start) {
  Response r;
  r.pending = std::move(start);
  return r;
}

Response Response::problem(int status, std::string_view type, std::string_view title,
                           std::string_view detail,
                           const std::vector<std::pair<std::string, std::string>>& errors,
                           std::string_view hint) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto str = [&](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("type");
  str("urn:keel:problem:" + std::string(type));
  w.Key("title");
  str(title);
  w.Key("status");
  w.Int(status);
  w.Key("detail");
  str(detail);
  if (!hint.empty()) {  // what to do about it (contract §5)
    w.Key("hint");
    str(hint);
  }
  if (!errors.empty()) {
    w.Key("errors");
    w.StartArray();
    for (const auto& [field, message] : errors) {
      w.StartObject();
      w.Key("field");
      str(field);
      w.Key("message");
      str(message);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  Response r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body.assign(buffer.GetString(), buffer.GetSize());
  return r;
}

std::optional<std::string> url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string, std::less<>>> parse_query(std::string_view q) {
  std::map<std::string, std::string, std::less<>> out;
  size_t start = 0;
  while (start < q.size()) {
    size_t end = q.find('&', start);
    if (end == std::string_view::npos) end = q.size();
    std::string_view pair = q.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = url_decode(pair.substr(0, eq), true);
    auto value = url_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    out[*key] = std::move(*value);
  }
  return out;
}

int status_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
    case ErrorKind::kBadInput:
    case ErrorKind::kLimits:
      return 400;
    case ErrorKind::kUnauthenticated:
      return 401;
    case ErrorKind::kForbidden:
      return 403;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kFailed:
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kInvalid:
      return 422;
    case ErrorKind::kTooMany:
      return 429;
    case ErrorKind::kInternal:
      return 500;
    case ErrorKind::kUnavailable:
      return 503;
    case ErrorKind::kTimeout:
      return 504;
  }
  return 500;
}

int status_of(const Error& error) {
  return status_of(error.kind());
}

Response problem_of(const Error& error) {
  std::vector<std::pair<std::string, std::string>> errors;
  for (const auto& fe : error.field_errors())
    errors.emplace_back(fe.field, fe.message);
  int status = status_of(error);
  std::string detail = error.what();
  if (!error.detail().empty()) detail += " (" + error.detail() + ")";
  auto r =
      Response::problem(status, error.code(), status_title(status), detail, errors, error.hint());
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

std::string_view status_title(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace keel::http
