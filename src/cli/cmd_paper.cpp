// examstore paper apply --paper KEY --ops FILE | paper list --paper KEY | paper assemble
// --paper KEY --rules FILE.json: edit a paper from a file of operations (one unit: a bad line
// changes nothing), print its order, or draw it from the bank by rules.
//
// Ops file, one operation a line (blank lines and lines starting with '#' are skipped):
//   append QID | insert POS QID | remove POS | replace POS QID | move FROM TO
// Rules file: a JSON object with the fields of AssemblyRules, e.g. {"subject": "math",
// "count_by_type": {"single": 10}, "count_by_difficulty": {"3": 10}, "seed": 7}.
#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "common/json.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

/// A line of the ops file that cannot be applied; the message names the line.
struct BadLine {
  std::string message;
};

std::int64_t parse_number(const std::string& word, std::size_t line, const char* what) {
  std::int64_t v = 0;
  const bool digits = !word.empty() && word.size() <= 18 &&
                      word.find_first_not_of("0123456789") == std::string::npos;
  if (digits) v = std::stoll(word);
  if (!digits || v > 2147483647) {
    throw BadLine{"line " + std::to_string(line) + ": " + what +
                  " must be a non-negative number, got '" + word + "'"};
  }
  return v;
}

struct ParsedOps {
  std::vector<PaperOp> ops;
  std::vector<std::size_t> lines;  // the file line of each op
};

ParsedOps parse_ops(std::istream& in) {
  ParsedOps out;
  std::string text;
  std::size_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    std::istringstream words(text);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.empty() || w[0][0] == '#') continue;
    const auto need = [&](std::size_t n, const char* form) {
      if (w.size() != n) {
        throw BadLine{"line " + std::to_string(line) + ": expected '" + form + "', got '" + text +
                      "'"};
      }
    };
    const auto pos = [&](std::size_t i, const char* what) {
      return static_cast<int>(parse_number(w[i], line, what));
    };
    PaperOp op;
    if (w[0] == "append") {
      need(2, "append QID");
      op.kind = PaperOp::Kind::kAppend;
      op.question_id = parse_number(w[1], line, "QID");
    } else if (w[0] == "insert") {
      need(3, "insert POS QID");
      op.kind = PaperOp::Kind::kInsert;
      op.position = pos(1, "POS");
      op.question_id = parse_number(w[2], line, "QID");
    } else if (w[0] == "remove") {
      need(2, "remove POS");
      op.kind = PaperOp::Kind::kRemove;
      op.position = pos(1, "POS");
    } else if (w[0] == "replace") {
      need(3, "replace POS QID");
      op.kind = PaperOp::Kind::kReplace;
      op.position = pos(1, "POS");
      op.question_id = parse_number(w[2], line, "QID");
    } else if (w[0] == "move") {
      need(3, "move FROM TO");
      op.kind = PaperOp::Kind::kMove;
      op.position = pos(1, "FROM");
      op.to = pos(2, "TO");
    } else {
      throw BadLine{"line " + std::to_string(line) + ": unknown operation '" + w[0] +
                    "' (append, insert, remove, replace, move)"};
    }
    out.ops.push_back(op);
    out.lines.push_back(line);
  }
  return out;
}

/// "op N: why" from PaperStore::apply as "line L: why".
std::optional<std::string> as_line_error(const Error& e, const std::vector<std::size_t>& lines) {
  const std::string& m = e.message();
  if (e.code() != ErrorCode::kInvalidArgument || m.rfind("op ", 0) != 0) return std::nullopt;
  const std::size_t colon = m.find(':');
  if (colon == std::string::npos) return std::nullopt;
  std::size_t n = 0;
  try {
    n = std::stoul(m.substr(3, colon - 3));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (n == 0 || n > lines.size()) return std::nullopt;
  return "line " + std::to_string(lines[n - 1]) + m.substr(colon);
}

void print_order(const std::vector<PaperItem>& items, bool json) {
  if (json) {
    std::cout << "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::cout << (i ? "," : "") << items[i].question_id;
    }
    std::cout << "]\n";
    return;
  }
  if (items.empty()) std::cout << "the paper is empty\n";
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::cout << i << "  " << items[i].question_id << "  v" << items[i].question_version << "  "
              << to_string(items[i].type) << "\n";
  }
}

/// Reads a rules file; throws BadLine{"field F: why"} (or "not valid JSON: ...").
AssemblyRules parse_rules(const std::string& text) {
  json::Value doc;
  try {
    doc = json::parse(text);
  } catch (const Error& e) {
    throw BadLine{"not valid JSON: " + e.message()};
  }
  const auto bad = [](const std::string& field, const std::string& why) {
    return BadLine{"field " + field + ": " + why};
  };
  if (!doc.is_object()) throw bad("(file)", "must be a JSON object");
  const auto integer = [&](const json::Value& v, const std::string& field, const std::string& key) {
    const auto i = v.as_int64();
    if (!i || *i < -2147483647 || *i > 2147483647) {
      throw bad(field + "[" + key + "]", "must be an integer");
    }
    return static_cast<int>(*i);
  };
  const auto number = [&](const json::Value& v, const std::string& field) {
    const auto d = v.is_number() ? v.as_double() : std::nullopt;
    if (!d) throw bad(field, "must be a number");
    return *d;
  };
  const auto object = [&](const json::Value& v, const std::string& field) {
    if (!v.is_object()) throw bad(field, "must be an object");
    return v.members;
  };
  AssemblyRules r;
  for (const auto& [name, v] : doc.members) {
    if (name == "subject") {
      if (!v.is_string()) throw bad(name, "must be a string");
      r.subject = v.text;
    } else if (name == "count_by_type") {
      for (const auto& [type, n] : object(v, name)) {
        const auto t = parse_question_type(type);
        if (!t) throw bad(name, "unknown question type \"" + type + "\"");
        r.count_by_type[*t] = integer(n, name, type);
      }
    } else if (name == "count_by_difficulty") {
      for (const auto& [level, n] : object(v, name)) {
        const bool digit = level.size() == 1 && level[0] >= '0' && level[0] <= '9';
        if (!digit)
          throw bad(name, "keys must be difficulties \"1\"..\"5\", got \"" + level + "\"");
        r.count_by_difficulty[level[0] - '0'] = integer(n, name, level);
      }
    } else if (name == "target_mean_difficulty") {
      r.target_mean_difficulty = number(v, name);
    } else if (name == "mean_tolerance") {
      r.mean_tolerance = number(v, name);
    } else if (name == "cover_knowledge_points") {
      if (!v.is_array()) throw bad(name, "must be an array of paths");
      for (const auto& p : v.items) {
        if (!p.is_string()) throw bad(name, "must be an array of paths");
        r.cover_knowledge_points.push_back(p.text);
      }
    } else if (name == "exclude") {
      if (!v.is_array()) throw bad(name, "must be an array of question ids");
      for (const auto& id : v.items) {
        const auto i = id.as_int64();
        if (!i) throw bad(name, "must be an array of question ids");
        r.exclude.push_back(*i);
      }
    } else if (name == "seed") {
      const auto i = v.as_int64();
      if (!i || *i < 0) throw bad(name, "must be a non-negative integer");
      r.seed = static_cast<std::uint64_t>(*i);
    } else {
      throw bad(name,
                "unknown (subject, count_by_type, count_by_difficulty, "
                "target_mean_difficulty, mean_tolerance, cover_knowledge_points, exclude, "
                "seed)");
    }
  }
  return r;
}

std::string fixed2(double v) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.2f", v);
  return buf.data();
}

void print_assembled(const AssembledPaper& p, bool json) {
  if (json) {
    std::string ids = "[";
    for (std::size_t i = 0; i < p.items.size(); ++i) {
      ids += (i ? "," : "") + std::to_string(p.items[i].question_id);
    }
    std::cout << json::ObjectWriter()
                     .add("paper", p.key.str())
                     .add("paper_id", p.paper_id)
                     .add_raw("items", ids + "]")
                     .add_raw("mean_difficulty", fixed2(p.mean_difficulty))
                     .add_raw("total_score", fixed2(p.total_score))
                     .str()
              << "\n";
    return;
  }
  std::cout << "paper " << p.key.str() << " (id " << p.paper_id << "): " << p.items.size()
            << " questions, mean difficulty " << fixed2(p.mean_difficulty) << ", total score "
            << fixed2(p.total_score) << "\n";
  print_order(p.items, false);
}

int assemble(const Args& args, const PaperKey& paper, const std::string& file, bool json) {
  std::ifstream in(file);
  if (!in) {
    std::cerr << "examstore: cannot read " << file << "\n";
    return kExitFailed;
  }
  std::ostringstream text;
  text << in.rdbuf();
  AssemblyRules rules;
  try {
    rules = parse_rules(text.str());
  } catch (const BadLine& b) {
    std::cerr << "examstore: " << file << ": " << b.message << "\n";
    return kExitFailed;
  }
  auto store = Store::open(make_config(args));
  try {
    print_assembled(store->papers().assemble(paper, rules), json);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument && e.code() != ErrorCode::kConflict) throw;
    std::cerr << "examstore: " << file << ": " << e.message() << " (nothing stored)\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

int cmd_paper(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) throw UsageError("paper needs apply, list or assemble");
  const std::string& sub = w[1];
  std::map<std::string, std::string> opts;
  if (sub == "apply") {
    opts = command_options(args, 2, {"--paper", "--ops"}, {"--json"});
    if (!opts.count("--paper") || !opts.count("--ops")) {
      throw UsageError("paper apply needs --paper KEY and --ops FILE");
    }
  } else if (sub == "list") {
    opts = command_options(args, 2, {"--paper"}, {"--json"});
    if (!opts.count("--paper")) throw UsageError("paper list needs --paper KEY");
  } else if (sub == "assemble") {
    opts = command_options(args, 2, {"--paper", "--rules"}, {"--json"});
    if (!opts.count("--paper") || !opts.count("--rules")) {
      throw UsageError("paper assemble needs --paper KEY and --rules FILE.json");
    }
  } else {
    throw UsageError("unknown paper command '" + sub + "'");
  }
  const bool json = args.json || opts.count("--json") != 0;
  PaperKey paper;
  try {
    paper = PaperKey::parse(opts["--paper"]);
  } catch (const Error& e) {
    throw UsageError("--paper: " + e.message());
  }

  if (sub == "assemble") return assemble(args, paper, opts["--rules"], json);
  ParsedOps parsed;
  if (sub == "apply") {
    std::ifstream in(opts["--ops"]);
    if (!in) {
      std::cerr << "examstore: cannot read " << opts["--ops"] << "\n";
      return kExitFailed;
    }
    try {
      parsed = parse_ops(in);
    } catch (const BadLine& b) {
      std::cerr << "examstore: " << opts["--ops"] << ": " << b.message << "\n";
      return kExitFailed;
    }
  }

  auto store = Store::open(make_config(args));
  if (sub == "list") {
    print_order(store->papers().items(paper), json);
    return kExitOk;
  }
  try {
    print_order(store->papers().apply(paper, parsed.ops), json);
  } catch (const Error& e) {
    if (auto line = as_line_error(e, parsed.lines)) {
      std::cerr << "examstore: " << opts["--ops"] << ": " << *line << " (the paper is unchanged)\n";
      return kExitFailed;
    }
    throw;
  }
  return kExitOk;
}

}  // namespace examstore::cli
