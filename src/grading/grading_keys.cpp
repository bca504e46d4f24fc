#include "grading/grading_keys.hpp"

#include "repo/keys.hpp"

namespace examstore::grading {

GradingKeys::GradingKeys(std::string prefix, const GradingOptions& o)
    : class_(prefix + o.class_prefix + ":"),
      assignment_(prefix + o.assignment_prefix + ":"),
      result_(prefix + o.result_prefix + ":"),
      analytics_(prefix + o.analytics_prefix + ":"),
      ranking_(prefix + o.ranking_prefix + ":") {}

std::string GradingKeys::tag(const Scope& s) {
  keys::check_id("scope id", s.id);
  const char* t = "t";
  switch (s.kind) {
    case ScopeKind::kTask:
      t = "t";
      break;
    case ScopeKind::kAssignment:
      t = "a";
      break;
    case ScopeKind::kClass:
      t = "c";
      break;
    case ScopeKind::kExam:
      t = "e";
      break;
  }
  return std::string(t) + ":" + std::to_string(s.id);
}

std::string GradingKeys::school_class(ClassId id) const {
  return class_ + "{" + tag({ScopeKind::kClass, id}) + "}";
}
std::string GradingKeys::members(ClassId id) const { return school_class(id) + ":members"; }
std::string GradingKeys::assignment(AssignmentId id) const {
  return assignment_ + "{" + tag({ScopeKind::kAssignment, id}) + "}";
}
std::string GradingKeys::results(GradingTaskId id) const {
  return result_ + "{" + tag({ScopeKind::kTask, id}) + "}:result";
}
std::string GradingKeys::statistics(const Scope& s) const {
  return analytics_ + "{" + tag(s) + "}:stats";
}
std::string GradingKeys::ranking(const Scope& s) const { return ranking_ + "{" + tag(s) + "}"; }
std::string GradingKeys::ranking_generation(const Scope& s) const { return ranking(s) + ":gen"; }
std::string GradingKeys::ranking_empty(const Scope& s) const { return ranking(s) + ":none"; }

}  // namespace examstore::grading
