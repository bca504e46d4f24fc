// QuestionBank: checks drafts and import files once for both backends, then writes through the
// question store (database first) and reads through cache-aside.
//
// Cache layout (keys.hpp belongs to the exam repositories, so the keys are built here):
//   <prefix>:question:{q:ID}      the current version, invalidated by every edit
//   <prefix>:question:{q:ID}:vN   version N, immutable; still given the usual TTL
// An "absent" marker may be cached for a version that does not exist yet, so writing a
// version invalidates its key too. Both keys share the {q:ID} hash tag.
#include "examstore/question_bank.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "common/json.hpp"
#include "db/store_checks.hpp"
#include "examstore/error.hpp"
#include "questions/question_store.hpp"
#include "repo/context.hpp"

namespace examstore {

std::string_view to_string(QuestionType t) noexcept {
  switch (t) {
    case QuestionType::kSingle:
      return "single";
    case QuestionType::kMultiple:
      return "multiple";
    case QuestionType::kTrueFalse:
      return "true_false";
    case QuestionType::kFill:
      return "fill";
    case QuestionType::kEssay:
      return "essay";
  }
  return "unknown";
}

std::optional<QuestionType> parse_question_type(std::string_view s) noexcept {
  if (s == "single") return QuestionType::kSingle;
  if (s == "multiple") return QuestionType::kMultiple;
  if (s == "true_false") return QuestionType::kTrueFalse;
  if (s == "fill") return QuestionType::kFill;
  if (s == "essay") return QuestionType::kEssay;
  return std::nullopt;
}

namespace questions {
namespace {

constexpr std::size_t kMaxSubject = 64;
constexpr std::size_t kMaxPointName = 64;
constexpr std::size_t kMaxPath = 512;
constexpr std::size_t kMaxOptions = 26;              // answers name options by letter, "A".."Z"
constexpr std::int64_t kMaxScoreCents = 99'999'999;  // numeric(8, 2)

/// One problem of a draft: the field and why.
struct Problem {
  std::string field;
  std::string why;
};
using Problems = std::vector<Problem>;

void text_problem(Problems& out, const std::string& field, std::string_view value,
                  std::size_t min_chars = 0, std::size_t max_chars = static_cast<std::size_t>(-1)) {
  try {
    db::check::text("question", field, value, min_chars, max_chars);
  } catch (const Error& e) {
    out.push_back({field, e.message().substr(field.size() + 2)});
  }
}

/// Why `path` is not a knowledge-point path, or "".
std::string path_problem(std::string_view path) {
  // paths are unique-indexed: a PostgreSQL btree entry holds at most ~2700 bytes
  if (path.size() > kMaxPath) {
    return json::quote(path.substr(0, 40)) + "... is not a path: longer than " +
           std::to_string(kMaxPath) + " characters";
  }
  std::size_t part = 1;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view name = path.substr(start, end - start);
    const bool ok = !name.empty() && name.size() <= kMaxPointName &&
                    std::all_of(name.begin(), name.end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '_' || c == '-';
                    });
    if (!ok) {
      return json::quote(path) + " is not a path: part " + std::to_string(part) +
             " must be 1..64 of A-Z a-z 0-9 _ -";
    }
    if (end == path.size()) return "";
    start = end + 1;
    ++part;
  }
}

/// The index of an option letter ("A" -> 0), or -1.
int letter_index(const json::Value& v, std::size_t options) {
  if (!v.is_string() || v.text.size() != 1) return -1;
  const int i = v.text[0] - 'A';
  return i >= 0 && static_cast<std::size_t>(i) < options ? i : -1;
}

std::string letters(std::size_t options) {
  if (options == 0) return "none (no options)";
  return std::string("\"A\"..\"") + static_cast<char>('A' + options - 1) + "\"";
}

void answer_problem(Problems& out, const QuestionDraft& d) {
  json::Value v;
  try {
    v = json::parse(d.answer);
  } catch (const Error& e) {
    out.push_back({"answer", "not valid JSON: " + e.message()});
    return;
  }
  const std::size_t n = d.options.size();
  switch (d.type) {
    case QuestionType::kSingle:
      if (letter_index(v, n) < 0) {
        out.push_back({"answer", "must be the letter of one option, " + letters(n)});
      }
      return;
    case QuestionType::kMultiple: {
      std::set<int> seen;
      bool ok = v.is_array() && !v.items.empty();
      for (const auto& item : v.items) {
        if (!ok) break;
        const int i = letter_index(item, n);
        ok = i >= 0 && seen.insert(i).second;
      }
      if (!ok) {
        out.push_back({"answer", "must be an array of distinct option letters (" + letters(n) +
                                     "), at least one"});
      }
      return;
    }
    case QuestionType::kTrueFalse:
      if (v.type != json::Value::Type::kBool) out.push_back({"answer", "must be true or false"});
      return;
    case QuestionType::kFill:
    case QuestionType::kEssay:
      if (!v.is_string()) out.push_back({"answer", "must be a string"});
      return;
  }
}

/// Every problem of `d`, in a fixed field order. Without `type_known` (an import record whose
/// type is missing or bad) the checks that depend on the type are left out.
Problems problems_of(const QuestionDraft& d, bool type_known = true) {
  Problems out;
  if (d.id && *d.id <= 0) out.push_back({"id", "must be positive, got " + std::to_string(*d.id)});
  // The id sequence is moved past an explicit id: the largest bigint would leave it no next id.
  if (d.id && *d.id == std::numeric_limits<QuestionId>::max()) {
    out.push_back({"id", "must be below " + std::to_string(*d.id) + " (the id sequence's end)"});
  }
  const int type = static_cast<int>(d.type);
  const bool type_ok = type >= 0 && type <= static_cast<int>(QuestionType::kEssay);
  if (!type_ok) out.push_back({"type", "unknown question type " + std::to_string(type)});
  text_problem(out, "stem", d.stem, 1);
  bool options_ok = true;
  for (std::size_t i = 0; i < d.options.size(); ++i) {
    const std::size_t before = out.size();
    text_problem(out, "options", d.options[i], 1);
    if (out.size() != before) {
      out.back().why = "option " + std::to_string(i + 1) + ": " + out.back().why;
      options_ok = false;
    }
  }
  if (type_ok && type_known) {
    const bool choice = d.type == QuestionType::kSingle || d.type == QuestionType::kMultiple;
    if (choice && (d.options.size() < 2 || d.options.size() > kMaxOptions)) {
      out.push_back({"options", std::string("a ") + std::string(to_string(d.type)) +
                                    " question needs 2..26 options, got " +
                                    std::to_string(d.options.size())});
      options_ok = false;
    }
    if (d.type == QuestionType::kTrueFalse && !d.options.empty()) {
      out.push_back({"options", "a true_false question has no options"});
      options_ok = false;
    }
    if (options_ok) answer_problem(out, d);
  }
  const double cents = d.score * 100;
  if (!std::isfinite(d.score) || d.score <= 0) {
    out.push_back({"score", "must be greater than 0"});
  } else if (cents > static_cast<double>(kMaxScoreCents) + 0.5) {
    // before llround, which is undefined beyond the range of long long (1e300)
    out.push_back({"score", "must be at most 999999.99"});
  } else if (std::fabs(cents - std::round(cents)) > 1e-6 * std::max(1.0, cents)) {
    out.push_back({"score", "must have at most 2 decimals"});
  } else if (std::llround(cents) < 1) {
    // a positive score that rounds to 0.00 (5e-324) would break the score > 0 constraint
    out.push_back({"score", "must be at least 0.01"});
  }
  if (d.difficulty < 1 || d.difficulty > 5) {
    out.push_back({"difficulty", "must be 1..5, got " + std::to_string(d.difficulty)});
  }
  text_problem(out, "subject", d.subject, 1, kMaxSubject);
  if (d.knowledge_points.empty()) out.push_back({"knowledge_points", "at least one is needed"});
  for (const auto& p : d.knowledge_points) {
    const std::string why = path_problem(p);
    if (!why.empty()) out.push_back({"knowledge_points", why});
  }
  for (const auto& m : d.media) text_problem(out, "media", m, 1);
  text_problem(out, "author", d.author);
  return out;
}

CheckedDraft checked(const std::string& op, const QuestionDraft& d) {
  const Problems p = problems_of(d);
  if (!p.empty()) db::check::invalid(op, p.front().field, p.front().why);
  CheckedDraft c{d, std::llround(d.score * 100)};
  auto& kps = c.draft.knowledge_points;
  std::sort(kps.begin(), kps.end());
  kps.erase(std::unique(kps.begin(), kps.end()), kps.end());
  return c;
}

void check_filter(const std::string& op, const QuestionSearch& f) {
  db::check::limit(op, f.limit);
  if (f.after_id < 0) {
    db::check::invalid(op, "after_id", "must not be negative, got " + std::to_string(f.after_id));
  }
  if (f.min_difficulty < 1 || f.min_difficulty > 5 || f.max_difficulty < 1 ||
      f.max_difficulty > 5 || f.min_difficulty > f.max_difficulty) {
    db::check::invalid(op, "difficulty",
                       "the range must lie in 1..5 with min <= max, got " +
                           std::to_string(f.min_difficulty) + ".." +
                           std::to_string(f.max_difficulty));
  }
  if (f.type) {
    const int t = static_cast<int>(*f.type);
    if (t < 0 || t > static_cast<int>(QuestionType::kEssay)) {
      db::check::invalid(op, "type", "unknown question type " + std::to_string(t));
    }
  }
  // PostgreSQL refuses text that is not UTF-8 (or holds NUL) where memory just finds nothing
  if (f.subject) db::check::text(op, "subject", *f.subject);
  if (f.knowledge_point) {
    const std::string why = path_problem(*f.knowledge_point);
    if (!why.empty()) db::check::invalid(op, "knowledge_point", why);
  }
}

// ---- JSON ----

std::string score_text(double score) {
  const std::int64_t cents = std::llround(score * 100);
  std::string out = std::to_string(cents / 100);
  const std::int64_t frac = cents % 100;
  if (frac != 0) {
    out += '.';
    out += static_cast<char>('0' + frac / 10);
    if (frac % 10 != 0) out += static_cast<char>('0' + frac % 10);
  }
  return out;
}

/// One record of the import format.
std::string export_record(const Question& q) {
  std::string answer = q.answer;
  try {
    answer = json::write(json::parse(q.answer));
  } catch (const Error&) {  // stored verbatim and checked on the way in: keep it as it is
  }
  return json::ObjectWriter()
      .add("id", q.id)
      .add("type", to_string(q.type))
      .add("stem", q.stem)
      .add_raw("options", string_array(q.options))
      .add_raw("answer", answer)
      .add_raw("score", score_text(q.score))
      .add("difficulty", q.difficulty)
      .add("subject", q.subject)
      .add_raw("knowledge_points", string_array(q.knowledge_points))
      .add_raw("media", string_array(q.media))
      .add("author", q.author)
      .str();
}

/// The cached form of one version (the answer as a string, since it is kept verbatim).
std::string encode(const Question& q) {
  return json::ObjectWriter()
      .add("id", q.id)
      .add("version", q.version)
      .add("type", to_string(q.type))
      .add("stem", q.stem)
      .add_raw("options", string_array(q.options))
      .add("answer", q.answer)
      .add("score_cents", static_cast<std::int64_t>(std::llround(q.score * 100)))
      .add("difficulty", q.difficulty)
      .add("subject", q.subject)
      .add_raw("knowledge_points", string_array(q.knowledge_points))
      .add_raw("media", string_array(q.media))
      .add("author", q.author)
      .add("created_at", db::check::to_micros(q.created_at))
      .str();
}

Question decode(const std::string& text) {
  const auto bad = [&]() {
    return Error(ErrorCode::kDataIntegrity, "question cache", "unreadable cached question");
  };
  const json::Value v = json::parse(text);
  if (!v.is_object()) throw bad();
  const auto member = [&](const char* name) -> const json::Value& {
    const json::Value* m = v.find(name);
    if (m == nullptr) throw bad();
    return *m;
  };
  const auto integer = [&](const char* name) {
    const auto i = member(name).as_int64();
    if (!i) throw bad();
    return *i;
  };
  const auto string = [&](const char* name) {
    const json::Value& m = member(name);
    if (!m.is_string()) throw bad();
    return m.text;
  };
  const auto strings = [&](const char* name) {
    return parse_string_array(json::write(member(name)), name);
  };
  Question q;
  q.id = integer("id");
  q.version = static_cast<int>(integer("version"));
  const auto type = parse_question_type(string("type"));
  if (!type) throw bad();
  q.type = *type;
  q.stem = string("stem");
  q.options = strings("options");
  q.answer = string("answer");
  q.score = static_cast<double>(integer("score_cents")) / 100.0;
  q.difficulty = static_cast<int>(integer("difficulty"));
  q.subject = string("subject");
  q.knowledge_points = strings("knowledge_points");
  q.media = strings("media");
  q.author = string("author");
  q.created_at = db::check::from_micros(integer("created_at"));
  return q;
}

// ---- import ----

const char* type_name(json::Value::Type t) {
  switch (t) {
    case json::Value::Type::kNull:
      return "null";
    case json::Value::Type::kBool:
      return "a boolean";
    case json::Value::Type::kNumber:
      return "a number";
    case json::Value::Type::kString:
      return "a string";
    case json::Value::Type::kArray:
      return "an array";
    case json::Value::Type::kObject:
      return "an object";
  }
  return "a value";
}

/// One record of an import file, read and checked.
struct Record {
  std::size_t line = 0;
  CheckedDraft draft;
  Problems problems;
};

Record read_record(const json::Value& v) {
  Record r;
  r.line = v.line;
  if (!v.is_object()) {
    r.problems.push_back({"(record)", std::string("must be an object, got ") + type_name(v.type)});
    return r;
  }
  static const std::vector<std::string> kFields = {"id",         "type",    "stem",
                                                   "options",    "answer",  "score",
                                                   "difficulty", "subject", "knowledge_points",
                                                   "media",      "author"};
  static const std::set<std::string> kRequired = {
      "type", "stem", "answer", "score", "difficulty", "subject", "knowledge_points"};
  std::map<std::string, int> seen;
  for (const auto& m : v.members) {
    if (std::find(kFields.begin(), kFields.end(), m.first) == kFields.end()) {
      r.problems.push_back({m.first, "unknown field"});
    } else if (++seen[m.first] == 2) {
      r.problems.push_back({m.first, "given more than once"});
    }
  }
  QuestionDraft& d = r.draft.draft;
  std::set<std::string> bad;  // fields whose value could not be read
  const auto fail = [&](const std::string& field, const std::string& why) {
    r.problems.push_back({field, why});
    bad.insert(field);
  };
  const auto string_list = [&](const std::string& field, std::vector<std::string>& out) {
    const json::Value* m = v.find(field);
    if (m == nullptr) return;
    bool ok = m->is_array();
    for (const auto& item : m->items) {
      if (!ok) break;
      ok = item.is_string();
      out.push_back(item.text);
    }
    if (!ok) fail(field, "must be an array of strings");
  };
  for (const auto& field : kFields) {
    if (kRequired.count(field) && v.find(field) == nullptr) fail(field, "is required");
  }
  if (const json::Value* m = v.find("id")) {
    const auto id = m->as_int64();
    if (id) {
      d.id = *id;
    } else {
      fail("id", "must be an integer");
    }
  }
  if (const json::Value* m = v.find("type")) {
    const auto t = m->is_string() ? parse_question_type(m->text) : std::nullopt;
    if (t) {
      d.type = *t;
    } else {
      fail("type", "must be one of \"single\", \"multiple\", \"true_false\", \"fill\", \"essay\"");
    }
  }
  const auto string_field = [&](const std::string& field, std::string& out) {
    const json::Value* m = v.find(field);
    if (m == nullptr) return;
    if (m->is_string()) {
      out = m->text;
    } else {
      fail(field, std::string("must be a string, got ") + type_name(m->type));
    }
  };
  string_field("stem", d.stem);
  string_list("options", d.options);
  if (const json::Value* m = v.find("answer")) d.answer = json::write(*m);
  if (const json::Value* m = v.find("score")) {
    if (m->is_number()) {
      d.score = *m->as_double();
    } else {
      fail("score", std::string("must be a number, got ") + type_name(m->type));
    }
  }
  if (const json::Value* m = v.find("difficulty")) {
    const auto i = m->as_int64();
    if (i && *i >= 1 && *i <= 5) {
      d.difficulty = static_cast<int>(*i);
    } else {
      fail("difficulty", "must be an integer 1..5");
    }
  }
  string_field("subject", d.subject);
  string_list("knowledge_points", d.knowledge_points);
  string_list("media", d.media);
  string_field("author", d.author);
  // the answer's check depends on the type and options: skip it when those are unreadable
  const bool answer_checkable = !bad.count("type") && !bad.count("options");
  for (auto& p : problems_of(d, !bad.count("type"))) {
    if (bad.count(p.field) || (p.field == "answer" && !answer_checkable)) continue;
    r.problems.push_back(std::move(p));
  }
  // one order whatever found them: the fields in kFields' order, unknown fields last
  const auto rank = [&](const Problem& p) {
    return std::find(kFields.begin(), kFields.end(), p.field) - kFields.begin();
  };
  std::stable_sort(r.problems.begin(), r.problems.end(),
                   [&](const Problem& a, const Problem& b) { return rank(a) < rank(b); });
  if (r.problems.empty()) r.draft = checked("question import", d);
  return r;
}

std::string key_of(const repo::Context& ctx, QuestionId id) {
  return ctx.config.key_prefix + ":question:{q:" + std::to_string(id) + "}";
}
std::string key_of(const repo::Context& ctx, QuestionId id, int version) {
  return key_of(ctx, id) + ":v" + std::to_string(version);
}

class QuestionBankImpl final : public QuestionBank {
 public:
  QuestionBankImpl(repo::Context& ctx, std::unique_ptr<QuestionStore> store)
      : ctx_(ctx), store_(std::move(store)) {}

  Question create(const QuestionDraft& draft) override {
    const CheckedDraft c = checked("question create", draft);
    Question q = store_->create(c, now());
    written(q.id, q.version);
    return q;
  }

  Question edit(QuestionId id, const QuestionDraft& draft) override {
    db::check::positive_id("question edit", "id", id);
    CheckedDraft c = checked("question edit", draft);
    c.draft.id.reset();
    Question q = store_->edit(id, c, now());
    written(q.id, q.version);
    return q;
  }

  std::optional<Question> get(QuestionId id) override {
    db::check::positive_id("question get", "id", id);
    return cached(key_of(ctx_, id), [&] { return store_->get(id); });
  }

  std::optional<Question> get_version(QuestionId id, int version) override {
    db::check::positive_id("question get_version", "id", id);
    db::check::positive_id("question get_version", "version", version);
    return cached(key_of(ctx_, id, version), [&] { return store_->get_version(id, version); });
  }

  std::vector<Question> search(const QuestionSearch& filter) override {
    check_filter("question search", filter);
    return store_->search(filter);
  }

  std::vector<QuestionId> import_json(std::string_view json_text) override {
    const std::string op = "question import";
    json::Value doc;
    try {
      doc = json::parse(json_text);
    } catch (const Error& e) {
      throw Error(ErrorCode::kInvalidArgument, op, "not valid JSON: " + e.message());
    }
    if (!doc.is_array()) {
      throw Error(ErrorCode::kInvalidArgument, op,
                  "line " + std::to_string(doc.line) +
                      ": field (file): must be a JSON array of question objects");
    }
    std::vector<Record> records;
    records.reserve(doc.items.size());
    std::map<QuestionId, std::size_t> first_line;
    std::vector<QuestionId> given;
    for (const auto& item : doc.items) {
      records.push_back(read_record(item));
      Record& r = records.back();
      const auto& id = r.draft.draft.id;
      if (!r.problems.empty() || !id) continue;
      const auto [it, fresh] = first_line.emplace(*id, r.line);
      if (fresh) {
        given.push_back(*id);
      } else {
        r.problems.push_back(
            {"id", "duplicate of the record on line " + std::to_string(it->second)});
      }
    }
    const std::set<QuestionId> taken =
        given.empty() ? std::set<QuestionId>{} : store_->existing(given);
    std::string report;
    for (auto& r : records) {
      const auto& id = r.draft.draft.id;
      if (r.problems.empty() && id && taken.count(*id) && first_line[*id] == r.line) {
        r.problems.push_back({"id", question_label(*id) + " already exists"});
      }
      for (const auto& p : r.problems) {
        if (!report.empty()) report += '\n';
        report += "line " + std::to_string(r.line) + ": field " + p.field + ": " + p.why;
      }
    }
    if (!report.empty()) throw Error(ErrorCode::kInvalidArgument, op, report);
    std::vector<CheckedDraft> drafts;
    drafts.reserve(records.size());
    for (auto& r : records) drafts.push_back(std::move(r.draft));
    std::vector<QuestionId> ids = store_->import(drafts, now());
    for (QuestionId id : ids) written(id, 1);
    return ids;
  }

  std::string export_json(const QuestionSearch& filter) override {
    check_filter("question export", filter);
    QuestionSearch page = filter;
    std::string out = "[";
    bool first = true;
    while (true) {
      const std::vector<Question> batch = store_->search(page);
      for (const auto& q : batch) {
        out += first ? "\n  " : ",\n  ";
        first = false;
        out += export_record(q);
      }
      if (static_cast<int>(batch.size()) < page.limit) break;
      page.after_id = batch.back().id;
    }
    return out + (first ? "]" : "\n]");
  }

 private:
  static TimePoint now() { return db::check::truncate(std::chrono::system_clock::now()); }

  // A written version makes an "absent" marker of the question or of that version wrong.
  void written(QuestionId id, int version) {
    ctx_.cache_aside.invalidate(key_of(ctx_, id));
    ctx_.cache_aside.invalidate(key_of(ctx_, id, version));
  }

  template <typename Load>
  std::optional<Question> cached(const std::string& key, const Load& load) {
    const auto encoded = ctx_.cache_aside.get(key, [&]() -> std::optional<std::string> {
      const auto q = load();
      if (!q) return std::nullopt;
      return encode(*q);
    });
    if (!encoded) return std::nullopt;
    try {
      return decode(*encoded);
    } catch (const Error&) {  // an unreadable cached value: drop it, read the database
      ctx_.cache_aside.invalidate(key);
      return load();
    }
  }

  repo::Context& ctx_;
  std::unique_ptr<QuestionStore> store_;
};

}  // namespace
}  // namespace questions

namespace repo {
std::unique_ptr<QuestionBank> make_question_bank(Context& ctx) {
  auto store = ctx.pool != nullptr ? questions::make_pg_question_store(*ctx.pool)
                                   : questions::make_memory_question_store();
  return std::make_unique<questions::QuestionBankImpl>(ctx, std::move(store));
}
}  // namespace repo

}  // namespace examstore
