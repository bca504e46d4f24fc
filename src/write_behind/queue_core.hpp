// write_behind/queue_core.hpp: the write-behind queue's decisions, as a plain state machine.
//
// QueueCore holds the pending writes and decides what the driver (write_behind/queue.cpp) does
// next: write a batch, dead-letter one op, or wait until a given time. It does no I/O, owns no
// thread or clock (every call takes `now`) and draws jitter from its own seeded RNG, so every
// decision can be unit-tested deterministically.
//
// The cycle: push() ops; next(now) says what to do; the driver does it and reports the outcome
// with on_written / on_write_failed / on_dead_lettered / on_dead_letter_failed; take_resolved()
// hands back the writes that are finished (committed or dead-lettered), for the waiters and the
// journal.
//
// Rules:
//   - one pending entry per key: an attendance update coalesces into the pending one of its key
//     (merge(), the higher version counts as newer); a second violation/event with a pending id
//     is a replay of the same row and is absorbed (the first one is kept);
//   - one batch in flight at a time; an op whose key is in flight waits for the next batch, so
//     the writes of one key reach the sink in order;
//   - a batch starts when max_batch ops are pending, when the oldest has waited max_delay, or
//     when a flush covers the oldest;
//   - a retryable failure retries the same batch after a backoff: retry_initial doubling up to
//     retry_max, with full jitter (uniform in [0, cap]);
//   - any other failure splits the batch in halves, tried at once; an op that fails alone is
//     dead-lettered with its error;
//   - capacity counts entries (distinct writes), reserved before they are pushed.
//
// Thread-safety: none; one owner (the driver serialises access).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "examstore/error.hpp"
#include "write_behind/op.hpp"

namespace examstore::wb {

/// The options the core needs (a subset of WriteBehindOptions).
struct CoreOptions {
  std::size_t max_batch = 1000;  ///< >= 1
  std::chrono::milliseconds max_delay{20};
  std::size_t capacity = 200000;  ///< >= 1
  std::chrono::milliseconds retry_initial{50};
  std::chrono::milliseconds retry_max{5000};
};

/// The core's counters (see WriteBehindMetrics for their meaning).
struct CoreCounters {
  std::int64_t enqueued = 0;  ///< every push, replayed ones included
  std::int64_t coalesced = 0;
  std::int64_t committed = 0;
  std::int64_t retried = 0;
  std::int64_t dead_lettered = 0;
  std::int64_t lost = 0;  ///< dead-letter refused for good: dropped, reported as an error
  std::int64_t batches = 0;
  std::int64_t max_batch_size = 0;
  std::int64_t batched_ops = 0;  ///< sum of the sizes of committed batches
};

class QueueCore {
 public:
  using Clock = std::chrono::steady_clock;
  using Time = Clock::time_point;
  /// Names one accepted op, in acceptance order (1, 2, ...).
  using Ticket = std::uint64_t;

  /// What the driver does next.
  struct Action {
    enum class Type { kWait, kWrite, kDeadLetter };
    Type type = Type::kWait;
    /// kWrite: the batch; kDeadLetter: the one op.
    std::vector<Op> ops;
    /// kDeadLetter: why the op was rejected.
    std::optional<Error> error;
    /// kWait: call next() again at this time; nullopt: only after push() or request_flush().
    std::optional<Time> wake_at;
  };

  /// A write that is finished.
  struct Resolved {
    std::vector<Ticket> tickets;              ///< every op it stood for (coalesced ones too)
    std::vector<std::uint64_t> journal_seqs;  ///< their journal records, now safe to forget
    /// Set when the write was not committed: the sink's rejection (dead-lettered), or, when
    /// `lost`, the rejection together with the dead-letter store's refusal.
    std::optional<Error> error;
    bool lost = false;  ///< the dead-letter store refused it for good: it was dropped
  };

  QueueCore(CoreOptions options, std::uint64_t seed);

  // ---- admission ----

  /// Reserves room for `n` entries: false (nothing reserved) when depth + reserved + n would
  /// pass capacity.
  bool try_reserve(std::size_t n);
  /// Gives back reservations that were not pushed.
  void unreserve(std::size_t n);
  /// Accepts one op and returns its ticket. `reserved`: consumes one reservation (an op that
  /// coalesces releases it); false for ops that must be taken whatever the capacity (replay).
  /// `journal_seq`: its journal record, if it has one.
  Ticket push(Op op, std::optional<std::uint64_t> journal_seq, Time now, bool reserved);

  // ---- driving ----

  /// What to do now. While an action is outstanding (not yet reported), returns kWait with no
  /// wake-up.
  Action next(Time now);
  /// The last kWrite committed.
  void on_written(Time now);
  /// The last kWrite failed: retryable() → the same batch after a backoff; otherwise it is split.
  void on_write_failed(const Error& why, Time now);
  /// The last kDeadLetter was stored.
  void on_dead_lettered(Time now);
  /// The last kDeadLetter failed: retryable() → again after a backoff; otherwise the op is
  /// dropped and resolved with lost = true.
  void on_dead_letter_failed(const Error& why, Time now);
  /// The writes finished since the last call, in the order they finished.
  std::vector<Resolved> take_resolved();

  // ---- flush and waiting ----

  /// Asks for everything accepted so far to be written without waiting for max_delay. Returns
  /// the target for resolved_before().
  Ticket request_flush();
  /// True when every op with a ticket below `target` is resolved.
  bool resolved_before(Ticket target) const;
  /// True when every op with a ticket in [first, last) is resolved.
  bool resolved_range(Ticket first, Ticket last) const;
  /// The ticket the next push() will get.
  Ticket next_ticket() const { return next_ticket_; }

  // ---- reading ----

  /// Read-your-writes: what the store will hold for `key` once its pending writes commit
  /// (the in-flight and the waiting op of an attendance key merged), if anything is pending.
  std::optional<Op> pending(const std::string& key) const;
  /// Every pending op of one kind (one per key, as pending() returns it).
  std::vector<Op> pending_of(Op::Kind kind) const;
  /// Entries accepted and not yet resolved (pending and in flight).
  std::size_t depth() const { return fifo_.size() + in_flight_open_; }
  /// Entries waiting for a batch (not in flight).
  std::size_t waiting() const { return fifo_.size(); }
  /// When the oldest unresolved entry was accepted.
  std::optional<Time> oldest() const;
  std::size_t reserved() const { return reserved_; }
  const CoreCounters& counters() const { return counters_; }
  /// True while a batch (or one of its parts) is in flight.
  bool batch_in_flight() const { return !work_.empty(); }
  /// The jitter cap of the last retry delay (0 when the last attempt succeeded).
  std::chrono::milliseconds backoff_cap() const { return backoff_cap_; }

 private:
  struct Entry {
    Op op;
    std::string key;
    std::vector<Ticket> tickets;
    std::vector<std::uint64_t> journal_seqs;
    Time accepted_at;
    bool resolved = false;
  };
  // A part of the in-flight batch still to be written: entries [begin, end) of in_flight_.
  struct Part {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::optional<Error> dead_letter;  ///< set once it is one op rejected for good
  };
  enum class State { kIdle, kActing, kBackoff };

  bool batch_due(Time now) const;
  void start_batch();
  void resolve(Entry& e, std::optional<Error> error, bool lost);
  void finish_part();
  void back_off(Time now);

  CoreOptions options_;
  std::mt19937_64 rng_;

  std::list<Entry> fifo_;  // waiting entries, oldest first (by first ticket)
  std::unordered_map<std::string, std::list<Entry>::iterator> waiting_by_key_;
  std::vector<Entry> in_flight_;                                   // the current batch
  std::unordered_map<std::string, std::size_t> in_flight_by_key_;  // unresolved ones only
  std::size_t in_flight_open_ = 0;
  std::deque<Part> work_;  // parts of the current batch still to write; front is next
  State state_ = State::kIdle;
  Time retry_at_{};
  int failures_ = 0;  // consecutive transient failures
  std::chrono::milliseconds backoff_cap_{0};

  Ticket next_ticket_ = 1;
  Ticket flush_target_ = 0;
  std::set<Ticket> outstanding_;
  std::size_t reserved_ = 0;
  std::vector<Resolved> resolved_;
  CoreCounters counters_;
};

}  // namespace examstore::wb
