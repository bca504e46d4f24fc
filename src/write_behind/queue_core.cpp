#include "write_behind/queue_core.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace examstore::wb {
namespace {

// Coalescing and read-your-writes both combine two updates of one key: the higher version is the
// newer one (equal versions: the later arrival), as the versioned upsert in the store decides.
db::AttendanceUpdate combine(const db::AttendanceUpdate& earlier,
                             const db::AttendanceUpdate& later) {
  return later.version >= earlier.version ? merge(earlier, later) : merge(later, earlier);
}

}  // namespace

QueueCore::QueueCore(CoreOptions options, std::uint64_t seed) : options_(options), rng_(seed) {
  if (options_.max_batch == 0) options_.max_batch = 1;
}

bool QueueCore::try_reserve(std::size_t n) {
  if (depth() + reserved_ + n > options_.capacity) return false;
  reserved_ += n;
  return true;
}

void QueueCore::unreserve(std::size_t n) { reserved_ -= std::min(n, reserved_); }

QueueCore::Ticket QueueCore::push(Op op, std::optional<std::uint64_t> journal_seq, Time now,
                                  bool reserved) {
  if (reserved && reserved_ > 0) --reserved_;
  const Ticket ticket = next_ticket_++;
  outstanding_.insert(outstanding_.end(), ticket);
  ++counters_.enqueued;

  std::string key = op.key();
  if (auto it = waiting_by_key_.find(key); it != waiting_by_key_.end()) {
    Entry& e = *it->second;
    if (op.kind() == Op::Kind::kAttendance && e.op.kind() == Op::Kind::kAttendance) {
      auto& current = std::get<db::AttendanceUpdate>(e.op.data);
      current = combine(current, std::get<db::AttendanceUpdate>(op.data));
    }
    // A violation or event with a waiting id is the same row again: the first one is kept, as
    // the store keeps the first insert of an id.
    e.tickets.push_back(ticket);
    if (journal_seq) e.journal_seqs.push_back(*journal_seq);
    ++counters_.coalesced;
    return ticket;
  }
  Entry e{std::move(op), key, {ticket}, {}, now, false};
  if (journal_seq) e.journal_seqs.push_back(*journal_seq);
  fifo_.push_back(std::move(e));
  waiting_by_key_.emplace(std::move(key), std::prev(fifo_.end()));
  return ticket;
}

bool QueueCore::batch_due(Time now) const {
  if (fifo_.empty()) return false;
  const Entry& oldest = fifo_.front();
  return fifo_.size() >= options_.max_batch || now - oldest.accepted_at >= options_.max_delay ||
         oldest.tickets.front() < flush_target_;
}

void QueueCore::start_batch() {
  in_flight_.clear();
  in_flight_by_key_.clear();
  const std::size_t n = std::min(options_.max_batch, fifo_.size());
  in_flight_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    waiting_by_key_.erase(fifo_.front().key);
    in_flight_.push_back(std::move(fifo_.front()));
    fifo_.pop_front();
    in_flight_by_key_.emplace(in_flight_.back().key, i);
  }
  in_flight_open_ = n;
  work_.push_back(Part{0, n, std::nullopt});
}

QueueCore::Action QueueCore::next(Time now) {
  Action a;
  if (state_ == State::kActing) return a;
  if (work_.empty()) {
    if (!batch_due(now)) {
      if (!fifo_.empty()) a.wake_at = fifo_.front().accepted_at + options_.max_delay;
      return a;
    }
    start_batch();
  } else if (state_ == State::kBackoff && now < retry_at_) {
    a.wake_at = retry_at_;
    return a;
  }
  state_ = State::kActing;
  const Part& part = work_.front();
  if (part.dead_letter) {
    a.type = Action::Type::kDeadLetter;
    a.ops.push_back(in_flight_[part.begin].op);
    a.error = part.dead_letter;
  } else {
    a.type = Action::Type::kWrite;
    a.ops.reserve(part.end - part.begin);
    for (std::size_t i = part.begin; i < part.end; ++i) a.ops.push_back(in_flight_[i].op);
  }
  return a;
}

void QueueCore::resolve(Entry& e, std::optional<Error> error, bool lost) {
  e.resolved = true;
  --in_flight_open_;
  in_flight_by_key_.erase(e.key);
  for (Ticket t : e.tickets) outstanding_.erase(t);
  resolved_.push_back(
      Resolved{std::move(e.tickets), std::move(e.journal_seqs), std::move(error), lost});
}

void QueueCore::finish_part() {
  work_.pop_front();
  state_ = State::kIdle;
  if (work_.empty()) {
    in_flight_.clear();
    in_flight_by_key_.clear();
  }
}

void QueueCore::back_off(Time now) {
  ++failures_;
  auto cap = options_.retry_initial;
  for (int i = 1; i < failures_ && cap < options_.retry_max; ++i) cap *= 2;
  cap = std::min(cap, options_.retry_max);
  backoff_cap_ = cap;
  const auto cap_us = std::chrono::duration_cast<std::chrono::microseconds>(cap).count();
  std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(cap_us, 0));
  retry_at_ = now + std::chrono::microseconds(jitter(rng_));
  state_ = State::kBackoff;
}

void QueueCore::on_written(Time /*now*/) {
  if (state_ != State::kActing || work_.empty()) return;
  const Part part = work_.front();
  for (std::size_t i = part.begin; i < part.end; ++i) resolve(in_flight_[i], std::nullopt, false);
  const auto size = static_cast<std::int64_t>(part.end - part.begin);
  counters_.committed += size;
  ++counters_.batches;
  counters_.batched_ops += size;
  counters_.max_batch_size = std::max(counters_.max_batch_size, size);
  failures_ = 0;
  backoff_cap_ = std::chrono::milliseconds(0);
  finish_part();
}

void QueueCore::on_write_failed(const Error& why, Time now) {
  if (state_ != State::kActing || work_.empty()) return;
  if (why.retryable()) {
    ++counters_.retried;
    back_off(now);
    return;
  }
  // The sink answered, so it is reachable: the next transient failure starts a fresh backoff.
  failures_ = 0;
  backoff_cap_ = std::chrono::milliseconds(0);
  state_ = State::kIdle;
  Part& part = work_.front();
  if (part.end - part.begin > 1) {
    const std::size_t mid = part.begin + (part.end - part.begin) / 2;
    const Part second{mid, part.end, std::nullopt};
    part.end = mid;
    work_.insert(std::next(work_.begin()), second);
  } else {
    part.dead_letter = why;
  }
}

void QueueCore::on_dead_lettered(Time /*now*/) {
  if (state_ != State::kActing || work_.empty()) return;
  Part& part = work_.front();
  resolve(in_flight_[part.begin], std::move(part.dead_letter), false);
  ++counters_.dead_lettered;
  failures_ = 0;
  backoff_cap_ = std::chrono::milliseconds(0);
  finish_part();
}

void QueueCore::on_dead_letter_failed(const Error& why, Time now) {
  if (state_ != State::kActing || work_.empty()) return;
  if (why.retryable()) {
    ++counters_.retried;
    back_off(now);
    return;
  }
  Part& part = work_.front();
  Entry& e = in_flight_[part.begin];
  const std::string rejected = part.dead_letter ? part.dead_letter->what() : "rejected";
  Error lost(ErrorCode::kDataIntegrity, "write_behind dead_letter",
             "op " + e.key + " was rejected (" + rejected +
                 ") and the dead-letter store refused it (" + why.what() + "): it is dropped");
  resolve(e, std::move(lost), true);
  ++counters_.lost;
  failures_ = 0;
  backoff_cap_ = std::chrono::milliseconds(0);
  finish_part();
}

std::vector<QueueCore::Resolved> QueueCore::take_resolved() {
  std::vector<Resolved> out;
  out.swap(resolved_);
  return out;
}

QueueCore::Ticket QueueCore::request_flush() {
  flush_target_ = std::max(flush_target_, next_ticket_);
  return next_ticket_;
}

bool QueueCore::resolved_before(Ticket target) const {
  return outstanding_.empty() || *outstanding_.begin() >= target;
}

bool QueueCore::resolved_range(Ticket first, Ticket last) const {
  const auto it = outstanding_.lower_bound(first);
  return it == outstanding_.end() || *it >= last;
}

std::optional<Op> QueueCore::pending(const std::string& key) const {
  const Entry* flying = nullptr;
  const Entry* waiting = nullptr;
  if (auto it = in_flight_by_key_.find(key); it != in_flight_by_key_.end()) {
    flying = &in_flight_[it->second];
  }
  if (auto it = waiting_by_key_.find(key); it != waiting_by_key_.end()) waiting = &*it->second;
  if (flying != nullptr && waiting != nullptr) {
    if (flying->op.kind() == Op::Kind::kAttendance && waiting->op.kind() == Op::Kind::kAttendance) {
      return Op{combine(std::get<db::AttendanceUpdate>(flying->op.data),
                        std::get<db::AttendanceUpdate>(waiting->op.data))};
    }
    return flying->op;
  }
  if (flying != nullptr) return flying->op;
  if (waiting != nullptr) return waiting->op;
  return std::nullopt;
}

std::vector<Op> QueueCore::pending_of(Op::Kind kind) const {
  std::vector<Op> out;
  for (const Entry& e : in_flight_) {
    if (!e.resolved && e.op.kind() == kind) out.push_back(*pending(e.key));
  }
  for (const Entry& e : fifo_) {
    if (e.op.kind() == kind && in_flight_by_key_.count(e.key) == 0) out.push_back(e.op);
  }
  return out;
}

std::optional<QueueCore::Time> QueueCore::oldest() const {
  std::optional<Time> t;
  for (const Entry& e : in_flight_) {
    if (!e.resolved && (!t || e.accepted_at < *t)) t = e.accepted_at;
  }
  if (!fifo_.empty() && (!t || fifo_.front().accepted_at < *t)) t = fifo_.front().accepted_at;
  return t;
}

}  // namespace examstore::wb
