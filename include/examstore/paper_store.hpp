// examstore/paper_store.hpp: papers, ordered lists of question references, reorderable by
// several teachers at once, read by every student at the same minute.
//
// A paper is named by a PaperKey (school/department/major/course). Its order lives in a Redis
// sorted set with score gaps (moving a question touches one member; when a gap runs out the
// paper is renumbered atomically), every edit is an atomic server-side script, and the order is
// durable in PostgreSQL (write-through: an edit returns after its commit). A missing Redis key
// is rebuilt from the database. Hot reads go through an in-process near cache invalidated by the
// edit broadcast. See docs/papers.md.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/question_bank.hpp"

namespace examstore {

/// Names a paper. Each part: 1..64 of letters, digits, '_' or '-'.
struct PaperKey {
  std::string school;
  std::string department;
  std::string major;
  std::string course;
  /// Parses "school/department/major/course"; kInvalidArgument naming the bad part.
  static PaperKey parse(std::string_view text);
  /// "school/department/major/course".
  std::string str() const;
  bool operator==(const PaperKey& o) const {
    return school == o.school && department == o.department && major == o.major &&
           course == o.course;
  }
};

/// One position of a paper: a question pinned to the version current when it was added.
struct PaperItem {
  QuestionId question_id = 0;
  int question_version = 1;
  QuestionType type = QuestionType::kSingle;
  bool operator==(const PaperItem& o) const {
    return question_id == o.question_id && question_version == o.question_version && type == o.type;
  }
};

/// One edit. Positions are 0-based and mean what they mean for a list.
struct PaperOp {
  enum class Kind { kAppend, kInsert, kRemove, kReplace, kMove };
  Kind kind = Kind::kAppend;
  int position = 0;            ///< insert/remove/replace: the position; move: from
  int to = 0;                  ///< move: the position the item ends at
  QuestionId question_id = 0;  ///< append/insert/replace
};

/// Rules for PaperStore::assemble. Only current versions of questions are drawn.
struct AssemblyRules {
  /// Draw only questions of this subject (all subjects when unset).
  std::optional<std::string> subject;
  /// How many questions of each type; the paper's size is the sum (>= 1). Required.
  std::map<QuestionType, int> count_by_type;
  /// Optional: exactly this many questions of each difficulty (1..5); must sum to the size.
  std::map<int, int> count_by_difficulty;
  /// Optional (instead of count_by_difficulty): the paper's mean difficulty must lie within
  /// mean_tolerance of this.
  std::optional<double> target_mean_difficulty;
  double mean_tolerance = 0.25;
  /// Every one of these knowledge-point paths must be covered by at least one question (a
  /// question of a descendant point covers it).
  std::vector<std::string> cover_knowledge_points;
  /// Questions never drawn (for example AttemptRepo::questions_used_in_recent_exams(3)).
  std::vector<QuestionId> exclude;
  /// The same rules, bank and seed give the same paper.
  std::uint64_t seed = 0;
};

/// The outcome of PaperStore::assemble.
struct AssembledPaper {
  PaperKey key;
  /// The paper's unique id (never reused), as stored in the database.
  std::int64_t paper_id = 0;
  std::vector<PaperItem> items;
  double mean_difficulty = 0;
  double total_score = 0;
};

/// One position of a student's variant of a paper.
struct VariantItem {
  /// Where the student sees it (0-based).
  int position = 0;
  /// Where it is in the paper.
  int paper_position = 0;
  PaperItem item;
  /// option_order[k] is the index, in the question's own options, of the option shown k-th
  /// (letters: shown "A" + k is original "A" + option_order[k]). Empty for types whose options
  /// are not shuffled (true/false, fill, essay).
  std::vector<int> option_order;
};

/// A student's variant of a paper: a deterministic shuffle of question order and option order
/// for (paper, student), computed on each read (never stored per student). Adding or removing a
/// question keeps the relative order of the others.
struct PaperVariant {
  PaperKey paper;
  StudentId student_id = 0;
  std::vector<VariantItem> items;
};

/// Translates an answer given against the shown option letters ("B", or ["A","C"]) into the
/// question's own letters, for comparison with the answer key: a single letter as a JSON
/// string, several as a JSON array sorted by letter. Answers of types without shuffled options
/// are returned unchanged. kInvalidArgument naming the letter when one is out of range (or the
/// answer is not a letter / an array of letters).
std::string to_original_answer(const VariantItem& item, std::string_view shown_answer_json);

class PaperStore {
 public:
  virtual ~PaperStore() = default;
  /// Applies the ops in order as one unit (creating the paper if needed) and returns the final
  /// order. A bad op (unknown question, question already in the paper, position out of range at
  /// that point) throws Error(kInvalidArgument) "op N: why" and leaves the paper as it was.
  virtual std::vector<PaperItem> apply(const PaperKey& paper, const std::vector<PaperOp>& ops) = 0;
  /// The whole order (empty when the paper does not exist).
  virtual std::vector<PaperItem> items(const PaperKey& paper) = 0;
  /// The item at a position, or nullopt.
  virtual std::optional<PaperItem> at(const PaperKey& paper, int position) = 0;
  /// Items at positions [start, stop] (inclusive, clamped).
  virtual std::vector<PaperItem> range(const PaperKey& paper, int start, int stop) = 0;
  virtual std::int64_t count(const PaperKey& paper) = 0;
  virtual std::map<QuestionType, std::int64_t> count_by_type(const PaperKey& paper) = 0;
  /// Loads the given papers into the hot tier (and this process's near cache) before an exam.
  virtual void warm_up(const std::vector<PaperKey>& papers) = 0;

  // ---- assembly and variants ----
  /// Draws a paper from the bank by the rules (deterministic for a seed) and stores it at `key`
  /// like any paper. kConflict when `key` already holds a non-empty paper; kInvalidArgument
  /// naming the rule when the rules are inconsistent, or, when the bank cannot satisfy them,
  /// naming the rule that fell short and by how much ("count_by_type[single]: 10 wanted, 4
  /// eligible: short by 6").
  virtual AssembledPaper assemble(const PaperKey& key, const AssemblyRules& rules) = 0;
  /// The student's variant of the paper (empty items when the paper does not exist).
  virtual PaperVariant variant(const PaperKey& paper, StudentId student) = 0;
  /// The item the student sees at `position`, or nullopt. Served from the near cache without
  /// building the whole variant. kInvalidArgument when `student` is not positive (also for
  /// variant()).
  virtual std::optional<VariantItem> variant_at(const PaperKey& paper, StudentId student,
                                                int position) = 0;
};

}  // namespace examstore
