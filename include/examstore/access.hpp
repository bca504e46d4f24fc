// examstore/access.hpp: who may do what, and the Actor through which principals act.
//
// The repositories handed out by Store (exams(), students(), ...) are the trusted, system-level
// API: they check input, not people. Code that acts for a signed-in person goes through an
// Actor (Store::act_as(principal)), which decides every call with AccessControl before it
// touches anything, and writes every change it makes to the audit log (except autosaves, which
// their answer revisions record: see docs/security.md). A denied call throws
// Error(kPermissionDenied) naming the principal, the operation and the target, and changes
// nothing.
//
// The rules (table-driven in src/security/policy.cpp; docs/security.md has the table):
//   - a student reads only their own profile, attempts, answers, presence and violations, and
//     writes only their own attempts (start, autosave, submit);
//   - a teacher manages (reads and writes) the questions and papers of their own courses and
//     reads the attempts and answers (results) of exams of their own courses;
//   - a proctor reads presence and violations of the exams assigned to them and reviews those
//     violations;
//   - an administrator (and the system principal) does everything;
//   - everyone signed in may read an exam's public fields (name, times, status).
// "Their own courses" and "assigned to them" are grants held in the database and managed here
// by an administrator: teacher -> course, proctor -> exam, exam -> course, question -> course.
// A course is named by its paper path, "school/department/major/course" (see PaperKey).
//
// Thread-safety: all methods are thread-safe; an Actor is a small value bound to its Store.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/accounts.hpp"
#include "examstore/attempts.hpp"
#include "examstore/model.hpp"
#include "examstore/paper_store.hpp"
#include "examstore/question_bank.hpp"
#include "examstore/student_repo.hpp"
#include "examstore/violation_repo.hpp"

namespace examstore {

class Store;

/// Every operation the rules decide. Names are stable (they appear in errors and audit entries).
enum class Operation {
  kStudentRead,      ///< a student's profile
  kStudentCorrect,   ///< correct a student's personal fields (GDPR right of correction)
  kAttemptRead,      ///< an attempt, its answers and revisions (results)
  kAttemptWrite,     ///< start, autosave, submit
  kPresenceRead,     ///< presence of a student or of an exam
  kViolationRead,    ///< violations and events
  kViolationReview,  ///< review a violation
  kQuestionRead,
  kQuestionWrite,
  kPaperRead,
  kPaperWrite,
  kExamRead,
  kExamWrite,    ///< create, configure, transition exams
  kUserManage,   ///< create, lock, unlock, delete users, reset passwords
  kGrantManage,  ///< teacher -> course, proctor -> exam, exam -> course, question -> course
  kAuditRead,
  kPersonalDataExport,  ///< GDPR export of a student
  kPersonalDataErase,   ///< GDPR erasure of a student
  kKeyRotate,
};
/// "student.read", "attempt.write", ... (the audit log's and the error messages' spelling).
std::string_view to_string(Operation op) noexcept;
/// Every operation, in declaration order (for table-driven tests and docs).
const std::vector<Operation>& all_operations();

/// What an operation acts on; the fields that apply to it are set.
struct Target {
  std::optional<StudentId> student;
  std::optional<ExamId> exam;
  std::optional<std::string> course;  ///< "school/department/major/course"
  /// "student:9", "exam:7/student:9", "course:s/d/m/c" or "-" (for errors and audit entries).
  std::string str() const;
};

/// The outcome of a decision, with the rule that made it.
struct Decision {
  bool allowed = false;
  /// Why, e.g. "student acts on own record", "teacher does not teach course s/d/m/c",
  /// "proctor is not assigned to exam 7".
  std::string reason;
};

/// The rules and the grants they consult.
class AccessControl {
 public:
  virtual ~AccessControl() = default;

  /// Decides without side effects (reads grants, possibly from a short-lived in-process cache
  /// that grant changes made through this Store invalidate at once; other processes' changes
  /// are seen within 2 seconds). Each grant lookup is at most one database round trip. A
  /// teacher's target without a course but with an exam is decided by the exam's course.
  virtual Decision decide(const Principal& who, Operation op, const Target& target) = 0;
  /// decide(), and throws Error(kPermissionDenied) with the decision's reason when denied:
  /// operation "authorize <op>", message "<name> (<role>) may not <op> on <target>: <reason>".
  virtual void check(const Principal& who, Operation op, const Target& target) = 0;

  // ---- grants ----
  // Each needs kGrantManage of `by` (an administrator or the system principal), checks its input
  // first (kInvalidArgument naming "course" or "teacher"/"proctor" for an id <= 0), throws
  // kNotFound for an unknown exam or question, and is idempotent: a call that changes something
  // appends one audit entry ("grant.course", "grant.course_revoke", "grant.proctor",
  // "grant.proctor_revoke", "grant.exam_course", "grant.question_course"); a repeat changes and
  // records nothing. Decisions made after the call returns see the change.
  virtual void grant_course(UserId teacher, const std::string& course, const Principal& by) = 0;
  virtual void revoke_course(UserId teacher, const std::string& course, const Principal& by) = 0;
  virtual void assign_proctor(UserId proctor, ExamId exam, const Principal& by) = 0;
  virtual void unassign_proctor(UserId proctor, ExamId exam, const Principal& by) = 0;
  /// Sets (or moves) the course an exam belongs to.
  virtual void set_exam_course(ExamId exam, const std::string& course, const Principal& by) = 0;
  /// Sets (or moves) the course a question belongs to.
  virtual void set_question_course(QuestionId question, const std::string& course,
                                   const Principal& by) = 0;

  // ---- reading grants (from the database, never from the decision cache) ----
  virtual std::vector<std::string> courses_of(UserId teacher) = 0;
  virtual std::vector<ExamId> exams_of_proctor(UserId proctor) = 0;
  virtual std::optional<std::string> course_of_exam(ExamId exam) = 0;
  virtual std::optional<std::string> course_of_question(QuestionId question) = 0;
};

/// A principal acting through the library: every call is decided, every change but an autosave
/// audited.
/// Obtain with Store::act_as(). Methods mirror the repositories' (see their headers for the
/// behaviour and errors beyond kPermissionDenied).
class Actor {
 public:
  Actor(Store& store, Principal who);
  const Principal& principal() const noexcept { return who_; }

  // ---- students ----
  std::optional<Student> student(StudentId id);  ///< kStudentRead

  // ---- attempts ----
  std::optional<Attempt> attempt(ExamId exam, StudentId student);    ///< kAttemptRead
  std::vector<SavedAnswer> answers(ExamId exam, StudentId student);  ///< kAttemptRead
  /// kAttemptWrite. `durability` as for AttemptRepo::start (kJournaled needs a journal on
  /// PostgreSQL).
  Attempt start(ExamId exam, StudentId student, TimePoint now,
                Durability durability = Durability::kJournaled);
  /// kAttemptWrite. `durability` as for AttemptRepo::autosave.
  SaveAck autosave(const AnswerSave& save, Durability durability = Durability::kJournaled);
  SubmissionReceipt submit(ExamId exam, StudentId student, TimePoint now);  ///< kAttemptWrite

  // ---- presence and violations ----
  PresenceInfo presence(ExamId exam, StudentId student);  ///< kPresenceRead
  std::vector<StudentId> online(ExamId exam);             ///< kPresenceRead (exam)
  /// kViolationRead: a student's query must name themselves; a proctor's must name an exam
  /// assigned to them.
  std::vector<Violation> violations(const ViolationQuery& q);
  Violation review_violation(ViolationId id, ReviewState state,
                             const std::string& note);  ///< kViolationReview

  // ---- questions and papers (teachers of the course) ----
  /// kQuestionWrite on `course`; the new question is granted to `course`.
  Question create_question(const std::string& course, const QuestionDraft& draft);
  Question edit_question(QuestionId id, const QuestionDraft& draft);  ///< kQuestionWrite
  std::optional<Question> question(QuestionId id);                    ///< kQuestionRead
  std::vector<PaperItem> paper(const PaperKey& key);                  ///< kPaperRead
  std::vector<PaperItem> edit_paper(const PaperKey& key,
                                    const std::vector<PaperOp>& ops);  ///< kPaperWrite
  AssembledPaper assemble_paper(const PaperKey& key,
                                const AssemblyRules& rules);  ///< kPaperWrite

  // ---- exams ----
  /// kExamRead; the configuration is left empty for those who may not kExamWrite.
  std::optional<Exam> exam(ExamId id);
  Exam configure_exam(ExamId id, const std::string& config,
                      std::optional<std::int64_t> expected_config_version);  ///< kExamWrite
  Exam transition_exam(ExamId id, ExamStatus to);                            ///< kExamWrite

 private:
  Store* store_;
  Principal who_;
};

}  // namespace examstore
