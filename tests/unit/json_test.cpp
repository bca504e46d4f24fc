// The strict JSON reader and writer: what it accepts and rejects (with where and why), decoded
// values and their positions, quote()/ObjectWriter round trips, number conversions.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "examstore/error.hpp"

namespace json = examstore::json;
using examstore::Error;
using examstore::ErrorCode;

namespace {

std::string nested(std::size_t depth, const std::string& open, const std::string& inner,
                   const std::string& close) {
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) s += open;
  s += inner;
  for (std::size_t i = 0; i < depth; ++i) s += close;
  return s;
}

// Valid documents; each must parse and validate.
std::vector<std::string> valid_documents() {
  return {
      "null",
      "true",
      "false",
      "0",
      "-0",
      "42",
      "-17",
      "1e10",
      "1E+2",
      "1.5E-3",
      "-12.25e+3",
      "0.0",
      "9223372036854775808",
      "1e400",
      "\"\"",
      "\"plain text\"",
      R"("\"\\\/\b\f\n\r\t")",
      R"("\u0000")",
      R"("\u00e9\u00E9")",
      R"("\ud83d\ude00")",
      R"("\uD83D\uDE00")",
      R"("\uffff")",
      "\"h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\"",
      "\"\xf4\x8f\xbf\xbf\"",
      "\"\x7f\"",
      "[]",
      "{}",
      "[[]]",
      "[{}]",
      "{\"a\":{}}",
      "[1,\"two\",true,false,null,{\"x\":[]},[3.5]]",
      R"({"exam":{"id":"e-1","sections":[{"q":[1,2,{"c":null}]}],"ok":true}})",
      R"({"a":1,"a":2})",
      R"({"":0})",
      " \t\r\n 1 \n\t ",
      "[ 1 , 2 ]",
      "{ \"a\" : 1 , \"b\" : [ ] }",
      nested(256, "[", "", "]"),
      nested(256, "{\"k\":", "1", "}"),
  };
}

struct Invalid {
  std::string text;
  std::size_t line;
  std::size_t column;
  std::string message;
};

// Invalid documents with the exact error each must report.
std::vector<Invalid> invalid_documents() {
  return {
      {"", 1, 1, "unexpected end of input; expected a JSON value"},
      {"  \n  ", 2, 3, "unexpected end of input; expected a JSON value"},
      {"[1,2,]", 1, 5, "trailing comma before ']'"},
      {"{\"a\":1,}", 1, 7, "trailing comma before '}'"},
      {"[1,\n\n]", 1, 3, "trailing comma before ']'"},
      {"// note\n1", 1, 1, "comments are not allowed"},
      {"[1 /* c */]", 1, 4, "comments are not allowed"},
      {"{\"a\":1 // c\n}", 1, 8, "comments are not allowed"},
      {"'x'", 1, 1, "strings must use double quotes, not single quotes"},
      {"{'a':1}", 1, 2, "strings must use double quotes, not single quotes"},
      {"NaN", 1, 1, "NaN is not allowed"},
      {"[Infinity]", 1, 2, "Infinity is not allowed"},
      {"-Infinity", 1, 1, "Infinity is not allowed"},
      {"+1", 1, 1, "a number must not start with '+'"},
      {".5", 1, 1, "a number must start with a digit"},
      {"01", 1, 1, "leading zeros are not allowed"},
      {"-007", 1, 2, "leading zeros are not allowed"},
      {"1.", 1, 3, "expected a digit after the decimal point"},
      {"1.e5", 1, 3, "expected a digit after the decimal point"},
      {"1e", 1, 3, "expected a digit in the exponent"},
      {"1e+", 1, 4, "expected a digit in the exponent"},
      {"-", 1, 2, "expected a digit after '-'"},
      {"- 1", 1, 2, "expected a digit after '-'"},
      {"tru", 1, 1, "invalid literal; expected 'true'"},
      {"[nul]", 1, 2, "invalid literal; expected 'null'"},
      {"True", 1, 1, "expected a JSON value, found 'T'"},
      {"[,1]", 1, 2, "expected a JSON value, found ','"},
      {"\x01", 1, 1, "expected a JSON value, found byte 0x01"},
      {"\xef\xbb\xbf{}", 1, 1, "a byte order mark is not allowed"},
      {"\"abc", 1, 1, "unterminated string"},
      {"[\"a\\", 1, 2, "unterminated string"},
      {"\"a\\x\"", 1, 3, "invalid escape '\\x'"},
      {"\"\\'\"", 1, 2, "invalid escape '\\''"},
      {"\"\\\x01\"", 1, 2, "invalid escape: '\\' followed by byte 0x01"},
      {"\"\\u12\"", 1, 2, "expected four hex digits after '\\u'"},
      {"\"\\u12g4\"", 1, 2, "expected four hex digits after '\\u'"},
      {"\"\\ud800\"", 1, 2, "unpaired surrogate \\ud800"},
      {"\"\\uD800x\"", 1, 2, "unpaired surrogate \\uD800"},
      {"\"\\udc00\"", 1, 2, "unpaired surrogate \\udc00"},
      {"\"\\ud800\\u0041\"", 1, 2, "unpaired surrogate \\ud800"},
      {"\"\\ud800\\ud800\"", 1, 2, "unpaired surrogate \\ud800"},
      {"\"\\ud800\\uzzzz\"", 1, 8, "expected four hex digits after '\\u'"},
      {"\"ab\xff\"", 1, 4, "invalid UTF-8 byte 0xff"},
      {"\"\x80\"", 1, 2, "invalid UTF-8 byte 0x80"},
      {"\"\xc0\xaf\"", 1, 2, "invalid UTF-8 byte 0xc0"},
      {"\"\xc3\"", 1, 2, "incomplete UTF-8 sequence starting with byte 0xc3"},
      {"\"\xe4\xb8", 1, 2, "incomplete UTF-8 sequence starting with byte 0xe4"},
      {"\"\xe0\x80\x80\"", 1, 2,
       "invalid UTF-8 sequence starting with byte 0xe0 (overlong encoding)"},
      {"\"\xed\xa0\x80\"", 1, 2,
       "invalid UTF-8 sequence starting with byte 0xed (encoded surrogate)"},
      {"\"\xf4\x90\x80\x80\"", 1, 2,
       "invalid UTF-8 sequence starting with byte 0xf4 (beyond U+10FFFF)"},
      {"\"a\nb\"", 1, 3, "control character 0x0a must be escaped in a string"},
      {"\"\t\"", 1, 2, "control character 0x09 must be escaped in a string"},
      {"\"\x1f\"", 1, 2, "control character 0x1f must be escaped in a string"},
      {std::string("\"a\0b\"", 5), 1, 3, "control character 0x00 must be escaped in a string"},
      {"1 2", 1, 3, "unexpected text after the JSON value"},
      {"{} x", 1, 4, "unexpected text after the JSON value"},
      {"nullx", 1, 5, "unexpected text after the JSON value"},
      {"1.5.3", 1, 4, "unexpected text after the JSON value"},
      {"[1 2]", 1, 4, "expected ',' or ']' after an array element"},
      {"[1", 1, 3, "unexpected end of input; expected ',' or ']' after an array element"},
      {"[", 1, 2, "unexpected end of input; expected a JSON value"},
      {"{", 1, 2, "unexpected end of input; expected a string key or '}'"},
      {"{a:1}", 1, 2, "expected a string key or '}'"},
      {"{\"a\":1,2}", 1, 8, "expected a string key"},
      {"{\"a\" 1}", 1, 6, "expected ':' after an object key"},
      {"{\"a\":}", 1, 6, "expected a JSON value, found '}'"},
      {"{\n  \"a\": 1,\n  \"b\": 2 \"c\"\n}", 3, 10, "expected ',' or '}' after an object member"},
      {"{\"a\":1", 1, 7, "unexpected end of input; expected ',' or '}' after an object member"},
      {nested(257, "[", "", "]"), 1, 257, "nesting deeper than 256"},
      {nested(300, "[", "", "]"), 1, 257, "nesting deeper than 256"},
      {nested(300, "{\"k\":", "1", "}"), 1, 5 * 256 + 1, "nesting deeper than 256"},
      {std::string(100000, '['), 1, 257, "nesting deeper than 256"},
  };
}

}  // namespace

TEST_CASE("valid documents parse and validate", "[json][unit]") {
  for (const auto& text : valid_documents()) {
    INFO("document: " << text.substr(0, 80));
    CHECK_NOTHROW(json::parse(text));
    const auto error = json::validate(text);
    CHECK((error ? error->describe() : std::string()) == "");
  }
}

TEST_CASE("invalid documents are rejected with line, column and reason", "[json][unit]") {
  for (const auto& bad : invalid_documents()) {
    INFO("document: " << bad.text.substr(0, 80));
    const auto error = json::validate(bad.text);
    REQUIRE(error.has_value());
    CHECK(error->message == bad.message);
    CHECK(error->line == bad.line);
    CHECK(error->column == bad.column);
    // parse() must fail the same way validate() does.
    try {
      json::parse(bad.text);
      FAIL("parse() accepted an invalid document");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK(e.operation() == "json");
      CHECK(e.message() == error->describe());
    }
  }
}

TEST_CASE("describe() reads 'line L, column C: message'", "[json][unit]") {
  json::ParseError error;
  error.line = 3;
  error.column = 14;
  error.message = "expected ',' or '}' after an object member";
  CHECK(error.describe() == "line 3, column 14: expected ',' or '}' after an object member");
  try {
    json::parse("{\n  \"a\": 1,\n  \"b\": [1, 2]]\n}");
    FAIL("parse() accepted an invalid document");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "json: line 3, column 14: expected ',' or '}' after an object member");
  }
}

TEST_CASE("parse() builds values of every type", "[json][unit]") {
  const auto v = json::parse(
      R"({"s":"a\"b\\c\/\n\u00e9","n":-12.5e3,"t":true,"f":false,"z":null,"a":[1,[],{}],"o":{}})");
  REQUIRE(v.is_object());
  REQUIRE(v.members.size() == 7);
  CHECK(v.members[0].first == "s");
  CHECK(v.find("s")->text == "a\"b\\c/\n\xc3\xa9");
  CHECK(v.find("n")->is_number());
  CHECK(v.find("n")->text == "-12.5e3");
  CHECK(v.find("t")->type == json::Value::Type::kBool);
  CHECK(v.find("t")->boolean);
  CHECK_FALSE(v.find("f")->boolean);
  CHECK(v.find("z")->is_null());
  const auto* a = v.find("a");
  REQUIRE(a->is_array());
  REQUIRE(a->items.size() == 3);
  CHECK(a->items[0].text == "1");
  CHECK(a->items[1].is_array());
  CHECK(a->items[1].items.empty());
  CHECK(a->items[2].is_object());
  CHECK(v.find("o")->members.empty());
}

TEST_CASE("unicode escapes decode to UTF-8, surrogate pairs included", "[json][unit]") {
  CHECK(json::parse(R"("\u0041")").text == "A");
  CHECK(json::parse(R"("\u00e9")").text == "\xc3\xa9");
  CHECK(json::parse(R"("\u4e16")").text == "\xe4\xb8\x96");
  CHECK(json::parse(R"("\ud83d\ude00")").text == "\xf0\x9f\x98\x80");
  CHECK(json::parse(R"("\uDBFF\uDFFF")").text == "\xf4\x8f\xbf\xbf");
  CHECK(json::parse(R"("\u0000")").text == std::string(1, '\0'));
  CHECK(json::parse("\"\xf0\x9f\x98\x80\"").text == "\xf0\x9f\x98\x80");
}

TEST_CASE("numbers keep the text as written", "[json][unit]") {
  for (const char* n : {"-0", "1e10", "1.5E-3", "0.10", "123456789012345678901234567890"}) {
    CHECK(json::parse(n).text == n);
  }
}

TEST_CASE("values remember the line and column where they start", "[json][unit]") {
  const std::string doc =
      "{\n"
      "  \"id\": \"e-1\",\n"
      "  \"tags\": [\n"
      "    true, null,\n"
      "\t-2.5\n"
      "  ],\n"
      "  \"o\": {\"k\": {}}\n"
      "}\n";
  const auto v = json::parse(doc);
  CHECK(v.line == 1);
  CHECK(v.column == 1);
  const auto* id = v.find("id");
  CHECK(id->line == 2);
  CHECK(id->column == 9);
  const auto* tags = v.find("tags");
  CHECK(tags->line == 3);
  CHECK(tags->column == 11);
  REQUIRE(tags->items.size() == 3);
  CHECK(tags->items[0].line == 4);
  CHECK(tags->items[0].column == 5);
  CHECK(tags->items[1].line == 4);
  CHECK(tags->items[1].column == 11);
  CHECK(tags->items[2].line == 5);
  CHECK(tags->items[2].column == 2);
  const auto* o = v.find("o");
  CHECK(o->line == 7);
  CHECK(o->column == 8);
  CHECK(o->find("k")->line == 7);
  CHECK(o->find("k")->column == 14);
  CHECK(json::parse("  \n\n   7").line == 3);
  CHECK(json::parse("  \n\n   7").column == 4);
}

TEST_CASE("errors after multi-byte text count columns in bytes", "[json][unit]") {
  const auto error = json::validate("[\"\xc3\xa9\" x]");
  REQUIRE(error.has_value());
  CHECK(error->line == 1);
  CHECK(error->column == 7);
}

TEST_CASE("find() returns the last of repeated keys, or nullptr", "[json][unit]") {
  const auto v = json::parse(R"({"a":1,"b":2,"a":3})");
  REQUIRE(v.members.size() == 3);
  CHECK(v.find("a")->text == "3");
  CHECK(v.find("b")->text == "2");
  CHECK(v.find("c") == nullptr);
  CHECK(json::parse("[1]").find("a") == nullptr);
  CHECK(json::parse(R"("a")").find("a") == nullptr);
}

TEST_CASE("as_int64() only for exact integers in range", "[json][unit]") {
  const auto i64 = [](const char* text) { return json::parse(text).as_int64(); };
  CHECK(i64("0") == 0);
  CHECK(i64("-0") == 0);
  CHECK(i64("42") == 42);
  CHECK(i64("-42") == -42);
  CHECK(i64("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
  CHECK(i64("-9223372036854775808") == std::numeric_limits<std::int64_t>::min());
  CHECK_FALSE(i64("9223372036854775808").has_value());
  CHECK_FALSE(i64("-9223372036854775809").has_value());
  CHECK_FALSE(i64("99999999999999999999999").has_value());
  CHECK_FALSE(i64("1.0").has_value());
  CHECK_FALSE(i64("1e2").has_value());
  CHECK_FALSE(i64("1E2").has_value());
  CHECK_FALSE(i64("\"1\"").has_value());
  CHECK_FALSE(i64("true").has_value());
  CHECK_FALSE(i64("null").has_value());
}

TEST_CASE("as_double() converts numbers only", "[json][unit]") {
  const auto dbl = [](const char* text) { return json::parse(text).as_double(); };
  CHECK(*dbl("1.5E-3") == Approx(0.0015));
  CHECK(dbl("1e10") == 1e10);
  CHECK(dbl("42") == 42.0);
  CHECK(dbl("-2.5") == -2.5);
  const auto negative_zero = dbl("-0");
  REQUIRE(negative_zero.has_value());
  CHECK(*negative_zero == 0.0);
  CHECK(std::signbit(*negative_zero));
  CHECK(dbl("1e400") == std::numeric_limits<double>::infinity());
  CHECK(dbl("-1e400") == -std::numeric_limits<double>::infinity());
  CHECK(dbl("1e-400") == 0.0);
  CHECK(dbl(("0." + std::string(400, '0') + "1").c_str()) == 0.0);
  CHECK(dbl(("1" + std::string(400, '0') + "e-50").c_str()) ==
        std::numeric_limits<double>::infinity());
  CHECK_FALSE(dbl("\"1\"").has_value());
  CHECK_FALSE(dbl("[]").has_value());
}

TEST_CASE("quote() escapes what JSON requires and nothing else", "[json][unit]") {
  CHECK(json::quote("") == "\"\"");
  CHECK(json::quote("abc") == "\"abc\"");
  CHECK(json::quote("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json::quote("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(json::quote(std::string("\0\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  CHECK(json::quote("/\x7f") == "\"/\x7f\"");
  CHECK(json::quote("\xc3\xa9") == "\"\xc3\xa9\"");
}

TEST_CASE("quote() round-trips through parse() for every byte valid alone", "[json][unit]") {
  std::string all;
  for (int b = 0; b < 0x80; ++b) {
    const std::string s(1, static_cast<char>(b));
    INFO("byte " << b);
    CHECK(json::parse(json::quote(s)).text == s);
    CHECK_FALSE(json::validate(json::quote(s)).has_value());
    all += s;
  }
  CHECK(json::parse(json::quote(all)).text == all);
  // A byte >= 0x80 alone is not UTF-8: quote() copies it, and the reader refuses it.
  for (int b = 0x80; b < 0x100; ++b) {
    const std::string s(1, static_cast<char>(b));
    INFO("byte " << b);
    CHECK(json::quote(s) == "\"" + s + "\"");
    CHECK(json::validate(json::quote(s)).has_value());
  }
}

TEST_CASE("quote() round-trips UTF-8 text", "[json][unit]") {
  for (const std::string s : {"h\xc3\xa9llo", "\xe4\xb8\x96\xe7\x95\x8c", "\xf0\x9f\x98\x80 ok",
                              "mixed \"\xe2\x82\xac\"\n\ttab \xf4\x8f\xbf\xbf"}) {
    CHECK(json::parse(json::quote(s)).text == s);
  }
}

TEST_CASE("ObjectWriter builds compact objects that parse back", "[json][unit]") {
  CHECK(json::ObjectWriter().str() == "{}");
  CHECK(json::ObjectWriter().add("a", 1).add("b", "x").str() == R"({"a":1,"b":"x"})");

  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  const std::string text = json::ObjectWriter()
                               .add("name", std::string_view("Ana \"A\" \xc3\x9f\n"))
                               .add("literal", "c-string")
                               .add("min", min)
                               .add("max", max)
                               .add("small", -7)
                               .add("yes", true)
                               .add("no", false)
                               .add_null("nothing")
                               .add_raw("payload", R"({"k":[1,2]})")
                               .add("key \"quoted\"\t", "v")
                               .str();
  INFO(text);
  const auto v = json::parse(text);
  REQUIRE(v.members.size() == 10);
  CHECK(v.members[0].first == "name");
  CHECK(v.members[0].second.text == "Ana \"A\" \xc3\x9f\n");
  CHECK(v.members[1].second.text == "c-string");
  CHECK(v.members[2].second.as_int64() == min);
  CHECK(v.members[3].second.as_int64() == max);
  CHECK(v.members[4].second.as_int64() == -7);
  CHECK(v.members[5].second.boolean);
  CHECK(v.members[5].second.type == json::Value::Type::kBool);
  CHECK_FALSE(v.members[6].second.boolean);
  CHECK(v.members[7].second.is_null());
  const auto* payload = v.find("payload");
  REQUIRE(payload->is_object());
  CHECK(payload->find("k")->items.size() == 2);
  CHECK(v.members[9].first == "key \"quoted\"\t");
  CHECK(v.members[9].second.text == "v");
}
