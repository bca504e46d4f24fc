// db/pg_text.hpp: SQL fragments and array literals shared by the PostgreSQL stores. Times travel
// as bigint microseconds since the epoch; batches travel as one array parameter per column.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "db/store_checks.hpp"
#include "examstore/model.hpp"

namespace examstore::db {

/// The timestamptz for a bigint of microseconds since the epoch (`expr` is a parameter such as
/// "$2" or a column). Split into whole seconds and the rest so that the float8 multiplication
/// of interval stays exact at any date.
inline std::string ts(const std::string& expr) {
  return "('epoch'::timestamptz + (" + expr + ")::bigint / 1000000 * interval '1 second' + (" +
         expr + ")::bigint % 1000000 * interval '1 microsecond')";
}
/// A timestamptz column as bigint microseconds since the epoch (extract gives numeric: exact).
inline std::string us(const std::string& column) {
  return "(extract(epoch from " + column + ") * 1000000)::bigint";
}

/// A PostgreSQL array literal ("{...}") for one column of a batch. Text elements are always
/// double-quoted with '"' and '\' escaped, so any text (commas, braces, quotes, the word NULL)
/// arrives unchanged; NULL is the bare word.
class ArrayText {
 public:
  explicit ArrayText(std::size_t rows) { out_.reserve(rows * 8 + 2); }
  void add(std::int64_t v) {
    sep();
    out_ += std::to_string(v);
  }
  void add(std::string_view s) {
    sep();
    out_ += '"';
    for (const char c : s) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
  }
  void add(const std::optional<TimePoint>& t) {
    if (t) {
      add(check::to_micros(*t));
    } else {
      sep();
      out_ += "NULL";
    }
  }
  std::string str() const { return out_ + "}"; }

 private:
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string out_ = "{";
  bool first_ = true;
};

}  // namespace examstore::db
