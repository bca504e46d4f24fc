#include "grading/grading_codec.hpp"

#include <cstdint>
#include <cstring>

#include "db/store_checks.hpp"
#include "examstore/error.hpp"

namespace examstore::grading {
namespace {

constexpr char kVersion = '\x01';

class Out {
 public:
  Out() { s_ += kVersion; }
  Out& i64(std::int64_t v) {
    auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i) {
      s_ += static_cast<char>(u & 0xffu);
      u >>= 8u;
    }
    return *this;
  }
  Out& f64(double v) {
    std::uint64_t u = 0;
    std::memcpy(&u, &v, sizeof u);
    return i64(static_cast<std::int64_t>(u));
  }
  Out& str(std::string_view v) {
    i64(static_cast<std::int64_t>(v.size()));
    s_.append(v);
    return *this;
  }
  Out& time(TimePoint t) { return i64(db::check::to_micros(t)); }
  Out& opt_f64(const std::optional<double>& v) {
    i64(v ? 1 : 0);
    return f64(v.value_or(0));
  }
  std::string take() { return std::move(s_); }

 private:
  std::string s_;
};

class In {
 public:
  explicit In(std::string_view s) : s_(s) {
    if (s_.empty() || s_[0] != kVersion) bad();
    pos_ = 1;
  }
  std::int64_t i64() {
    if (s_.size() - pos_ < 8) bad();
    std::uint64_t u = 0;
    for (int i = 7; i >= 0; --i) {
      u = (u << 8u) | static_cast<unsigned char>(s_[pos_ + static_cast<std::size_t>(i)]);
    }
    pos_ += 8;
    return static_cast<std::int64_t>(u);
  }
  double f64() {
    const auto u = static_cast<std::uint64_t>(i64());
    double v = 0;
    std::memcpy(&v, &u, sizeof v);
    return v;
  }
  std::string str() {
    const std::int64_t n = i64();
    if (n < 0 || static_cast<std::uint64_t>(n) > s_.size() - pos_) bad();
    std::string out(s_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return out;
  }
  /// A count of items, each at least `min_bytes` long: bounded by what is left.
  std::size_t count(std::size_t min_bytes) {
    const std::int64_t n = i64();
    if (n < 0 || static_cast<std::uint64_t>(n) > (s_.size() - pos_) / min_bytes) bad();
    return static_cast<std::size_t>(n);
  }
  TimePoint time() { return db::check::from_micros(i64()); }
  std::optional<double> opt_f64() {
    const bool has = i64() != 0;
    const double v = f64();
    if (!has) return std::nullopt;
    return v;
  }
  void end() const {
    if (pos_ != s_.size()) bad();
  }

 private:
  [[noreturn]] static void bad() {
    throw Error(ErrorCode::kDataIntegrity, "grading cache", "cached value does not decode");
  }
  std::string_view s_;
  std::size_t pos_ = 0;
};

template <typename E>
E enum_of(std::int64_t v, E last) {
  if (v < 0 || v > static_cast<std::int64_t>(last)) {
    throw Error(ErrorCode::kDataIntegrity, "grading cache", "cached enum out of range");
  }
  return static_cast<E>(v);
}

}  // namespace

std::string encode(const SchoolClass& c) {
  Out o;
  o.i64(c.id).str(c.name).str(c.teacher).str(c.subject).i64(c.student_count).time(c.created_at);
  return o.take();
}

SchoolClass decode_class(std::string_view v) {
  In in(v);
  SchoolClass c;
  c.id = in.i64();
  c.name = in.str();
  c.teacher = in.str();
  c.subject = in.str();
  c.student_count = in.i64();
  c.created_at = in.time();
  in.end();
  return c;
}

std::string encode(const std::vector<StudentId>& ids) {
  Out o;
  o.i64(static_cast<std::int64_t>(ids.size()));
  for (const StudentId id : ids) o.i64(id);
  return o.take();
}

std::vector<StudentId> decode_ids(std::string_view v) {
  In in(v);
  std::vector<StudentId> ids(in.count(8));
  for (auto& id : ids) id = in.i64();
  in.end();
  return ids;
}

std::string encode(const Assignment& a) {
  Out o;
  o.i64(a.id).i64(a.class_id).str(a.teacher).str(a.subject).str(a.title).str(a.description);
  o.str(a.rubric_text).str(a.rubric_json).i64(a.question_count).f64(a.max_score);
  o.i64(static_cast<std::int64_t>(a.mode)).time(a.deadline).time(a.created_at);
  return o.take();
}

Assignment decode_assignment(std::string_view v) {
  In in(v);
  Assignment a;
  a.id = in.i64();
  a.class_id = in.i64();
  a.teacher = in.str();
  a.subject = in.str();
  a.title = in.str();
  a.description = in.str();
  a.rubric_text = in.str();
  a.rubric_json = in.str();
  a.question_count = static_cast<int>(in.i64());
  a.max_score = in.f64();
  a.mode = enum_of(in.i64(), GradingMode::kMixed);
  a.deadline = in.time();
  a.created_at = in.time();
  in.end();
  return a;
}

std::string encode(const std::vector<GradingResult>& rows) {
  Out o;
  o.i64(static_cast<std::int64_t>(rows.size()));
  for (const GradingResult& r : rows) {
    o.i64(r.task_id).i64(r.run);
    o.i64(r.grade.question).f64(r.grade.score).f64(r.grade.max_score);
    o.str(r.grade.feedback).str(r.grade.strategy);
    o.i64(static_cast<std::int64_t>(r.grader.kind)).str(r.grader.name).str(r.grader.model);
    o.str(r.grader.model_version).str(r.grader.prompt_sha256);
    o.i64(r.token).time(r.created_at).i64(r.superseded ? 1 : 0);
  }
  return o.take();
}

std::vector<GradingResult> decode_results(std::string_view v) {
  In in(v);
  std::vector<GradingResult> rows(in.count(8 * 14));
  for (GradingResult& r : rows) {
    r.task_id = in.i64();
    r.run = static_cast<int>(in.i64());
    r.grade.question = in.i64();
    r.grade.score = in.f64();
    r.grade.max_score = in.f64();
    r.grade.feedback = in.str();
    r.grade.strategy = in.str();
    r.grader.kind = enum_of(in.i64(), GraderIdentity::Kind::kAi);
    r.grader.name = in.str();
    r.grader.model = in.str();
    r.grader.model_version = in.str();
    r.grader.prompt_sha256 = in.str();
    r.token = in.i64();
    r.created_at = in.time();
    r.superseded = in.i64() != 0;
  }
  in.end();
  return rows;
}

std::string encode(const GradingStatistics& s) {
  Out o;
  o.i64(static_cast<std::int64_t>(s.scope.kind)).i64(s.scope.id).i64(s.count);
  o.f64(s.mean_percentage).f64(s.stddev_percentage).f64(s.min_percentage);
  o.f64(s.max_percentage).f64(s.median_percentage);
  o.i64(static_cast<std::int64_t>(s.distribution.size()));
  for (const std::int64_t d : s.distribution) o.i64(d);
  o.i64(static_cast<std::int64_t>(s.questions.size()));
  for (const QuestionStatistics& q : s.questions) {
    o.i64(q.question).i64(q.count).f64(q.mean_score).f64(q.max_score).f64(q.difficulty);
    o.opt_f64(q.discrimination);
  }
  o.i64(static_cast<std::int64_t>(s.error_kinds.size()));
  for (const auto& [kind, n] : s.error_kinds) o.str(kind).i64(n);
  o.time(s.computed_at);
  return o.take();
}

GradingStatistics decode_statistics(std::string_view v) {
  In in(v);
  GradingStatistics s;
  s.scope.kind = enum_of(in.i64(), ScopeKind::kExam);
  s.scope.id = in.i64();
  s.count = in.i64();
  s.mean_percentage = in.f64();
  s.stddev_percentage = in.f64();
  s.min_percentage = in.f64();
  s.max_percentage = in.f64();
  s.median_percentage = in.f64();
  s.distribution.resize(in.count(8));
  for (auto& d : s.distribution) d = in.i64();
  s.questions.resize(in.count(8 * 7));
  for (QuestionStatistics& q : s.questions) {
    q.question = in.i64();
    q.count = in.i64();
    q.mean_score = in.f64();
    q.max_score = in.f64();
    q.difficulty = in.f64();
    q.discrimination = in.opt_f64();
  }
  s.error_kinds.resize(in.count(16));
  for (auto& [kind, n] : s.error_kinds) {
    kind = in.str();
    n = in.i64();
  }
  s.computed_at = in.time();
  in.end();
  return s;
}

}  // namespace examstore::grading
