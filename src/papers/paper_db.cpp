// The durable order of papers: PostgreSQL (papers + paper_items, one row lock per edit) or an
// in-memory map with the same behaviour, and the edit rules both apply.
#include "papers/paper_db.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include <pqxx/pqxx>

#include "db/pg_pool.hpp"
#include "examstore/error.hpp"

namespace examstore::papers {
namespace {

const std::string kApply = "paper apply";

[[noreturn]] void bad_op(std::size_t n, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, kApply, "op " + std::to_string(n) + ": " + why);
}

void check_position(std::size_t n, const char* what, int pos, std::size_t max) {
  if (pos >= 0 && static_cast<std::size_t>(pos) <= max) return;
  bad_op(n, std::string(what) + " " + std::to_string(pos) + " is out of range 0.." +
                std::to_string(max));
}

void check_existing(std::size_t n, const char* what, int pos, std::size_t size) {
  if (size == 0) {
    bad_op(n,
           std::string(what) + " " + std::to_string(pos) + " is out of range (the paper is empty)");
  }
  check_position(n, what, pos, size - 1);
}

PaperItem resolve(std::size_t n, QuestionId id, const QuestionLookup& lookup) {
  const auto it = lookup.find(id);
  if (it == lookup.end() || !it->second) {
    bad_op(n, "question " + std::to_string(id) + " does not exist");
  }
  return *it->second;
}

bool contains(const std::vector<PaperItem>& items, QuestionId id) {
  return std::any_of(items.begin(), items.end(),
                     [&](const PaperItem& i) { return i.question_id == id; });
}

void check_absent(std::size_t n, const std::vector<PaperItem>& items, QuestionId id) {
  if (contains(items, id)) {
    bad_op(n, "question " + std::to_string(id) + " is already in the paper");
  }
}

std::string key_of(const PaperKey& p) { return p.str(); }

}  // namespace

void apply_ops(std::vector<PaperItem>& items, const std::vector<PaperOp>& ops,
               const QuestionLookup& lookup) {
  for (std::size_t k = 0; k < ops.size(); ++k) {
    const PaperOp& op = ops[k];
    const std::size_t n = k + 1;
    const auto at = [&](int pos) { return items.begin() + pos; };
    switch (op.kind) {
      case PaperOp::Kind::kAppend: {
        const PaperItem item = resolve(n, op.question_id, lookup);
        check_absent(n, items, op.question_id);
        items.push_back(item);
        break;
      }
      case PaperOp::Kind::kInsert: {
        check_position(n, "position", op.position, items.size());
        const PaperItem item = resolve(n, op.question_id, lookup);
        check_absent(n, items, op.question_id);
        items.insert(at(op.position), item);
        break;
      }
      case PaperOp::Kind::kRemove:
        check_existing(n, "position", op.position, items.size());
        items.erase(at(op.position));
        break;
      case PaperOp::Kind::kReplace: {
        check_existing(n, "position", op.position, items.size());
        const PaperItem item = resolve(n, op.question_id, lookup);
        // Replacing an item by itself re-pins it to the current version.
        if (items[static_cast<std::size_t>(op.position)].question_id != op.question_id) {
          check_absent(n, items, op.question_id);
        }
        items[static_cast<std::size_t>(op.position)] = item;
        break;
      }
      case PaperOp::Kind::kMove: {
        check_existing(n, "from", op.position, items.size());
        check_existing(n, "to", op.to, items.size());
        const PaperItem item = items[static_cast<std::size_t>(op.position)];
        items.erase(at(op.position));
        items.insert(at(op.to), item);
        break;
      }
      default:
        bad_op(n, "unknown kind " + std::to_string(static_cast<int>(op.kind)));
    }
  }
}

namespace {

// ---- PostgreSQL ----

class PgOrderStore final : public OrderStore {
 public:
  explicit PgOrderStore(db::PgPool& pool) : pool_(pool) {}

  Committed load(const PaperKey& paper) override {
    Committed out;
    pool_.transact("paper load", [&](pqxx::work& tx) {
      out = Committed{};
      const auto r = db::exec(
          tx,
          "SELECT id, version FROM papers WHERE school = $1 AND department = $2 AND major = $3 "
          "AND course = $4",
          paper.school, paper.department, paper.major, paper.course);
      if (r.empty()) return;
      out.version = r[0][1].as<std::int64_t>();
      out.paper_id = r[0][0].as<std::int64_t>();
      out.items = read_items(tx, out.paper_id);
    });
    return out;
  }

  Edit apply(const PaperKey& paper,
             const std::function<std::vector<PaperItem>(std::vector<PaperItem>)>& edit) override {
    Edit out;
    pool_.transact(kApply, [&](pqxx::work& tx) {
      db::exec(tx,
               "INSERT INTO papers (school, department, major, course) VALUES ($1, $2, $3, $4) "
               "ON CONFLICT (school, department, major, course) DO NOTHING",
               paper.school, paper.department, paper.major, paper.course);
      const auto row = db::exec1(
          tx,
          "SELECT id, version FROM papers WHERE school = $1 AND department = $2 AND major = $3 "
          "AND course = $4 FOR UPDATE",
          paper.school, paper.department, paper.major, paper.course);
      const auto id = row[0].as<std::int64_t>();
      out.paper_id = id;
      out.previous_version = row[1].as<std::int64_t>();
      out.items = edit(read_items(tx, id));
      std::string qids = "{";
      std::string versions = "{";
      for (std::size_t i = 0; i < out.items.size(); ++i) {
        if (i != 0) {
          qids += ',';
          versions += ',';
        }
        qids += std::to_string(out.items[i].question_id);
        versions += std::to_string(out.items[i].question_version);
      }
      qids += '}';
      versions += '}';
      db::exec(tx, "DELETE FROM paper_items WHERE paper_id = $1", id);
      db::exec(tx,
               "INSERT INTO paper_items (paper_id, position, question_id, question_version) "
               "SELECT $1, t.ord - 1, t.q, t.v FROM unnest($2::bigint[], $3::integer[]) "
               "WITH ORDINALITY AS t(q, v, ord)",
               id, qids, versions);
      out.version = db::exec1(tx,
                              "UPDATE papers SET version = version + 1, updated_at = now() "
                              "WHERE id = $1 RETURNING version",
                              id)[0]
                        .as<std::int64_t>();
    });
    return out;
  }

 private:
  static std::vector<PaperItem> read_items(pqxx::work& tx, std::int64_t paper_id) {
    std::vector<PaperItem> items;
    const auto r =
        db::exec(tx,
                 "SELECT pi.question_id, pi.question_version, qv.type FROM paper_items pi "
                 "JOIN question_versions qv ON qv.question_id = pi.question_id "
                 "AND qv.version = pi.question_version WHERE pi.paper_id = $1 ORDER BY pi.position",
                 paper_id);
    items.reserve(r.size());
    for (const auto& f : r) {
      PaperItem item;
      item.question_id = f[0].as<std::int64_t>();
      item.question_version = f[1].as<int>();
      const auto type = parse_question_type(f[2].as<std::string>());
      if (!type) {
        throw Error(ErrorCode::kDataIntegrity, "paper load",
                    "unknown question type '" + f[2].as<std::string>() + "'");
      }
      item.type = *type;
      items.push_back(item);
    }
    return items;
  }

  db::PgPool& pool_;
};

// ---- in memory ----

class MemoryOrderStore final : public OrderStore {
 public:
  Committed load(const PaperKey& paper) override {
    std::lock_guard<std::mutex> l(mu_);
    const auto it = papers_.find(key_of(paper));
    if (it == papers_.end()) return {};
    return it->second;
  }

  Edit apply(const PaperKey& paper,
             const std::function<std::vector<PaperItem>(std::vector<PaperItem>)>& edit) override {
    std::lock_guard<std::mutex> l(mu_);
    const std::string key = key_of(paper);
    auto it = papers_.find(key);
    // A new paper starts at version 1, as the papers table's default, with the next id (an id
    // taken by an edit that throws is skipped, as a PostgreSQL sequence would).
    Committed current = it == papers_.end() ? Committed{1, ++last_id_, {}} : it->second;
    Edit out;
    out.paper_id = current.paper_id;
    out.previous_version = current.version;
    out.items = edit(current.items);  // throws before anything changes
    out.version = current.version + 1;
    papers_[key] = Committed{out.version, out.paper_id, out.items};
    return out;
  }

 private:
  std::mutex mu_;  // guards papers_ and last_id_; held across an edit, like the row lock
  std::unordered_map<std::string, Committed> papers_;
  std::int64_t last_id_ = 0;
};

}  // namespace

std::unique_ptr<OrderStore> make_pg_order_store(db::PgPool& pool) {
  return std::make_unique<PgOrderStore>(pool);
}
std::unique_ptr<OrderStore> make_memory_order_store() {
  return std::make_unique<MemoryOrderStore>();
}

}  // namespace examstore::papers
