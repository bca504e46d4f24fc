// common/json.hpp: a small, strict JSON (RFC 8259) reader and writer.
//
// Used to validate caller-supplied JSON (exam configs, event payloads) the same way on every
// backend, to encode write-behind operations for the journal and the dead-letter store, and to
// read import files. Values remember the line and column where they start, so an import can
// name the line of every bad record.
//
// Strict: no comments, no trailing commas, no NaN/Infinity, no leading zeros, strings must be
// valid UTF-8 with valid escapes (surrogate pairs checked), nesting at most 256 deep, duplicate
// object keys are allowed (kept in order; find() returns the last), nothing after the value but
// whitespace.
//
// Thread-safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examstore::json {

struct Value {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  std::string text;          ///< kString: the decoded string; kNumber: the number as written
  std::vector<Value> items;  ///< kArray
  std::vector<std::pair<std::string, Value>> members;  ///< kObject, in document order
  std::size_t line = 1;                                ///< where the value starts, 1-based
  std::size_t column = 1;                              ///< 1-based, in bytes

  bool is_null() const { return type == Type::kNull; }
  bool is_string() const { return type == Type::kString; }
  bool is_number() const { return type == Type::kNumber; }
  bool is_object() const { return type == Type::kObject; }
  bool is_array() const { return type == Type::kArray; }
  /// The member named `key` (the last one when repeated), or nullptr. Only for objects.
  const Value* find(std::string_view key) const;
  /// The number as an integer when it is one exactly (no fraction, no exponent, in range).
  std::optional<std::int64_t> as_int64() const;
  /// The number as a double (kNumber only).
  std::optional<double> as_double() const;
};

/// Where and why a document is not valid JSON.
struct ParseError {
  std::size_t line = 1;
  std::size_t column = 1;
  std::string message;  ///< e.g. "expected ',' or '}' after an object member"
  /// "line L, column C: message"
  std::string describe() const;
};

/// Parses a whole document. Throws examstore::Error(kInvalidArgument, operation "json") whose
/// message is ParseError::describe().
Value parse(std::string_view text);
/// nullopt when `text` is one valid JSON document, else where it fails. Does not build values.
std::optional<ParseError> validate(std::string_view text);

/// A number as JSON: the shortest form that reads back as the same double, "null" when it is
/// not finite.
std::string number(double v);

/// `s` as a JSON string literal with quotes; escapes '"', '\\' and control characters
/// (\n \r \t \b \f, others as \u00XX); other bytes are copied as they are.
std::string quote(std::string_view s);

/// `v` written back as compact JSON: numbers as they were written, strings re-quoted, members
/// in their order, no spaces.
std::string write(const Value& v);

/// Builds one JSON object: {"a":1,"b":"x"} (no spaces).
class ObjectWriter {
 public:
  ObjectWriter& add(std::string_view key, std::string_view value);  ///< string member
  ObjectWriter& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  ObjectWriter& add(std::string_view key, std::int64_t value);
  ObjectWriter& add(std::string_view key, int value) {
    return add(key, static_cast<std::int64_t>(value));
  }
  ObjectWriter& add(std::string_view key, bool value);
  ObjectWriter& add_null(std::string_view key);
  /// Adds `raw_json` unchanged as the member's value (it must be valid JSON).
  ObjectWriter& add_raw(std::string_view key, std::string_view raw_json);
  /// The finished object.
  std::string str() const { return out_ + "}"; }

 private:
  void key(std::string_view k);
  std::string out_ = "{";
};

}  // namespace examstore::json
