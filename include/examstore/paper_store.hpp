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
};

}  // namespace examstore
