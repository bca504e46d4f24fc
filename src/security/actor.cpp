// The Actor: resolves what each call acts on, asks AccessControl before touching anything, calls
// the trusted repositories, and records each change in the audit log once it has succeeded.
// Summaries in audit entries hold ids, versions and states only: never answers, question
// content, notes or personal fields.
#include <string>
#include <utility>

#include "examstore/access.hpp"
#include "examstore/audit.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "security/access_internal.hpp"

namespace examstore {
namespace {

Target student_target(StudentId student) {
  Target t;
  t.student = student;
  return t;
}
Target attempt_target(ExamId exam, StudentId student) {
  Target t;
  t.student = student;
  t.exam = exam;
  return t;
}
Target exam_target(ExamId exam) {
  Target t;
  t.exam = exam;
  return t;
}
Target course_target(std::optional<std::string> course) {
  Target t;
  t.course = std::move(course);
  return t;
}

std::string state_summary(const std::optional<Attempt>& a) {
  return a ? "state=" + std::string(to_string(a->state)) : "-";
}

void record(Store& store, const Principal& who, const char* action, std::string target,
            std::string before, std::string after) {
  store.audit().append(
      who, NewAuditEntry{action, std::move(target), std::move(before), std::move(after)});
}

/// The course of a paper: its path, checked first so that a malformed key gets the
/// repository's kInvalidArgument rather than reaching a grant lookup or an error message.
Target paper_course(const PaperKey& key) { return course_target(PaperKey::parse(key.str()).str()); }

std::string question_target(QuestionId id) { return "question:" + std::to_string(id); }
std::string paper_target(const PaperKey& key) { return "paper:" + key.str(); }

}  // namespace

Actor::Actor(Store& store, Principal who) : store_(&store), who_(std::move(who)) {}

// ---- students ----

std::optional<Student> Actor::student(StudentId id) {
  store_->access().check(who_, Operation::kStudentRead, student_target(id));
  return store_->students().get(id);
}

// ---- attempts ----

std::optional<Attempt> Actor::attempt(ExamId exam, StudentId student) {
  store_->access().check(who_, Operation::kAttemptRead, attempt_target(exam, student));
  return store_->attempts().get(exam, student);
}

std::vector<SavedAnswer> Actor::answers(ExamId exam, StudentId student) {
  store_->access().check(who_, Operation::kAttemptRead, attempt_target(exam, student));
  return store_->attempts().answers(exam, student);
}

Attempt Actor::start(ExamId exam, StudentId student, TimePoint now, Durability durability) {
  const Target t = attempt_target(exam, student);
  store_->access().check(who_, Operation::kAttemptWrite, t);
  const auto before = store_->attempts().get(exam, student);
  Attempt after = store_->attempts().start(exam, student, now, durability);
  if (!before || before->state != after.state) {
    record(*store_, who_, "attempt.start", t.str(), state_summary(before),
           "attempt:" + std::to_string(after.id) + " " + state_summary(after));
  }
  return after;
}

SaveAck Actor::autosave(const AnswerSave& save, Durability durability) {
  const Target t = attempt_target(save.exam_id, save.student_id);
  store_->access().check(who_, Operation::kAttemptWrite, t);
  // Not audited: autosaves are the hottest write of an exam, and each one is already recorded,
  // append-only, as an answer revision (seq, time, interval). An audit entry per save would
  // serialize every student's saves on the audit chain's head (docs/security.md).
  return store_->attempts().autosave(save, durability);
}

SubmissionReceipt Actor::submit(ExamId exam, StudentId student, TimePoint now) {
  const Target t = attempt_target(exam, student);
  store_->access().check(who_, Operation::kAttemptWrite, t);
  const auto before = store_->attempts().get(exam, student);
  SubmissionReceipt r = store_->attempts().submit(exam, student, now);
  if (!before || before->state != AttemptState::kSubmitted) {
    record(*store_, who_, "attempt.submit", t.str(), state_summary(before),
           "attempt:" + std::to_string(r.attempt_id) +
               " state=submitted answers=" + std::to_string(r.answers) + " receipt=" + r.receipt);
  }
  return r;
}

// ---- presence and violations ----

PresenceInfo Actor::presence(ExamId exam, StudentId student) {
  store_->access().check(who_, Operation::kPresenceRead, attempt_target(exam, student));
  return store_->students().presence(exam, student);
}

std::vector<StudentId> Actor::online(ExamId exam) {
  store_->access().check(who_, Operation::kPresenceRead, exam_target(exam));
  return store_->students().online(exam);
}

std::vector<Violation> Actor::violations(const ViolationQuery& q) {
  // The query's own filters are the target: a student must name themselves, a proctor an exam
  // of theirs; a query without them is decided as one over everybody (administrators only).
  Target t;
  t.student = q.student_id;
  t.exam = q.exam_id;
  store_->access().check(who_, Operation::kViolationRead, t);
  return store_->violations().query(q);
}

Violation Actor::review_violation(ViolationId id, ReviewState state, const std::string& note) {
  // An unknown violation is decided as a target without exam, so only those who may review
  // anything learn that it does not exist (from the repository's kNotFound).
  const auto before = store_->violations().get(id);
  store_->access().check(who_, Operation::kViolationReview,
                         before ? attempt_target(before->exam_id, before->student_id) : Target{});
  Violation after = store_->violations().review(id, state, who_.name, note);
  if (!before || before->state != after.state) {
    record(*store_, who_, "violation.review", "violation:" + std::to_string(id),
           before ? "state=" + std::string(to_string(before->state)) : "-",
           "state=" + std::string(to_string(after.state)));
  }
  return after;
}

// ---- questions and papers ----

Question Actor::create_question(const std::string& course, const QuestionDraft& draft) {
  std::string c;
  try {
    c = PaperKey::parse(course).str();
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument, "create question", "course: " + e.message());
  }
  store_->access().check(who_, Operation::kQuestionWrite, course_target(c));
  Question q = store_->questions().create(draft);
  // Right after the create: should this fail, the question exists without a course, which only
  // an administrator can see or fix (AccessControl::set_question_course); the error says why.
  security::set_new_question_course(store_->access(), q.id, c);
  record(*store_, who_, "question.create", question_target(q.id), "-",
         "version=" + std::to_string(q.version) + " course:" + c);
  return q;
}

Question Actor::edit_question(QuestionId id, const QuestionDraft& draft) {
  store_->access().check(who_, Operation::kQuestionWrite,
                         course_target(security::cached_question_course(store_->access(), id)));
  Question q = store_->questions().edit(id, draft);
  record(*store_, who_, "question.edit", question_target(id),
         "version=" + std::to_string(q.version - 1), "version=" + std::to_string(q.version));
  return q;
}

std::optional<Question> Actor::question(QuestionId id) {
  store_->access().check(who_, Operation::kQuestionRead,
                         course_target(security::cached_question_course(store_->access(), id)));
  return store_->questions().get(id);
}

std::vector<PaperItem> Actor::paper(const PaperKey& key) {
  store_->access().check(who_, Operation::kPaperRead, paper_course(key));
  return store_->papers().items(key);
}

std::vector<PaperItem> Actor::edit_paper(const PaperKey& key, const std::vector<PaperOp>& ops) {
  store_->access().check(who_, Operation::kPaperWrite, paper_course(key));
  const std::int64_t before = store_->papers().count(key);
  std::vector<PaperItem> items = store_->papers().apply(key, ops);
  record(*store_, who_, "paper.edit", paper_target(key), "items=" + std::to_string(before),
         "items=" + std::to_string(items.size()));
  return items;
}

AssembledPaper Actor::assemble_paper(const PaperKey& key, const AssemblyRules& rules) {
  store_->access().check(who_, Operation::kPaperWrite, paper_course(key));
  const std::int64_t before = store_->papers().count(key);
  AssembledPaper p = store_->papers().assemble(key, rules);
  record(*store_, who_, "paper.assemble", paper_target(key), "items=" + std::to_string(before),
         "paper_id=" + std::to_string(p.paper_id) + " items=" + std::to_string(p.items.size()));
  return p;
}

// ---- exams ----

std::optional<Exam> Actor::exam(ExamId id) {
  const Target t = exam_target(id);
  store_->access().check(who_, Operation::kExamRead, t);
  auto e = store_->exams().get(id);
  // Everybody reads the public fields; the configuration only those who may change it.
  if (e && !store_->access().decide(who_, Operation::kExamWrite, t).allowed) e->config.clear();
  return e;
}

Exam Actor::configure_exam(ExamId id, const std::string& config,
                           std::optional<std::int64_t> expected_config_version) {
  store_->access().check(who_, Operation::kExamWrite, exam_target(id));
  Exam e = store_->exams().update_config(id, config, who_.name, expected_config_version);
  record(*store_, who_, "exam.configure", "exam:" + std::to_string(id),
         "config_version=" + std::to_string(e.config_version - 1),
         "config_version=" + std::to_string(e.config_version));
  return e;
}

Exam Actor::transition_exam(ExamId id, ExamStatus to) {
  store_->access().check(who_, Operation::kExamWrite, exam_target(id));
  const auto before = store_->exams().get(id);
  Exam e = store_->exams().transition(id, to);
  if (!before || before->status != e.status) {
    record(*store_, who_, "exam.transition", "exam:" + std::to_string(id),
           before ? "status=" + std::string(to_string(before->status)) : "-",
           "status=" + std::string(to_string(e.status)));
  }
  return e;
}

}  // namespace examstore
