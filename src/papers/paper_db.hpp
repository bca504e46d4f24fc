// papers/paper_db.hpp: the durable order of papers (PostgreSQL, or in memory) and the pure
// edit logic both backends share, so they accept and reject exactly the same ops.
//
// Thread-safety: OrderStore methods are thread-safe; apply_ops is a pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "examstore/paper_store.hpp"
#include "examstore/question_bank.hpp"

namespace examstore::db {
class PgPool;
}

namespace examstore::papers {

/// The questions an apply() names, looked up before the transaction: id -> current version
/// (nullopt when the bank has no such question).
using QuestionLookup = std::map<QuestionId, std::optional<PaperItem>>;

/// Applies `ops` to `items` in order with list semantics. Throws Error(kInvalidArgument,
/// "paper apply", "op N: why") (N 1-based) at the first bad op; `items` is then unspecified.
void apply_ops(std::vector<PaperItem>& items, const std::vector<PaperOp>& ops,
               const QuestionLookup& lookup);

/// A paper's committed order and its version (0 when the paper does not exist).
struct Committed {
  std::int64_t version = 0;
  std::int64_t paper_id = 0;  ///< papers.id (never reused); 0 when the paper does not exist
  std::vector<PaperItem> items;
};

/// The outcome of a committed edit.
struct Edit {
  std::int64_t paper_id = 0;  ///< papers.id
  std::int64_t previous_version = 0;
  std::int64_t version = 0;
  std::vector<PaperItem> items;
};

class OrderStore {
 public:
  virtual ~OrderStore() = default;
  /// The committed order.
  virtual Committed load(const PaperKey& paper) = 0;
  /// Under the paper's row lock (created when missing): reads the committed order, calls
  /// `edit` on it (which may throw: nothing is written), stores the result, bumps the version
  /// and commits. `edit` may run more than once (transaction retries).
  virtual Edit apply(const PaperKey& paper,
                     const std::function<std::vector<PaperItem>(std::vector<PaperItem>)>& edit) = 0;
};

std::unique_ptr<OrderStore> make_pg_order_store(db::PgPool& pool);
std::unique_ptr<OrderStore> make_memory_order_store();

}  // namespace examstore::papers
