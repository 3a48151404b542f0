#include "install/bulk.hpp"

#include "app/error.hpp"

namespace keel::install {

BulkRows& BulkRows::add(std::vector<std::optional<std::string>> row) {
  KEEL_ASSERT(row.size() == columns_.size(), "a bulk row has a value for each column");
  values_.resize(columns_.size());
  for (std::size_t c = 0; c < row.size(); ++c)
    values_[c].push_back(std::move(row[c]));
  ++rows_;
  return *this;
}

std::string BulkRows::source(db::Params& params) const {
  std::string arrays, names;
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    params.add(
        text_array(values_.empty() ? std::vector<std::optional<std::string>>{} : values_[c]));
    arrays += (c ? ", $" : "$") + std::to_string(params.size()) + "::text[]";
    names += (c ? ", " : "") + db::quote_ident(columns_[c]);
  }
  return "unnest(" + arrays + ") AS x(" + names + ")";
}

std::string text_array(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace keel::install
