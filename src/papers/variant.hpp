// papers/variant.hpp: per-student variants of a paper, computed (never stored) from the paper's
// order: question order by a 64-bit hash of (paper, student, question), option order by a
// Fisher-Yates shuffle seeded with a hash of (paper, student, question, version). See
// docs/papers.md, "Per-student variants".
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "examstore/paper_store.hpp"

namespace examstore::papers {

/// A 64-bit hash of key.str(), computed without building the string.
std::uint64_t paper_hash(const PaperKey& key);

/// The sort key of a question in a student's variant; smaller comes first (ties by id).
std::uint64_t question_rank(std::uint64_t paper, StudentId student, QuestionId question);

/// The shown order of a question's options: result[k] is the original index of the option shown
/// k-th. Empty for types whose options are not shuffled.
std::vector<int> option_order(std::uint64_t paper, StudentId student, const PaperItem& item,
                              int option_count);

/// How many options a pinned question version has (it never changes).
using OptionCount = std::function<int(const PaperItem&)>;

/// The whole variant of `items` for a student.
std::vector<VariantItem> variant_items(std::uint64_t paper, StudentId student,
                                       const std::vector<PaperItem>& items,
                                       const OptionCount& options);

/// The item shown at `position`, without building the whole variant (no heap allocation for
/// papers of up to 512 questions, besides option_order). nullopt when out of range.
std::optional<VariantItem> variant_item_at(std::uint64_t paper, StudentId student,
                                           const std::vector<PaperItem>& items, int position,
                                           const OptionCount& options);

}  // namespace examstore::papers
