// tests/unit/config_doc_test.cpp: docs/configuration.md names every field of Config and of every
// options struct under it, and every environment variable Config::from_env reads, so an option
// cannot ship undocumented (issue 16: EXAMSTORE_JOURNAL_DIR, key_prefix, the presence thresholds,
// the write-behind options and migrate_on_open were missing).
//
// The fields are read from the public headers (include/examstore/config.hpp and
// write_behind.hpp) by a small declaration parser, the variables from the "EXAMSTORE_*" string
// literals of src/common/config.cpp. A field is documented when a table row of
// configuration.md has its path from Config (`redis.pool_size`, `security.sessions.ttl`) in
// backquotes in its first cell; a vector of structs (`redis.seeds`) names its element's fields
// (`host`, `port`) in the same row. A variable is documented the same way (`EXAMSTORE_...`). The
// other direction holds too: a first cell may not name a field or variable that does not exist.
// The parser checks itself on a sample and on fields it must find, so a parser bug fails loudly
// instead of making the test pass on nothing.
#include <catch2/catch.hpp>

#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Member {
  std::string type;
  std::string name;
};
using Structs = std::map<std::string, std::vector<Member>>;

std::string read_source(const std::string& relative) {
  const std::string path = std::string(EXAMSTORE_SOURCE_DIR) + "/" + relative;
  std::ifstream in(path);
  if (!in) FAIL("cannot read " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// C++ source without comments and preprocessor lines, and unless `keep_literals` without the
// contents of string and character literals (so that no brace or semicolon inside them is seen).
std::string code_only(const std::string& src, bool keep_literals = false) {
  std::string out;
  enum { kCode, kLine, kBlock, kString, kChar } state = kCode;
  bool line_start = true;
  for (std::size_t i = 0; i < src.size(); ++i) {
    const char c = src[i];
    const char next = i + 1 < src.size() ? src[i + 1] : '\0';
    switch (state) {
      case kCode:
        if (line_start && c == '#') {
          state = kLine;  // a preprocessor line: dropped like a comment
        } else if (c == '/' && next == '/') {
          state = kLine;
          ++i;
        } else if (c == '/' && next == '*') {
          state = kBlock;
          ++i;
          out += ' ';
        } else if (c == '"') {
          state = kString;
          out += c;
        } else if (c == '\'') {
          state = kChar;
          out += c;
        } else {
          out += c;
        }
        break;
      case kLine:
        if (c == '\n') {
          state = kCode;
          out += c;
        }
        break;
      case kBlock:
        if (c == '*' && next == '/') {
          state = kCode;
          ++i;
        }
        break;
      case kString:
      case kChar:
        if (keep_literals) out += c;
        if (c == '\\') {
          if (keep_literals && next != '\0') out += next;
          ++i;
        } else if ((state == kString && c == '"') || (state == kChar && c == '\'')) {
          state = kCode;
          if (!keep_literals) out += c;
        }
        break;
    }
    if (c == '\n') {
      line_start = true;
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      line_start = false;
    }
  }
  return out;
}

// The data members declared in one statement ("int a = 1, b;"), or none (a function, a type,
// a static member).
std::vector<Member> members_of(std::string st) {
  static const std::regex kAccess(R"(^\s*(public|private|protected)\s*:)");
  st = trim(std::regex_replace(st, kAccess, ""));
  for (const char* skip : {"static ", "using ", "typedef ", "friend ", "template", "struct ",
                           "class ", "enum ", "union ", "~"}) {
    if (st.rfind(skip, 0) == 0) return {};
  }
  if (st.empty() || st.find("operator") != std::string::npos) return {};
  // Split into declarators at commas outside template arguments and initializers; an
  // initializer starts at '=' or '{' outside template arguments.
  std::vector<std::string> pieces(1);
  bool initializer = false;
  int angle = 0;
  int nest = 0;
  for (const char c : st) {
    if (!initializer) {
      if (c == '<') ++angle;
      if (c == '>') --angle;
      if (angle == 0 && c == '(') return {};  // a function or constructor
      if (angle == 0 && (c == '=' || c == '{')) {
        initializer = true;
        nest = c == '{' ? 1 : 0;
      } else if (angle == 0 && c == ',') {
        pieces.emplace_back();
      } else {
        pieces.back() += c;
      }
    } else {
      if (c == '(' || c == '{') ++nest;
      if (c == ')' || c == '}') --nest;
      if (nest == 0 && c == ',') {
        initializer = false;
        pieces.emplace_back();
      }
    }
  }
  static const std::regex kName(R"(^(.*?)\b([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$)");
  std::vector<Member> out;
  std::string type;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    std::smatch m;
    const std::string p = trim(pieces[i]);
    if (!std::regex_match(p, m, kName)) return {};
    if (i == 0) type = trim(m[1].str());
    if (type.empty()) return {};
    out.push_back(Member{type, m[2].str()});
  }
  return out;
}

// Whether a statement's text so far is a function's head: a '(' outside template arguments
// before any '='.
bool is_function_head(const std::string& st) {
  int angle = 0;
  for (const char c : st) {
    if (c == '<') ++angle;
    if (c == '>') --angle;
    if (angle == 0 && c == '=') return false;
    if (angle == 0 && c == '(') return true;
  }
  return false;
}

// Every struct (or class) defined in `header` with its data members, in order.
Structs parse_structs(const std::string& header) {
  const std::string code = code_only(header);
  static const std::regex kHead(R"(\b(struct|class)\s+([A-Za-z_]\w*)\s*(final\s*)?(:[^;{]*)?\{)");
  Structs out;
  for (auto it = std::sregex_iterator(code.begin(), code.end(), kHead);
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    const auto at = static_cast<std::size_t>(m.position(0));
    if (std::regex_search(code.substr(at >= 12 ? at - 12 : 0, at >= 12 ? 12 : at),
                          std::regex(R"(\benum\s*$)"))) {
      continue;  // "enum class X {"
    }
    std::size_t i = at + static_cast<std::size_t>(m.length(0));
    std::vector<Member>& members = out[m[2].str()];
    std::string st;
    int paren = 0;
    for (; i < code.size(); ++i) {
      const char c = code[i];
      if (c == '}' && paren == 0) break;  // the end of the struct
      if (c == '(') ++paren;
      if (c == ')') --paren;
      if (c == '{' && paren == 0) {
        // A brace initializer, or the body of an inline function or of a nested type.
        const bool function = is_function_head(st);
        std::size_t depth = 0;
        for (; i < code.size(); ++i) {
          if (code[i] == '{') ++depth;
          if (code[i] == '}' && --depth == 0) break;
          if (!function) st += code[i];
        }
        if (!function) st += '}';
        if (function) st.clear();
        continue;
      }
      if (c == ';' && paren == 0) {
        for (Member& mem : members_of(st)) members.push_back(std::move(mem));
        st.clear();
        continue;
      }
      st += c;
    }
  }
  return out;
}

struct Required {
  std::string path;                  // "redis.seeds"
  std::vector<std::string> element;  // fields of a vector's element struct, named in its row
};

// The last name of a type ("std::chrono::seconds" -> "seconds"), and the element type of a
// std::vector ("" otherwise).
std::string last_name(const std::string& type) {
  const auto colon = type.rfind("::");
  return trim(colon == std::string::npos ? type : type.substr(colon + 2));
}
std::string vector_element(const std::string& type) {
  static const std::regex kVector(R"(^(const\s+)?std::vector<\s*([\w:]+)\s*>$)");
  std::smatch m;
  return std::regex_match(type, m, kVector) ? last_name(m[2].str()) : "";
}

void collect(const Structs& structs, const std::string& name, const std::string& prefix, int depth,
             std::vector<Required>& out) {
  REQUIRE(depth < 8);  // a cycle would be a parser bug
  for (const Member& m : structs.at(name)) {
    const std::string path = prefix + m.name;
    const std::string type = last_name(m.type);
    if (m.type.find('<') == std::string::npos && structs.count(type) != 0) {
      collect(structs, type, path + ".", depth + 1, out);
    } else if (const std::string element = vector_element(m.type);
               !element.empty() && structs.count(element) != 0) {
      Required r{path, {}};
      for (const Member& e : structs.at(element)) r.element.push_back(e.name);
      out.push_back(std::move(r));
    } else {
      out.push_back(Required{path, {}});
    }
  }
}

// Every table row of a Markdown text, by each backquoted name in its first cell.
std::multimap<std::string, std::string> first_cell_names(const std::string& markdown) {
  std::multimap<std::string, std::string> out;
  std::istringstream in(markdown);
  std::string line;
  static const std::regex kQuoted("`([^`]+)`");
  while (std::getline(in, line)) {
    if (line.rfind('|', 0) != 0) continue;
    const auto end = line.find('|', 1);
    if (end == std::string::npos) continue;
    const std::string cell = line.substr(1, end - 1);
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), kQuoted);
         it != std::sregex_iterator(); ++it) {
      out.emplace((*it)[1].str(), line);
    }
  }
  return out;
}

// The "EXAMSTORE_*" string literals of a source file's code (comments may mention variables
// that are not read).
std::set<std::string> env_names(const std::string& source) {
  const std::string code = code_only(source, /*keep_literals=*/true);
  std::set<std::string> out;
  static const std::regex kVar(R"re("(EXAMSTORE_[A-Z0-9_]+)")re");
  for (auto it = std::sregex_iterator(code.begin(), code.end(), kVar); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}

Structs option_structs() {
  Structs structs = parse_structs(read_source("include/examstore/config.hpp"));
  for (auto& [name, members] : parse_structs(read_source("include/examstore/write_behind.hpp"))) {
    REQUIRE(structs.count(name) == 0);
    structs[name] = std::move(members);
  }
  return structs;
}

}  // namespace

TEST_CASE("config docs: the declaration parser reads a tricky sample right", "[config][unit]") {
  const Structs s = parse_structs(R"(
    namespace x {
    enum class Mode { kA, kB };  // not a struct
    /// A { brace in a comment; and a semicolon
    struct Sample final : Base {
     public:
      int a = 1, b;                              ///< two at once
      std::chrono::milliseconds wait{100};       // brace initializer
      std::size_t bytes = 64u << 20u;            // a shift, not a template
      std::vector<std::pair<double, std::string>> levels = {
          {90, "A;}"}, {0, "F"}};
      std::function<void(int)> callback{};
      static constexpr int kMax = 3;
      std::string text() const { return "}"; }   // inline function
      Sample& with(std::string_view v);
      static Sample make();
      struct Inner { int hidden; };
      const char* name = "x";
    };
    }  // namespace x
  )");
  REQUIRE(s.count("Sample") == 1);
  REQUIRE(s.count("Inner") == 1);
  std::vector<std::string> names;
  for (const Member& m : s.at("Sample")) names.push_back(m.name);
  CHECK(names == std::vector<std::string>{"a", "b", "wait", "bytes", "levels", "callback", "name"});
  CHECK(s.at("Sample")[3].type == "std::size_t");
  CHECK(s.at("Inner").size() == 1);
  CHECK(s.count("Mode") == 0);
}

TEST_CASE("config docs: configuration.md names every option and environment variable",
          "[config][unit]") {
  const Structs structs = option_structs();
  REQUIRE(structs.count("Config") == 1);
  std::vector<Required> required;
  collect(structs, "Config", "", 0, required);

  std::set<std::string> paths;
  for (const Required& r : required) paths.insert(r.path);
  // The parser found what it must (else it is broken, and the check below would prove nothing).
  for (const char* known :
       {"cache_backend", "key_prefix", "migrate_on_open", "log_sink", "redis.pool_size",
        "redis.seeds", "postgres.conninfo", "postgres.replicas", "presence.missing_after",
        "write_behind.journal_dir", "write_behind.journal_root", "write_behind.auto_journal",
        "attempts.finished_ttl", "grading.grade_levels", "security.passwords.opslimit",
        "security.login.lockout", "security.sessions.max_per_user",
        "security.personal_data.keys"}) {
    INFO("the parser missed " << known);
    CHECK(paths.count(known) == 1);
  }
  INFO(paths.size() << " fields found");
  REQUIRE(paths.size() >= 70);  // 78 when this test was written; fields are rarely removed

  const std::set<std::string> vars = env_names(read_source("src/common/config.cpp"));
  for (const char* known : {"EXAMSTORE_REDIS_URL", "EXAMSTORE_DATABASE_URL",
                            "EXAMSTORE_JOURNAL_DIR", "EXAMSTORE_KEY_PREFIX"}) {
    INFO("the parser missed " << known);
    CHECK(vars.count(known) == 1);
  }
  INFO(vars.size() << " variables found");
  REQUIRE(vars.size() >= 12);

  const auto documented = first_cell_names(read_source("docs/configuration.md"));
  for (const Required& r : required) {
    const auto [from, to] = documented.equal_range(r.path);
    INFO("docs/configuration.md has no table row whose first cell names `"
         << r.path << "` (a field of Config, include/examstore/config.hpp or write_behind.hpp)");
    CHECK(from != to);
    for (const std::string& field : r.element) {
      bool named = false;
      for (auto it = from; it != to; ++it) {
        named = named || it->second.find("`" + field + "`") != std::string::npos;
      }
      INFO("the row of `" << r.path << "` does not name its elements' field `" << field << "`");
      CHECK(named);
    }
  }
  for (const std::string& var : vars) {
    INFO("docs/configuration.md has no table row whose first cell names `"
         << var << "` (read by Config::from_env, src/common/config.cpp)");
    CHECK(documented.count(var) != 0);
  }

  // Nothing documented that does not exist: a first cell naming a path under a Config member,
  // or a variable, must name a real one.
  std::set<std::string> roots;
  for (const Member& m : structs.at("Config")) roots.insert(m.name);
  static const std::regex kPath(R"(^([a-z_]+)(\.[a-z_]+)*$)");
  for (const auto& [name, row] : documented) {
    if (name.rfind("EXAMSTORE_", 0) == 0) {
      INFO("docs/configuration.md documents " << name << ", which from_env does not read");
      CHECK(vars.count(name) == 1);
    } else if (std::regex_match(name, kPath) && roots.count(name.substr(0, name.find('.'))) != 0) {
      INFO("docs/configuration.md documents `" << name << "`, which is not a field");
      CHECK(paths.count(name) == 1);
    }
  }
}
