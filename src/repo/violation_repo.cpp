// ViolationRepo: ids from reserved sequence blocks, live counters in the hot tier, rows through
// the write-behind queue; reads from the database merged with what is still queued.
#include "examstore/violation_repo.hpp"

#include <algorithm>
#include <set>

#include "db/store_checks.hpp"
#include "repo/context.hpp"
#include "repo/keys.hpp"

namespace examstore::repo {
namespace {

bool matches(const Violation& v, const ViolationQuery& q) {
  return (!q.exam_id || v.exam_id == *q.exam_id) &&
         (!q.student_id || v.student_id == *q.student_id) &&
         (!q.from || v.occurred_at >= *q.from) && (!q.to || v.occurred_at < *q.to) &&
         (!q.kind || v.kind == *q.kind) && (!q.state || v.state == *q.state) && v.id > q.after_id;
}

class ViolationRepoImpl final : public ViolationRepo {
 public:
  explicit ViolationRepoImpl(Context& ctx)
      : ctx_(ctx),
        store_(*ctx.stores.violations),
        violation_ids_([&s = store_] { return s.reserve_ids(db::IdSequence::kViolation); }),
        event_ids_([&s = store_] { return s.reserve_ids(db::IdSequence::kEvent); }) {}

  ViolationId record(const NewViolation& v, Durability durability) override {
    Violation row = checked(v);
    row.id = violation_ids_.next();
    ctx_.queue.enqueue({wb::Op{row}}, ctx_.effective(durability));
    Batch b;
    add_live_counts(b, row);
    bump_live_counts(b);
    return row.id;
  }

  std::vector<ViolationId> record_batch(const std::vector<NewViolation>& vs,
                                        Durability durability) override {
    std::vector<Violation> rows;
    rows.reserve(vs.size());
    for (std::size_t i = 0; i < vs.size(); ++i) {
      try {
        rows.push_back(checked(vs[i]));
      } catch (const Error& e) {
        throw Error(e.code(), e.operation(),
                    "violations[" + std::to_string(i) + "]: " + e.message(), e.backend());
      }
    }
    std::vector<ViolationId> ids;
    ids.reserve(rows.size());
    std::vector<wb::Op> ops;
    ops.reserve(rows.size());
    for (Violation& row : rows) {
      row.id = violation_ids_.next();
      ids.push_back(row.id);
      ops.push_back(wb::Op{row});
    }
    ctx_.queue.enqueue(std::move(ops), ctx_.effective(durability));
    Batch b;
    for (const Violation& row : rows) add_live_counts(b, row);
    bump_live_counts(b);
    return ids;
  }

  EventId record_event(const NewEvent& e, Durability durability) override {
    keys::check_id("event.exam_id", e.exam_id);
    keys::check_id("event.student_id", e.student_id);
    Event row;
    row.exam_id = e.exam_id;
    row.student_id = e.student_id;
    row.kind = e.kind;
    row.payload = e.payload;
    db::check::time("event.record", "occurred_at", e.occurred_at);  // before truncate()
    row.occurred_at = db::check::truncate(e.occurred_at);
    row.id = 1;
    db::check::event("event.record", row);
    ctx_.seats.seat_of(e.exam_id, e.student_id);
    row.id = event_ids_.next();
    ctx_.queue.enqueue({wb::Op{row}}, ctx_.effective(durability));
    return row.id;
  }

  std::map<ViolationKind, std::int64_t> live_counts(ExamId exam) override {
    keys::check_id("exam id", exam);
    std::map<ViolationKind, std::int64_t> out;
    for (const auto& [field, value] : ctx_.cache.hgetall(ctx_.keys.violation_counts(exam))) {
      if (auto k = parse_violation_kind(field)) out[*k] = std::stoll(value);
    }
    return out;
  }

  std::map<ViolationKind, std::int64_t> live_counts(ExamId exam, StudentId student) override {
    keys::check_id("exam id", exam);
    keys::check_id("student id", student);
    constexpr int kKinds = static_cast<int>(ViolationKind::kCustom) + 1;
    Batch b;
    const std::string key = ctx_.keys.violation_counts_by_student(exam);
    for (int k = 0; k < kKinds; ++k) {
      b.hget(key,
             std::to_string(student) + ":" + std::string(to_string(static_cast<ViolationKind>(k))));
    }
    const auto replies = ctx_.cache.execute(b);
    std::map<ViolationKind, std::int64_t> out;
    for (int k = 0; k < kKinds; ++k) {
      if (!replies[static_cast<std::size_t>(k)].is_nil()) {
        out[static_cast<ViolationKind>(k)] = std::stoll(replies[static_cast<std::size_t>(k)].str);
      }
    }
    return out;
  }

  std::optional<Violation> get(ViolationId id) override {
    keys::check_id("violation id", id);
    if (auto p = ctx_.queue.pending("v:" + std::to_string(id))) return std::get<Violation>(p->data);
    return store_.get(id);
  }

  std::vector<Violation> query(const ViolationQuery& q) override {
    db::check::limit("violation.query", q.limit);
    // Queued first: a row committed between the two reads is then seen twice and deduplicated,
    // never missed.
    std::vector<Violation> queued;
    for (const auto& op : ctx_.queue.pending_of(wb::Op::Kind::kViolation)) {
      const auto& v = std::get<Violation>(op.data);
      if (matches(v, q)) queued.push_back(v);
    }
    db::ViolationFilter f;
    f.exam_id = q.exam_id;
    f.student_id = q.student_id;
    f.from = q.from;
    f.to = q.to;
    f.kind = q.kind;
    f.state = q.state;
    f.after_id = q.after_id;
    f.limit = q.limit;
    std::vector<Violation> rows = store_.query(f);
    return merge_by_id(
        std::move(rows), std::move(queued),
        [](const Violation& a, const Violation& b) { return a.id < b.id; },
        static_cast<std::size_t>(q.limit));
  }

  ViolationSummary stats(ExamId exam) override {
    keys::check_id("exam id", exam);
    // Counting queued rows without double-counting one that commits meanwhile needs them
    // committed first: statistics are a database read anyway.
    ctx_.queue.flush(ctx_.config.write_behind.commit_timeout);
    const db::ViolationStats s = store_.stats(exam);
    return ViolationSummary{s.total, s.by_kind, s.by_severity};
  }

  Violation review(ViolationId id, ReviewState state, const std::string& reviewer,
                   const std::string& note) override {
    keys::check_id("violation id", id);
    if (ctx_.queue.pending("v:" + std::to_string(id))) {
      ctx_.queue.flush(ctx_.config.write_behind.commit_timeout);  // the row must exist first
    }
    return store_.review(id, state, reviewer, note);
  }

  std::vector<Event> events(ExamId exam, std::optional<StudentId> student, int limit) override {
    keys::check_id("exam id", exam);
    db::check::limit("violation.events", limit);
    std::vector<Event> queued;
    for (const auto& op : ctx_.queue.pending_of(wb::Op::Kind::kEvent)) {
      const auto& e = std::get<Event>(op.data);
      if (e.exam_id == exam && (!student || e.student_id == *student)) queued.push_back(e);
    }
    return merge_by_id(
        store_.events(exam, student, limit), std::move(queued),
        [](const Event& a, const Event& b) {
          return a.occurred_at != b.occurred_at ? a.occurred_at < b.occurred_at : a.id < b.id;
        },
        static_cast<std::size_t>(limit));
  }

 private:
  // Stored rows plus queued ones not among them, in `order`, at most `limit`.
  template <typename Row, typename Order>
  static std::vector<Row> merge_by_id(std::vector<Row> stored, std::vector<Row> queued, Order order,
                                      std::size_t limit) {
    std::set<std::int64_t> ids;
    for (const auto& r : stored) ids.insert(r.id);
    for (auto& r : queued) {
      if (ids.insert(r.id).second) stored.push_back(std::move(r));
    }
    std::sort(stored.begin(), stored.end(), order);
    if (stored.size() > limit) stored.resize(limit);
    return stored;
  }

  // The row record() would write for `v`, id not yet taken. The same checks the stores make: a
  // bad row is refused here, never dead-lettered later.
  Violation checked(const NewViolation& v) {
    keys::check_id("violation.exam_id", v.exam_id);
    keys::check_id("violation.student_id", v.student_id);
    Violation row;
    row.exam_id = v.exam_id;
    row.student_id = v.student_id;
    row.kind = v.kind;
    row.severity = v.severity;
    row.reason = v.reason;
    row.screenshot_path = v.screenshot_path;
    // before truncate(), which cannot represent TimePoint::min() rounded down
    db::check::time("violation.record", "occurred_at", v.occurred_at);
    row.occurred_at = db::check::truncate(v.occurred_at);
    row.id = 1;  // checked with the rest; the real id is taken only for a valid row
    db::check::violation("violation.record", row);
    ctx_.seats.seat_of(v.exam_id, v.student_id);  // kNotFound when not enrolled
    return row;
  }

  void add_live_counts(Batch& b, const Violation& row) const {
    const std::string kind(to_string(row.kind));
    b.hincr_by(ctx_.keys.violation_counts(row.exam_id), kind, 1);
    b.hincr_by(ctx_.keys.violation_counts_by_student(row.exam_id),
               std::to_string(row.student_id) + ":" + kind, 1);
  }

  // The live view; a hot-tier failure must not fail a write that is already acknowledged.
  void bump_live_counts(const Batch& b) {
    try {
      ctx_.cache.execute(b);
    } catch (const Error&) {
      ++counter_errors_;
    }
  }

  Context& ctx_;
  db::ViolationStore& store_;
  IdAllocator violation_ids_;
  IdAllocator event_ids_;
  std::atomic<std::int64_t> counter_errors_{0};
};

}  // namespace

std::unique_ptr<ViolationRepo> make_violation_repo(Context& ctx) {
  return std::make_unique<ViolationRepoImpl>(ctx);
}

}  // namespace examstore::repo
