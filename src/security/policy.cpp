// The authorization rules: one table, one row per operation, one rule kind per role. The order
// of the rows is the order of Operation (checked at compile time), so a new operation without a
// row does not build. docs/security.md shows the same table.
#include "security/policy.hpp"

#include <array>
#include <cstddef>

namespace examstore {
namespace {

struct OperationName {
  Operation op;
  std::string_view name;
};

constexpr std::array<OperationName, 19> kOperationNames = {{
    {Operation::kStudentRead, "student.read"},
    {Operation::kStudentCorrect, "student.correct"},
    {Operation::kAttemptRead, "attempt.read"},
    {Operation::kAttemptWrite, "attempt.write"},
    {Operation::kPresenceRead, "presence.read"},
    {Operation::kViolationRead, "violation.read"},
    {Operation::kViolationReview, "violation.review"},
    {Operation::kQuestionRead, "question.read"},
    {Operation::kQuestionWrite, "question.write"},
    {Operation::kPaperRead, "paper.read"},
    {Operation::kPaperWrite, "paper.write"},
    {Operation::kExamRead, "exam.read"},
    {Operation::kExamWrite, "exam.write"},
    {Operation::kUserManage, "user.manage"},
    {Operation::kGrantManage, "grant.manage"},
    {Operation::kAuditRead, "audit.read"},
    {Operation::kPersonalDataExport, "personal_data.export"},
    {Operation::kPersonalDataErase, "personal_data.erase"},
    {Operation::kKeyRotate, "keys.rotate"},
}};

}  // namespace

std::string_view to_string(Operation op) noexcept {
  const auto i = static_cast<std::size_t>(op);
  return i < kOperationNames.size() ? kOperationNames[i].name : std::string_view("?");
}

const std::vector<Operation>& all_operations() {
  static const std::vector<Operation> ops = [] {
    std::vector<Operation> out;
    out.reserve(kOperationNames.size());
    for (const auto& n : kOperationNames) out.push_back(n.op);
    return out;
  }();
  return ops;
}

std::string Target::str() const {
  std::string out;
  const auto part = [&out](const std::string& p) {
    if (!out.empty()) out += '/';
    out += p;
  };
  if (exam) part("exam:" + std::to_string(*exam));
  if (student) part("student:" + std::to_string(*student));
  if (course) part("course:" + *course);
  return out.empty() ? std::string("-") : out;
}

namespace security {
namespace {

using R = Rule;
constexpr R kAllow = R::kAllow;
constexpr R kOwn = R::kOwnStudent;
constexpr R kCourse = R::kCourseOfTarget;
constexpr R kProctor = R::kProctorOfExam;
constexpr R kDeny = R::kDeny;

struct Row {
  Operation op;
  // Indexed by Role: student, teacher, proctor, administrator.
  std::array<Rule, 4> by_role;
};

// clang-format off
constexpr std::array<Row, 19> kPolicy = {{
    //                                  student  teacher  proctor   administrator
    {Operation::kStudentRead,         {{kOwn,    kDeny,   kDeny,    kAllow}}},
    {Operation::kStudentCorrect,      {{kDeny,   kDeny,   kDeny,    kAllow}}},
    {Operation::kAttemptRead,         {{kOwn,    kCourse, kDeny,    kAllow}}},
    {Operation::kAttemptWrite,        {{kOwn,    kDeny,   kDeny,    kAllow}}},
    {Operation::kPresenceRead,        {{kOwn,    kDeny,   kProctor, kAllow}}},
    {Operation::kViolationRead,       {{kOwn,    kDeny,   kProctor, kAllow}}},
    {Operation::kViolationReview,     {{kDeny,   kDeny,   kProctor, kAllow}}},
    {Operation::kQuestionRead,        {{kDeny,   kCourse, kDeny,    kAllow}}},
    {Operation::kQuestionWrite,       {{kDeny,   kCourse, kDeny,    kAllow}}},
    {Operation::kPaperRead,           {{kDeny,   kCourse, kDeny,    kAllow}}},
    {Operation::kPaperWrite,          {{kDeny,   kCourse, kDeny,    kAllow}}},
    {Operation::kExamRead,            {{kAllow,  kAllow,  kAllow,   kAllow}}},
    {Operation::kExamWrite,           {{kDeny,   kDeny,   kDeny,    kAllow}}},
    {Operation::kUserManage,          {{kDeny,   kDeny,   kDeny,    kAllow}}},
    {Operation::kGrantManage,         {{kDeny,   kDeny,   kDeny,    kAllow}}},
    {Operation::kAuditRead,           {{kDeny,   kDeny,   kDeny,    kAllow}}},
    {Operation::kPersonalDataExport,  {{kDeny,   kDeny,   kDeny,    kAllow}}},
    {Operation::kPersonalDataErase,   {{kDeny,   kDeny,   kDeny,    kAllow}}},
    {Operation::kKeyRotate,           {{kDeny,   kDeny,   kDeny,    kAllow}}},
}};
// clang-format on

template <typename Table>
constexpr bool rows_in_operation_order(const Table& table) {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (static_cast<std::size_t>(table[i].op) != i) return false;
  }
  return true;
}
static_assert(rows_in_operation_order(kPolicy), "kPolicy: one row per Operation, in order");
static_assert(rows_in_operation_order(kOperationNames),
              "kOperationNames: one name per Operation, in order");
static_assert(kPolicy.size() == static_cast<std::size_t>(Operation::kKeyRotate) + 1,
              "kPolicy: a row for every Operation");

Decision allow(std::string reason) { return Decision{true, std::move(reason)}; }
Decision deny(std::string reason) { return Decision{false, std::move(reason)}; }

Decision own_student(const Principal& who, const Target& t) {
  if (!t.student) return deny("the target names no student");
  if (!who.student_id) return deny("the principal is linked to no student record");
  if (*who.student_id != *t.student) {
    return deny("student " + std::to_string(*t.student) + " is not the principal's own record");
  }
  return allow("student acts on own record");
}

Decision course_of_target(const Principal& who, const Target& t, GrantLookup& grants) {
  const std::string role(to_string(who.role));
  if (t.course) {
    return grants.teaches(who.user_id, *t.course)
               ? allow(role + " teaches course " + *t.course)
               : deny(role + " does not teach course " + *t.course);
  }
  if (!t.exam) return deny("the target belongs to no course");
  const ExamCourse ec = grants.exam_course(who.user_id, *t.exam);
  if (!ec.course) return deny("exam " + std::to_string(*t.exam) + " belongs to no course");
  return ec.taught
             ? allow(role + " teaches course " + *ec.course + " of exam " + std::to_string(*t.exam))
             : deny(role + " does not teach course " + *ec.course + " of exam " +
                    std::to_string(*t.exam));
}

Decision proctor_of_exam(const Principal& who, const Target& t, GrantLookup& grants) {
  const std::string role(to_string(who.role));
  if (!t.exam) return deny("the target names no exam");
  const std::string exam = std::to_string(*t.exam);
  return grants.proctors(who.user_id, *t.exam) ? allow(role + " is assigned to exam " + exam)
                                               : deny(role + " is not assigned to exam " + exam);
}

}  // namespace

Rule rule_of(Role role, Operation op) noexcept {
  const auto i = static_cast<std::size_t>(op);
  const auto r = static_cast<std::size_t>(role);
  if (i >= kPolicy.size() || r >= 4) return Rule::kDeny;
  return kPolicy[i].by_role[r];
}

std::string_view to_string(Rule r) noexcept {
  switch (r) {
    case Rule::kAllow:
      return "allow";
    case Rule::kOwnStudent:
      return "own-student";
    case Rule::kCourseOfTarget:
      return "course-of-target";
    case Rule::kProctorOfExam:
      return "proctor-of-exam";
    case Rule::kDeny:
      break;
  }
  return "deny";
}

Decision evaluate(const Principal& who, Operation op, const Target& target, GrantLookup& grants) {
  if (who.is_system()) return allow("the system principal may do everything");
  const std::string role(to_string(who.role));
  switch (rule_of(who.role, op)) {
    case Rule::kAllow:
      return allow(role + " may " + std::string(to_string(op)));
    case Rule::kOwnStudent:
      return own_student(who, target);
    case Rule::kCourseOfTarget:
      return course_of_target(who, target, grants);
    case Rule::kProctorOfExam:
      return proctor_of_exam(who, target, grants);
    case Rule::kDeny:
      break;
  }
  return deny("no rule lets a " + role + " " + std::string(to_string(op)));
}

std::string denial_message(const Principal& who, Operation op, const Target& target,
                           const Decision& d) {
  return who.name + " (" + std::string(to_string(who.role)) + ") may not " +
         std::string(to_string(op)) + " on " + target.str() + ": " + d.reason;
}

}  // namespace security
}  // namespace examstore
