// papers/assembly.hpp: the pure selection logic of PaperStore::assemble, and the portable
// PRNG and hash it and the variants share (results must be identical on every platform, so
// nothing here or in variant.cpp uses std::shuffle, std::uniform_int_distribution or std::hash).
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "examstore/paper_store.hpp"
#include "examstore/question_bank.hpp"

namespace examstore::papers {

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny PRNG with a fixed, documented output sequence.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  /// Uniform in [0, bound) (bound >= 1), by rejection, so without modulo bias.
  std::uint64_t below(std::uint64_t bound);

 private:
  std::uint64_t state_;
};

/// The SplitMix64 finaliser: a bijective 64-bit mix.
std::uint64_t mix64(std::uint64_t x);

/// What selection needs to know about a question (its current version).
struct Candidate {
  QuestionId id = 0;
  int version = 1;
  QuestionType type = QuestionType::kSingle;
  int difficulty = 3;
  double score = 1;
  std::vector<std::string> knowledge_points;
};

/// Throws Error(kInvalidArgument, "paper assemble", "RULE: why") when the rules are
/// inconsistent on their own (before any question is looked at).
void check_rules(const AssemblyRules& rules);

/// Chooses the paper from `candidates` (any order, duplicates allowed; types not named by
/// count_by_type and excluded ids are ignored; the subject filter is the caller's). Returns the
/// chosen questions grouped by type (in QuestionType order), in seeded order within a type.
/// Deterministic for (rules, candidate set). Throws Error(kInvalidArgument) naming the rule
/// that fell short and by how much when no selection satisfies the rules.
std::vector<Candidate> select(std::vector<Candidate> candidates, const AssemblyRules& rules);

}  // namespace examstore::papers
