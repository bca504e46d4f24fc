// tests/support/failover_world.hpp: what the failover tests (Sentinel, Cluster, PostgreSQL)
// build before they kill a server: a Store configured the same way, enrolled students and a
// paper of true/false questions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/model.hpp"
#include "examstore/store.hpp"

namespace examstore::test {

/// A Config for a fault test on `redis_url` and `database_url`: a unique key prefix from
/// `prefix`, the journal in `journal_dir`, a 1 s command timeout, quick write-behind retries
/// (50 ms doubling to 500 ms) and migrate_on_open.
Config failover_config(const std::string& redis_url, const std::string& database_url,
                       const std::string& journal_dir, const std::string& prefix);

/// Creates `n` students (numbers from a unique name) and enrolls each in every exam of `exams`.
std::vector<StudentId> enrolled_students(Store& store, const std::vector<ExamId>& exams, int n);

/// Creates `n` true/false questions (answer "true") and returns their ids.
std::vector<QuestionId> true_false_questions(Store& store, int n);

}  // namespace examstore::test
