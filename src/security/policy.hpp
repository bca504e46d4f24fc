// security/policy.hpp: the authorization rules as one table (role x operation -> rule kind),
// and their evaluation against the grants a GrantLookup answers.
#pragma once

#include <optional>
#include <string>

#include "examstore/access.hpp"

namespace examstore::security {

/// How a role's right to an operation is decided.
enum class Rule {
  kAllow,           ///< always
  kOwnStudent,      ///< the target's student is the principal's own student record
  kCourseOfTarget,  ///< the principal teaches the target's course (or the target exam's course)
  kProctorOfExam,   ///< the principal is assigned to the target's exam
  kDeny,            ///< never
};

/// The rule of `role` for `op` (the table in policy.cpp).
Rule rule_of(Role role, Operation op) noexcept;
/// "allow", "own-student", "course-of-target", "proctor-of-exam", "deny".
std::string_view to_string(Rule r) noexcept;

/// The course of an exam, and whether a given teacher teaches it (one lookup).
struct ExamCourse {
  std::optional<std::string> course;  ///< nullopt when the exam belongs to no course
  bool taught = false;
};

/// The grants a decision consults; each call is at most one database round trip.
class GrantLookup {
 public:
  virtual ~GrantLookup() = default;
  virtual bool teaches(UserId teacher, const std::string& course) = 0;
  virtual ExamCourse exam_course(UserId teacher, ExamId exam) = 0;
  virtual bool proctors(UserId proctor, ExamId exam) = 0;
};

/// Applies the table: the system principal is allowed everything; otherwise the role's rule for
/// `op`, consulting `grants` only for the course and proctor rules.
Decision evaluate(const Principal& who, Operation op, const Target& target, GrantLookup& grants);

/// The text of the kPermissionDenied error for a denied decision:
/// "<name> (<role>) may not <op> on <target>: <reason>".
std::string denial_message(const Principal& who, Operation op, const Target& target,
                           const Decision& d);

}  // namespace examstore::security
