// examstore/question_bank.hpp: versioned questions, a knowledge-point tree, search, JSON
// import and export.
//
// Editing a question creates a new version; a version never changes once written, and papers
// pin the version they use, so editing never changes a paper students are already taking.
// Reads are cache-aside (current version) or served from an immutable cache (a given version).
// Writes go to the database first. See docs/questions.md for the import format.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/model.hpp"

namespace examstore {

using QuestionId = std::int64_t;

enum class QuestionType { kSingle, kMultiple, kTrueFalse, kFill, kEssay };
/// "single", "multiple", "true_false", "fill", "essay".
std::string_view to_string(QuestionType t) noexcept;
std::optional<QuestionType> parse_question_type(std::string_view s) noexcept;

/// What a caller supplies to create or edit a question.
struct QuestionDraft {
  std::optional<QuestionId> id;  ///< create() only: keep this id (imports); else from a sequence
  QuestionType type = QuestionType::kSingle;
  std::string stem;                           ///< non-empty
  std::vector<std::string> options;           ///< choices (single/multiple need >= 2)
  std::string answer;                         ///< the answer key as a JSON value, kept verbatim
  double score = 1;                           ///< 0.01..999999.99, two decimals kept
  int difficulty = 3;                         ///< 1..5
  std::string subject;                        ///< 1..64 characters
  std::vector<std::string> knowledge_points;  ///< paths "math/algebra/linear" (>= 1; <= 512 chars)
  std::vector<std::string> media;             ///< media references (URLs or storage keys)
  std::string author;
};

/// One version of a question. Immutable.
struct Question {
  QuestionId id = 0;
  int version = 1;
  QuestionType type = QuestionType::kSingle;
  std::string stem;
  std::vector<std::string> options;
  std::string answer;
  double score = 1;
  int difficulty = 3;
  std::string subject;
  std::vector<std::string> knowledge_points;  ///< sorted paths
  std::vector<std::string> media;
  std::string author;
  TimePoint created_at;  ///< when this version was written
};

/// Filter of QuestionBank::search; every field optional. Searches current versions.
struct QuestionSearch {
  std::optional<std::string> subject;
  std::optional<std::string> knowledge_point;  ///< a path; descendants match too
  std::optional<QuestionType> type;
  int min_difficulty = 1;
  int max_difficulty = 5;
  QuestionId after_id = 0;  ///< keyset paging
  int limit = 100;          ///< 1..10000
};

class QuestionBank {
 public:
  virtual ~QuestionBank() = default;
  /// Stores a new question (version 1). kInvalidArgument naming the field; kConflict when a
  /// given id exists. Unknown knowledge-point paths are created (with their parents).
  virtual Question create(const QuestionDraft& draft) = 0;
  /// Stores a new version of an existing question (draft.id is ignored). kNotFound if none.
  virtual Question edit(QuestionId id, const QuestionDraft& draft) = 0;
  /// The current version, or nullopt.
  virtual std::optional<Question> get(QuestionId id) = 0;
  /// A given version, or nullopt.
  virtual std::optional<Question> get_version(QuestionId id, int version) = 0;
  /// Current versions matching the filter, ordered by id.
  virtual std::vector<Question> search(const QuestionSearch& filter) = 0;
  /// Imports a JSON array (docs/questions.md) as new questions, all or nothing: when any record
  /// is bad, nothing is stored and Error(kInvalidArgument) lists every bad record as
  /// "line L: field F: why" (one per line of the message). Returns the ids, in file order.
  virtual std::vector<QuestionId> import_json(std::string_view json_text) = 0;
  /// Current versions matching the filter as a JSON array in the import format.
  virtual std::string export_json(const QuestionSearch& filter) = 0;
};

}  // namespace examstore
