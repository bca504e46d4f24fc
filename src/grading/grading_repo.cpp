// grading/grading_repo.cpp: GradingRepo over the grading store, the hot tier and the papers.
#include "examstore/error.hpp"
#include "examstore/grading.hpp"
#include "repo/context.hpp"

namespace examstore::repo {

// TODO(issue 9, repository): the repository.
std::unique_ptr<GradingRepo> make_grading_repo(Context& /*ctx*/, PaperStore& /*papers*/) {
  return nullptr;
}

}  // namespace examstore::repo
