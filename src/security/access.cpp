// TODO(issue 7, C): the rules, the grants and the Actor.
#include "examstore/access.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "repo/context.hpp"

namespace examstore {
namespace {

[[noreturn]] void todo(const char* what) {
  throw Error(ErrorCode::kInternal, what, "not implemented yet (issue 7, authorization)");
}

class PendingAccess final : public AccessControl {
 public:
  Decision decide(const Principal&, Operation, const Target&) override { todo("decide"); }
  void check(const Principal&, Operation, const Target&) override { todo("check"); }
  void grant_course(UserId, const std::string&, const Principal&) override { todo("grant"); }
  void revoke_course(UserId, const std::string&, const Principal&) override { todo("revoke"); }
  void assign_proctor(UserId, ExamId, const Principal&) override { todo("assign"); }
  void unassign_proctor(UserId, ExamId, const Principal&) override { todo("unassign"); }
  void set_exam_course(ExamId, const std::string&, const Principal&) override {
    todo("set_exam_course");
  }
  void set_question_course(QuestionId, const std::string&, const Principal&) override {
    todo("set_question_course");
  }
  std::vector<std::string> courses_of(UserId) override { todo("courses_of"); }
  std::vector<ExamId> exams_of_proctor(UserId) override { todo("exams_of_proctor"); }
  std::optional<std::string> course_of_exam(ExamId) override { todo("course_of_exam"); }
  std::optional<std::string> course_of_question(QuestionId) override { todo("course_of_question"); }
};

}  // namespace

std::string_view to_string(Operation) noexcept { return "?"; }
const std::vector<Operation>& all_operations() {
  static const std::vector<Operation> ops;
  return ops;
}
std::string Target::str() const { todo("Target::str"); }

Actor::Actor(Store& store, Principal who) : store_(&store), who_(std::move(who)) {}

std::optional<Student> Actor::student(StudentId) { todo("actor"); }
std::optional<Attempt> Actor::attempt(ExamId, StudentId) { todo("actor"); }
std::vector<SavedAnswer> Actor::answers(ExamId, StudentId) { todo("actor"); }
Attempt Actor::start(ExamId, StudentId, TimePoint) { todo("actor"); }
SaveAck Actor::autosave(const AnswerSave&) { todo("actor"); }
SubmissionReceipt Actor::submit(ExamId, StudentId, TimePoint) { todo("actor"); }
PresenceInfo Actor::presence(ExamId, StudentId) { todo("actor"); }
std::vector<StudentId> Actor::online(ExamId) { todo("actor"); }
std::vector<Violation> Actor::violations(const ViolationQuery&) { todo("actor"); }
Violation Actor::review_violation(ViolationId, ReviewState, const std::string&) { todo("actor"); }
Question Actor::create_question(const std::string&, const QuestionDraft&) { todo("actor"); }
Question Actor::edit_question(QuestionId, const QuestionDraft&) { todo("actor"); }
std::optional<Question> Actor::question(QuestionId) { todo("actor"); }
std::vector<PaperItem> Actor::paper(const PaperKey&) { todo("actor"); }
std::vector<PaperItem> Actor::edit_paper(const PaperKey&, const std::vector<PaperOp>&) {
  todo("actor");
}
AssembledPaper Actor::assemble_paper(const PaperKey&, const AssemblyRules&) { todo("actor"); }
std::optional<Exam> Actor::exam(ExamId) { todo("actor"); }
Exam Actor::configure_exam(ExamId, const std::string&, std::optional<std::int64_t>) {
  todo("actor");
}
Exam Actor::transition_exam(ExamId, ExamStatus) { todo("actor"); }

namespace repo {
std::unique_ptr<AccessControl> make_access_control(Context&, AuditLog&) {
  return std::make_unique<PendingAccess>();
}
}  // namespace repo

}  // namespace examstore
