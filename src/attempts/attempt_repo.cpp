// TODO(issue 4, attempts helper): the real implementation replaces this placeholder.
#include "examstore/attempts.hpp"

#include "examstore/error.hpp"
#include "repo/context.hpp"

namespace examstore::repo {

std::unique_ptr<AttemptRepo> make_attempt_repo(Context&, PaperStore&) { return nullptr; }

}  // namespace examstore::repo
