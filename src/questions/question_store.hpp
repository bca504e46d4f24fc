// questions/question_store.hpp: the durable tier of the question bank, on PostgreSQL or in
// memory.
//
// The store writes and reads; it does not check drafts (questions/question_bank.cpp does, once,
// for both backends) so both implementations see the same, already valid input and raise the
// same errors (the messages below are built by the shared helpers of this header).
//
// Id allocation is the same on both: ids come from a sequence starting at 1; storing a given id
// then moves the sequence with setval(GREATEST(max given id, nextval)), which consumes one value,
// so the next allocated id is identical on both backends.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "examstore/question_bank.hpp"

namespace examstore::db {
class PgPool;
}

namespace examstore::questions {

/// A checked draft ready to store: knowledge points sorted and unique, score rounded to cents.
struct CheckedDraft {
  QuestionDraft draft;
  std::int64_t score_cents = 0;
};

class QuestionStore {
 public:
  QuestionStore() = default;
  virtual ~QuestionStore() = default;
  QuestionStore(const QuestionStore&) = delete;
  QuestionStore& operator=(const QuestionStore&) = delete;

  /// Version 1 of a new question (kConflict "question N already exists" for a taken id).
  virtual Question create(const CheckedDraft& d, TimePoint at) = 0;
  /// A new version; kNotFound "question N does not exist".
  virtual Question edit(QuestionId id, const CheckedDraft& d, TimePoint at) = 0;
  virtual std::optional<Question> get(QuestionId id) = 0;
  virtual std::optional<Question> get_version(QuestionId id, int version) = 0;
  /// Current versions, ordered by id; the filter is already checked.
  virtual std::vector<Question> search(const QuestionSearch& filter) = 0;
  /// Which of `ids` exist.
  virtual std::set<QuestionId> existing(const std::vector<QuestionId>& ids) = 0;
  /// Stores every draft as version 1 in one transaction, all or nothing: drafts with a given id
  /// first, then the sequence moves past them, then the others get ids. Returns ids in order.
  virtual std::vector<QuestionId> import(const std::vector<CheckedDraft>& drafts, TimePoint at) = 0;
};

std::unique_ptr<QuestionStore> make_memory_question_store();
std::unique_ptr<QuestionStore> make_pg_question_store(db::PgPool& pool);

/// The parts of a knowledge-point path, "a/b/c" -> "a", "a/b", "a/b/c" (already checked).
std::vector<std::string> path_prefixes(const std::string& path);
std::string question_label(QuestionId id);
/// A JSON array of strings, compact: ["a","b"].
std::string string_array(const std::vector<std::string>& items);
/// The strings of a JSON array of strings; Error(kDataIntegrity) when it is not one.
std::vector<std::string> parse_string_array(const std::string& json_text, const char* what);

}  // namespace examstore::questions
