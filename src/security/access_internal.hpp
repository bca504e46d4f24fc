// security/access_internal.hpp: what the Actor needs from the AccessControl that is not public
// API. Both work only on the AccessControl made by repo::make_access_control (kInternal else).
#pragma once

#include <optional>
#include <string>

#include "examstore/access.hpp"

namespace examstore::security {

/// The course of `question`, through the short-lived grant cache.
std::optional<std::string> cached_question_course(AccessControl& access, QuestionId question);

/// Records the course of a question just created through an Actor, whose right to write in
/// `course` (already validated) the Actor checked: no kGrantManage, no audit entry of its own
/// (the Actor's "question.create" entry names the course).
void set_new_question_course(AccessControl& access, QuestionId question, const std::string& course);

}  // namespace examstore::security
