// grading/grading_repo.hpp: what the Store needs of the grading repository beyond GradingRepo.
#pragma once

#include "examstore/grading.hpp"
#include "examstore/metrics.hpp"

namespace examstore::grading {

/// The counters of a repository made by repo::make_grading_repo (zeros for any other).
GradingMetrics metrics_of(const GradingRepo& repo);

}  // namespace examstore::grading
