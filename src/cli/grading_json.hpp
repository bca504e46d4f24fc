// cli/grading_json.hpp: the JSON of `examstore grading`: the results file a grader hands to
// `grading complete`, read strictly (unknown fields refused, the bad field named), and the JSON
// the subcommands print.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/grading.hpp"

namespace examstore::cli {

/// Parses a results document:
///   {"grades":[{"question":1,"score":4,"max_score":5,"feedback":"...","strategy":"rubric"}],
///    "errors":[{"question":1,"kind":"calculation","knowledge_point":"...","note":"..."}],
///    "grade_level":"","evaluations":{...},"annotations":{...}}
/// Only "grades" is required; "evaluations" and "annotations" are any JSON value, kept as
/// written. Throws Error(kInvalidArgument, "results") naming the field ("grades[2].score").
/// Range checks (scores against maxima, questions of the task) are the repository's.
GradingOutcome parse_outcome(std::string_view text);

std::string task_json(const GradingTask& t);
std::string receipt_json(const CompletionReceipt& r);
std::string statistics_json(const GradingStatistics& s);
/// {"scope":..,"entries":[..]}, and "student" (its place, or null when not ranked) when
/// `student` is set.
std::string ranking_json(const Scope& scope, const std::vector<RankEntry>& entries,
                         const std::optional<std::optional<RankEntry>>& student = std::nullopt);

}  // namespace examstore::cli
