// The JSON reader and writer declared in json.hpp.
//
// One recursive-descent reader serves parse() and validate(): it is a template on whether it
// builds values, so validate() makes exactly the same checks (and reports exactly the same
// errors) without allocating. Recursion is bounded: a container is refused before descending
// when it would be nested deeper than kMaxDepth, so hostile input cannot exhaust the stack.
#include "common/json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "examstore/error.hpp"

namespace examstore::json {
namespace {

constexpr std::size_t kMaxDepth = 256;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string hex_byte(unsigned char c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  s += kDigits[c >> 4];
  s += kDigits[c & 0xf];
  return s;
}

// How a byte the reader did not expect is named in a message: 'x' when printable ASCII.
std::string name_byte(unsigned char c) {
  if (c > 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  return "byte " + hex_byte(c);
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

template <bool kBuild>
class Reader {
 public:
  explicit Reader(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()), line_start_(text.data()) {}

  // True when the whole text is one JSON value, which (when building) is stored in `out`.
  bool read_document(Value* out) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xef\xbb\xbf", 3) == 0) {
      return fail(here(p_), "a byte order mark is not allowed");
    }
    skip_whitespace();
    if (!read_value(out, 0)) return false;
    skip_whitespace();
    if (p_ != end_) return fail(here(p_), "unexpected text after the JSON value");
    return true;
  }

  const ParseError& error() const { return error_; }

 private:
  struct Pos {
    std::size_t line;
    std::size_t column;
  };

  // Valid only for `at` on the current line; everything before a line break is behind us.
  Pos here(const char* at) const { return {line_, static_cast<std::size_t>(at - line_start_) + 1}; }

  bool fail(Pos pos, std::string message) {
    error_.line = pos.line;
    error_.column = pos.column;
    error_.message = std::move(message);
    return false;
  }

  // At a place where only `what` may come next (punctuation between values).
  bool fail_expected(const char* what) {
    if (p_ == end_) return fail(here(p_), std::string("unexpected end of input; expected ") + what);
    if (*p_ == '/') return fail(here(p_), "comments are not allowed");
    return fail(here(p_), std::string("expected ") + what);
  }

  bool starts_with(std::string_view word) const {
    return static_cast<std::size_t>(end_ - p_) >= word.size() &&
           std::memcmp(p_, word.data(), word.size()) == 0;
  }

  void skip_whitespace() {
    while (p_ != end_) {
      const char c = *p_;
      if (c == ' ' || c == '\t' || c == '\r') {
        ++p_;
      } else if (c == '\n') {
        ++p_;
        ++line_;
        line_start_ = p_;
      } else {
        break;
      }
    }
  }

  // `depth` is the number of containers around the value.
  bool read_value(Value* out, std::size_t depth) {
    if (p_ == end_) return fail(here(p_), "unexpected end of input; expected a JSON value");
    if constexpr (kBuild) {
      out->line = line_;
      out->column = here(p_).column;
    }
    switch (*p_) {
      case '{':
        return read_object(out, depth + 1);
      case '[':
        return read_array(out, depth + 1);
      case '"': {
        std::string* text = nullptr;
        if constexpr (kBuild) {
          out->type = Value::Type::kString;
          text = &out->text;
        }
        return read_string(text);
      }
      case 't':
        return read_literal("true", out, Value::Type::kBool, true);
      case 'f':
        return read_literal("false", out, Value::Type::kBool, false);
      case 'n':
        return read_literal("null", out, Value::Type::kNull, false);
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9':
        return read_number(out);
      default:
        return fail_value_start();
    }
  }

  // Names the usual mistakes (JavaScript habits) instead of just the unexpected byte.
  bool fail_value_start() {
    const Pos pos = here(p_);
    const char c = *p_;
    if (c == '\'') return fail(pos, "strings must use double quotes, not single quotes");
    if (c == '/') return fail(pos, "comments are not allowed");
    if (starts_with("NaN")) return fail(pos, "NaN is not allowed");
    if (starts_with("Infinity")) return fail(pos, "Infinity is not allowed");
    if (c == '+') return fail(pos, "a number must not start with '+'");
    if (c == '.') return fail(pos, "a number must start with a digit");
    return fail(pos, "expected a JSON value, found " + name_byte(static_cast<unsigned char>(c)));
  }

  bool read_literal(std::string_view word, Value* out, Value::Type type, bool boolean) {
    if (!starts_with(word)) {
      return fail(here(p_), "invalid literal; expected '" + std::string(word) + "'");
    }
    p_ += word.size();
    if constexpr (kBuild) {
      out->type = type;
      out->boolean = boolean;
    }
    return true;
  }

  bool read_number(Value* out) {
    const char* start = p_;
    if (*p_ == '-') {
      ++p_;
      if (starts_with("Infinity")) return fail(here(start), "Infinity is not allowed");
      if (p_ == end_ || !is_digit(*p_)) return fail(here(p_), "expected a digit after '-'");
    }
    if (*p_ == '0') {
      ++p_;
      if (p_ != end_ && is_digit(*p_)) return fail(here(p_ - 1), "leading zeros are not allowed");
    } else {
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) {
        return fail(here(p_), "expected a digit after the decimal point");
      }
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) return fail(here(p_), "expected a digit in the exponent");
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if constexpr (kBuild) {
      out->type = Value::Type::kNumber;
      out->text.assign(start, p_);
    }
    return true;
  }

  // Appends the decoded string to `out` when building (else `out` is null).
  bool read_string(std::string* out) {
    const char* open = p_;
    ++p_;
    for (;;) {
      // The common case first: a run of bytes that stand for themselves.
      const char* run = p_;
      while (p_ != end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
        ++p_;
      }
      if constexpr (kBuild) out->append(run, p_);
      if (p_ == end_) return fail(here(open), "unterminated string");
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!read_escape(open, out)) return false;
      } else if (c < 0x20) {
        return fail(here(p_), "control character " + hex_byte(c) + " must be escaped in a string");
      } else {
        const char* sequence = p_;
        if (!read_utf8_sequence()) return false;
        if constexpr (kBuild) out->append(sequence, p_);
      }
    }
  }

  bool read_escape(const char* open, std::string* out) {
    const char* backslash = p_;
    ++p_;
    if (p_ == end_) return fail(here(open), "unterminated string");
    const char c = *p_++;
    char decoded = 0;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        decoded = c;
        break;
      case 'b':
        decoded = '\b';
        break;
      case 'f':
        decoded = '\f';
        break;
      case 'n':
        decoded = '\n';
        break;
      case 'r':
        decoded = '\r';
        break;
      case 't':
        decoded = '\t';
        break;
      case 'u':
        return read_unicode_escape(backslash, out);
      default: {
        const auto byte = static_cast<unsigned char>(c);
        if (byte > 0x20 && byte < 0x7f) {
          return fail(here(backslash), std::string("invalid escape '\\") + c + "'");
        }
        return fail(here(backslash), "invalid escape: '\\' followed by byte " + hex_byte(byte));
      }
    }
    if constexpr (kBuild) out->push_back(decoded);
    return true;
  }

  // Reads the four hex digits after "\u" (p_ is just past the 'u').
  bool read_hex4(const char* backslash, std::uint32_t& value) {
    value = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = p_ == end_ ? -1 : hex_value(*p_);
      if (digit < 0) return fail(here(backslash), "expected four hex digits after '\\u'");
      value = value * 16 + static_cast<std::uint32_t>(digit);
      ++p_;
    }
    return true;
  }

  bool read_unicode_escape(const char* backslash, std::string* out) {
    std::uint32_t cp = 0;
    if (!read_hex4(backslash, cp)) return false;
    const auto unpaired = [&] {
      return fail(here(backslash), "unpaired surrogate " + std::string(backslash, 6));
    };
    if (cp >= 0xdc00 && cp <= 0xdfff) return unpaired();
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (!starts_with("\\u")) return unpaired();
      const char* second = p_;
      p_ += 2;
      std::uint32_t low = 0;
      if (!read_hex4(second, low)) return false;
      if (low < 0xdc00 || low > 0xdfff) return unpaired();
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    if constexpr (kBuild) append_utf8(*out, cp);
    return true;
  }

  // One multi-byte UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF).
  bool read_utf8_sequence() {
    const auto lead = static_cast<unsigned char>(*p_);
    int continuation = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    const char* why = "";
    if (lead >= 0xc2 && lead <= 0xdf) {
      continuation = 1;
    } else if (lead == 0xe0) {
      continuation = 2;
      low = 0xa0;
      why = " (overlong encoding)";
    } else if ((lead >= 0xe1 && lead <= 0xec) || lead == 0xee || lead == 0xef) {
      continuation = 2;
    } else if (lead == 0xed) {
      continuation = 2;
      high = 0x9f;
      why = " (encoded surrogate)";
    } else if (lead == 0xf0) {
      continuation = 3;
      low = 0x90;
      why = " (overlong encoding)";
    } else if (lead >= 0xf1 && lead <= 0xf3) {
      continuation = 3;
    } else if (lead == 0xf4) {
      continuation = 3;
      high = 0x8f;
      why = " (beyond U+10FFFF)";
    } else {
      return fail(here(p_), "invalid UTF-8 byte " + hex_byte(lead));
    }
    for (int i = 1; i <= continuation; ++i) {
      if (end_ - p_ <= i) {
        return fail(here(p_), "incomplete UTF-8 sequence starting with byte " + hex_byte(lead));
      }
      const auto byte = static_cast<unsigned char>(p_[i]);
      if (byte < 0x80 || byte > 0xbf) {
        return fail(here(p_), "incomplete UTF-8 sequence starting with byte " + hex_byte(lead));
      }
      if (i == 1 && (byte < low || byte > high)) {
        return fail(here(p_), "invalid UTF-8 sequence starting with byte " + hex_byte(lead) + why);
      }
    }
    p_ += continuation + 1;
    return true;
  }

  bool read_array(Value* out, std::size_t depth) {
    if (depth > kMaxDepth) return fail(here(p_), "nesting deeper than 256");
    if constexpr (kBuild) out->type = Value::Type::kArray;
    ++p_;
    skip_whitespace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      Value* item = nullptr;
      if constexpr (kBuild) item = &out->items.emplace_back();
      if (!read_value(item, depth)) return false;
      skip_whitespace();
      if (p_ != end_ && *p_ == ']') {
        ++p_;
        return true;
      }
      if (p_ == end_ || *p_ != ',') return fail_expected("',' or ']' after an array element");
      const Pos comma = here(p_);
      ++p_;
      skip_whitespace();
      if (p_ != end_ && *p_ == ']') return fail(comma, "trailing comma before ']'");
    }
  }

  bool read_object(Value* out, std::size_t depth) {
    if (depth > kMaxDepth) return fail(here(p_), "nesting deeper than 256");
    if constexpr (kBuild) out->type = Value::Type::kObject;
    ++p_;
    skip_whitespace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    bool first = true;
    for (;;) {
      if (p_ == end_ || *p_ != '"') {
        if (p_ != end_ && *p_ == '\'') {
          return fail(here(p_), "strings must use double quotes, not single quotes");
        }
        return fail_expected(first ? "a string key or '}'" : "a string key");
      }
      first = false;
      std::string* key = nullptr;
      Value* value = nullptr;
      if constexpr (kBuild) {
        auto& member = out->members.emplace_back();
        key = &member.first;
        value = &member.second;
      }
      if (!read_string(key)) return false;
      skip_whitespace();
      if (p_ == end_ || *p_ != ':') return fail_expected("':' after an object key");
      ++p_;
      skip_whitespace();
      if (!read_value(value, depth)) return false;
      skip_whitespace();
      if (p_ != end_ && *p_ == '}') {
        ++p_;
        return true;
      }
      if (p_ == end_ || *p_ != ',') return fail_expected("',' or '}' after an object member");
      const Pos comma = here(p_);
      ++p_;
      skip_whitespace();
      if (p_ != end_ && *p_ == '}') return fail(comma, "trailing comma before '}'");
    }
  }

  const char* p_;
  const char* const end_;
  std::size_t line_ = 1;
  const char* line_start_;
  ParseError error_;
};

// When from_chars reports a number out of range, whether it overflows (else it underflows):
// the decimal magnitude of its first significant digit decides.
bool overflows(std::string_view t) {
  std::size_t i = !t.empty() && t[0] == '-' ? 1 : 0;
  long long magnitude = 0;
  bool significant = false;
  for (; i < t.size() && is_digit(t[i]); ++i) {
    if (significant || t[i] != '0') {
      significant = true;
      ++magnitude;
    }
  }
  if (i < t.size() && t[i] == '.') {
    for (++i; i < t.size() && is_digit(t[i]); ++i) {
      if (!significant && t[i] == '0') --magnitude;
      if (t[i] != '0') significant = true;
    }
  }
  long long exponent = 0;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    const bool negative = i < t.size() && t[i] == '-';
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    for (; i < t.size() && is_digit(t[i]); ++i) {
      exponent = std::min(exponent * 10 + (t[i] - '0'), 1'000'000'000'000LL);
    }
    if (negative) exponent = -exponent;
  }
  return magnitude + exponent > 0;
}

}  // namespace

const Value* Value::find(std::string_view key) const {
  if (type != Type::kObject) return nullptr;
  for (auto it = members.rbegin(); it != members.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

std::optional<std::int64_t> Value::as_int64() const {
  if (type != Type::kNumber) return std::nullopt;
  if (text.find_first_of(".eE") != std::string::npos) return std::nullopt;
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<double> Value::as_double() const {
  if (type != Type::kNumber) return std::nullopt;
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ptr != end) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // Like strtod: too large is infinity, too small is zero, with the number's sign.
    const bool negative = text[0] == '-';
    if (overflows(text)) {
      return negative ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
    }
    return negative ? -0.0 : 0.0;
  }
  if (ec != std::errc()) return std::nullopt;
  return value;
}

std::string ParseError::describe() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

Value parse(std::string_view text) {
  Value value;
  Reader<true> reader(text);
  if (!reader.read_document(&value)) {
    throw Error(ErrorCode::kInvalidArgument, "json", reader.error().describe());
  }
  return value;
}

std::optional<ParseError> validate(std::string_view text) {
  Reader<false> reader(text);
  if (reader.read_document(nullptr)) return std::nullopt;
  return reader.error();
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  std::array<char, 32> buf{};
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf.data(), buf.size(), "%.*g", precision, v);
    if (std::strtod(buf.data(), nullptr) == v) break;
  }
  return buf.data();
}

std::string quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += kHex[static_cast<unsigned char>(c) >> 4];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string write(const Value& v) {
  switch (v.type) {
    case Value::Type::kNull:
      return "null";
    case Value::Type::kBool:
      return v.boolean ? "true" : "false";
    case Value::Type::kNumber:
      return v.text;
    case Value::Type::kString:
      return quote(v.text);
    case Value::Type::kArray: {
      std::string out = "[";
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        out += write(v.items[i]);
      }
      return out + "]";
    }
    case Value::Type::kObject: {
      std::string out = "{";
      for (std::size_t i = 0; i < v.members.size(); ++i) {
        if (i) out += ',';
        out += quote(v.members[i].first) + ":" + write(v.members[i].second);
      }
      return out + "}";
    }
  }
  return "null";
}

void ObjectWriter::key(std::string_view k) {
  if (out_.size() > 1) out_ += ',';
  out_ += quote(k);
  out_ += ':';
}

ObjectWriter& ObjectWriter::add(std::string_view key_name, std::string_view value) {
  key(key_name);
  out_ += quote(value);
  return *this;
}

ObjectWriter& ObjectWriter::add(std::string_view key_name, std::int64_t value) {
  key(key_name);
  out_ += std::to_string(value);
  return *this;
}

ObjectWriter& ObjectWriter::add(std::string_view key_name, bool value) {
  key(key_name);
  out_ += value ? "true" : "false";
  return *this;
}

ObjectWriter& ObjectWriter::add_null(std::string_view key_name) {
  key(key_name);
  out_ += "null";
  return *this;
}

ObjectWriter& ObjectWriter::add_raw(std::string_view key_name, std::string_view raw_json) {
  key(key_name);
  out_ += raw_json;
  return *this;
}

}  // namespace examstore::json
