#include "cli/grading_json.hpp"

#include <cmath>

#include "common/json.hpp"
#include "examstore/error.hpp"

namespace examstore::cli {
namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "results", field + ": " + why);
}

std::string text_of(const json::Value& v, const std::string& field) {
  if (!v.is_string()) bad(field, "must be a string");
  return v.text;
}

double number_of(const json::Value& v, const std::string& field) {
  const auto d = v.is_number() ? v.as_double() : std::nullopt;
  if (!d || !std::isfinite(*d)) bad(field, "must be a finite number");
  return *d;
}

std::int64_t integer_of(const json::Value& v, const std::string& field) {
  const auto i = v.is_number() ? v.as_int64() : std::nullopt;
  if (!i) bad(field, "must be an integer");
  return *i;
}

/// Calls `on(name, value, field)` for each member of the object `v` named `field`; a member not
/// in `known` is refused, naming it and the known ones.
template <typename F>
void members_of(const json::Value& v, const std::string& field,
                const std::vector<std::string_view>& known, F on) {
  if (!v.is_object()) bad(field.empty() ? "(document)" : field, "must be a JSON object");
  for (const auto& [name, value] : v.members) {
    std::string here = field;
    if (!here.empty()) here += '.';
    here += name;
    bool ok = false;
    for (auto k : known) ok = ok || k == name;
    if (!ok) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      bad(here, "unknown field (known: " + list + ")");
    }
    on(name, value, here);
  }
}

QuestionGrade grade_of(const json::Value& v, const std::string& field) {
  QuestionGrade g;
  bool question = false;
  bool score = false;
  bool max_score = false;
  members_of(v, field, {"question", "score", "max_score", "feedback", "strategy"},
             [&](const std::string& name, const json::Value& m, const std::string& here) {
               if (name == "question") {
                 g.question = integer_of(m, here);
                 question = true;
               } else if (name == "score") {
                 g.score = number_of(m, here);
                 score = true;
               } else if (name == "max_score") {
                 g.max_score = number_of(m, here);
                 max_score = true;
               } else if (name == "feedback") {
                 g.feedback = text_of(m, here);
               } else {
                 g.strategy = text_of(m, here);
               }
             });
  if (!question) bad(field + ".question", "is required");
  if (!score) bad(field + ".score", "is required");
  if (!max_score) bad(field + ".max_score", "is required");
  return g;
}

ErrorFinding finding_of(const json::Value& v, const std::string& field) {
  ErrorFinding f;
  bool question = false;
  bool kind = false;
  members_of(v, field, {"question", "kind", "knowledge_point", "note"},
             [&](const std::string& name, const json::Value& m, const std::string& here) {
               if (name == "question") {
                 f.question = integer_of(m, here);
                 question = true;
               } else if (name == "kind") {
                 f.kind = text_of(m, here);
                 kind = true;
               } else if (name == "knowledge_point") {
                 f.knowledge_point = text_of(m, here);
               } else {
                 f.note = text_of(m, here);
               }
             });
  if (!question) bad(field + ".question", "is required");
  if (!kind) bad(field + ".kind", "is required");
  return f;
}

std::string time_json(TimePoint t) { return json::quote(to_iso8601(t)); }

template <typename T>
std::string optional_json(const std::optional<T>& v) {
  if (!v) return "null";
  if constexpr (std::is_same_v<T, TimePoint>) {
    return time_json(*v);
  } else if constexpr (std::is_same_v<T, double>) {
    return json::number(*v);
  } else {
    return std::to_string(*v);
  }
}

std::string scope_json(const Scope& s) {
  return json::ObjectWriter().add("kind", to_string(s.kind)).add("id", s.id).str();
}

}  // namespace

GradingOutcome parse_outcome(std::string_view text) {
  json::Value doc;
  try {
    doc = json::parse(text);
  } catch (const Error& e) {
    bad("(document)", "not valid JSON: " + e.message());
  }
  GradingOutcome out;
  bool grades = false;
  members_of(doc, "", {"grades", "errors", "grade_level", "evaluations", "annotations"},
             [&](const std::string& name, const json::Value& m, const std::string& here) {
               if (name == "grades" || name == "errors") {
                 if (!m.is_array()) bad(here, "must be an array");
                 for (std::size_t i = 0; i < m.items.size(); ++i) {
                   const std::string at = here + "[" + std::to_string(i) + "]";
                   if (name == "grades") {
                     out.grades.push_back(grade_of(m.items[i], at));
                   } else {
                     out.errors.push_back(finding_of(m.items[i], at));
                   }
                 }
                 grades = grades || name == "grades";
               } else if (name == "grade_level") {
                 out.grade_level = text_of(m, here);
               } else {
                 // null means none, as "" does in GradingOutcome
                 std::string& raw = name == "evaluations" ? out.evaluations : out.annotations;
                 raw = m.is_null() ? std::string() : json::write(m);
               }
             });
  if (!grades) bad("grades", "is required");
  return out;
}

std::string task_json(const GradingTask& t) {
  return json::ObjectWriter()
      .add("id", t.id)
      .add("state", to_string(t.state))
      .add_raw("submission_id", optional_json(t.submission_id))
      .add_raw("attempt_id", optional_json(t.attempt_id))
      .add_raw("assignment_id", optional_json(t.assignment_id))
      .add_raw("class_id", optional_json(t.class_id))
      .add_raw("exam_id", optional_json(t.exam_id))
      .add("student_id", t.student_id)
      .add("run", t.run)
      .add("tries", t.tries)
      .add("max_tries", t.max_tries)
      .add("token", t.token)
      .add("lease_owner", t.lease_owner)
      .add_raw("lease_expires_at", optional_json(t.lease_expires_at))
      .add_raw("available_at", time_json(t.available_at))
      .add_raw("created_at", time_json(t.created_at))
      .add_raw("completed_at", optional_json(t.completed_at))
      .add("last_error", t.last_error)
      .str();
}

std::string receipt_json(const CompletionReceipt& r) {
  return json::ObjectWriter()
      .add("task_id", r.task_id)
      .add("run", r.run)
      .add("token", r.token)
      .add_raw("total_score", json::number(r.total_score))
      .add_raw("max_score", json::number(r.max_score))
      .add_raw("percentage", json::number(r.percentage))
      .add("grade_level", r.grade_level)
      .add_raw("completed_at", time_json(r.completed_at))
      .add("replayed", r.replayed)
      .str();
}

std::string statistics_json(const GradingStatistics& s) {
  std::string distribution = "[";
  for (std::size_t i = 0; i < s.distribution.size(); ++i) {
    distribution += (i == 0 ? "" : ",") + std::to_string(s.distribution[i]);
  }
  std::string questions = "[";
  for (std::size_t i = 0; i < s.questions.size(); ++i) {
    const auto& q = s.questions[i];
    questions +=
        (i == 0 ? "" : ",") + json::ObjectWriter()
                                  .add("question", q.question)
                                  .add("count", q.count)
                                  .add_raw("mean_score", json::number(q.mean_score))
                                  .add_raw("max_score", json::number(q.max_score))
                                  .add_raw("difficulty", json::number(q.difficulty))
                                  .add_raw("discrimination", optional_json(q.discrimination))
                                  .str();
  }
  std::string kinds = "[";
  for (std::size_t i = 0; i < s.error_kinds.size(); ++i) {
    kinds += (i == 0 ? "" : ",") + json::ObjectWriter()
                                       .add("kind", s.error_kinds[i].first)
                                       .add("count", s.error_kinds[i].second)
                                       .str();
  }
  return json::ObjectWriter()
      .add_raw("scope", scope_json(s.scope))
      .add("count", s.count)
      .add_raw("mean_percentage", json::number(s.mean_percentage))
      .add_raw("stddev_percentage", json::number(s.stddev_percentage))
      .add_raw("min_percentage", json::number(s.min_percentage))
      .add_raw("max_percentage", json::number(s.max_percentage))
      .add_raw("median_percentage", json::number(s.median_percentage))
      .add_raw("distribution", distribution + "]")
      .add_raw("questions", questions + "]")
      .add_raw("error_kinds", kinds + "]")
      .add_raw("computed_at", time_json(s.computed_at))
      .str();
}

std::string ranking_json(const Scope& scope, const std::vector<RankEntry>& entries,
                         const std::optional<std::optional<RankEntry>>& student) {
  const auto entry = [](const RankEntry& e) {
    return json::ObjectWriter()
        .add("rank", e.rank)
        .add("student_id", e.student_id)
        .add_raw("score", json::number(e.score))
        .str();
  };
  std::string list = "[";
  for (std::size_t i = 0; i < entries.size(); ++i) list += (i == 0 ? "" : ",") + entry(entries[i]);
  json::ObjectWriter out;
  out.add_raw("scope", scope_json(scope)).add_raw("entries", list + "]");
  if (student) out.add_raw("student", *student ? entry(**student) : std::string("null"));
  return out.str();
}

}  // namespace examstore::cli
