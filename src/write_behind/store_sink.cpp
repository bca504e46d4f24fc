// The Sink over the durable stores. A batch is written per kind, one store call (one
// transaction) each; the calls are not one transaction together, which is safe because every
// write is idempotent (appends skip known ids, attendance updates are versioned, attempt starts
// apply only to not_started attempts, answer revisions are keyed by attempt, question and seq):
// when a later call fails, the queue retries or splits the batch and the earlier rows are skipped
// or ignored.
//
// The same idempotence resolves a batch whose COMMIT was in flight when the primary went away
// (kUnavailable with outcome_unknown(), retryable): the queue writes the batch again, and what
// the lost commit did apply is skipped. The sink does not ride through a failover itself
// (failover_wait 0 for its calls): the queue retries with its own backoff, keeps its thread free
// for close() and counts the retries in its metrics.
#include <chrono>
#include <string_view>
#include <utility>

#include "common/failover.hpp"
#include "write_behind/queue.hpp"

namespace examstore::wb {
namespace {

// "... [SQLSTATE 23505]" (see db/pg_pool.cpp) → "23505"; "" when there is no such suffix.
std::string sqlstate_of(const Error& e) {
  constexpr std::string_view kOpen = "[SQLSTATE ";
  const std::string_view text = e.message();
  const std::size_t at = text.rfind(kOpen);
  if (at == std::string_view::npos) return {};
  const std::string_view rest = text.substr(at + kOpen.size());
  const std::size_t close = rest.find(']');
  if (close != 5) return {};
  for (char c : rest.substr(0, 5)) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
    if (!ok) return {};
  }
  return std::string(rest.substr(0, 5));
}

class StoreSink final : public Sink {
 public:
  explicit StoreSink(db::Stores& stores) : stores_(stores) {}

  void write(const std::vector<Op>& batch) override {
    const failover::WaitScope no_ride_through(std::chrono::milliseconds(0));
    std::vector<Violation> violations;
    std::vector<Event> events;
    std::vector<db::AttendanceUpdate> attendance;
    std::vector<db::AttemptStart> starts;
    std::vector<db::AnswerRevision> revisions;
    for (const Op& op : batch) {
      switch (op.kind()) {
        case Op::Kind::kViolation:
          violations.push_back(std::get<Violation>(op.data));
          break;
        case Op::Kind::kEvent:
          events.push_back(std::get<Event>(op.data));
          break;
        case Op::Kind::kAttendance:
          attendance.push_back(std::get<db::AttendanceUpdate>(op.data));
          break;
        case Op::Kind::kAttemptStart:
          starts.push_back(std::get<db::AttemptStart>(op.data));
          break;
        case Op::Kind::kAnswerRevision:
          revisions.push_back(std::get<db::AnswerRevision>(op.data));
          break;
      }
    }
    if (!violations.empty()) stores_.violations->insert_violations(violations);
    if (!events.empty()) stores_.violations->insert_events(events);
    if (!attendance.empty()) stores_.students->apply_attendance(attendance);
    if (!starts.empty()) stores_.attempts->apply_starts(starts);
    if (!revisions.empty()) stores_.attempts->insert_revisions(revisions);
  }

  void dead_letter(const Op& op, const Error& why) override {
    const failover::WaitScope no_ride_through(std::chrono::milliseconds(0));
    stores_.dead_letters->add(std::string(op.kind_name()), encode(op), why.what(),
                              sqlstate_of(why));
  }

 private:
  db::Stores& stores_;
};

}  // namespace

std::unique_ptr<Sink> make_store_sink(db::Stores& stores) {
  return std::make_unique<StoreSink>(stores);
}

}  // namespace examstore::wb
