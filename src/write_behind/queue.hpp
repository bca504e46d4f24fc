// write_behind/queue.hpp: the write-behind queue (Boost.Asio), its sink and its journal.
//
// Shape: a QueueCore state machine (write_behind/queue_core.hpp: what to write next, when to
// retry, how to split a failed batch; no I/O, no clock of its own, unit-tested alone) driven by
// one Asio io_context thread that owns the timers and calls the Sink; a Journal (local
// append-only segment files with group commit) for kJournaled writes, replayed at open.
//
// Guarantees:
//   - enqueue() returns only when the write is acknowledged at the requested Durability;
//   - every acknowledged write is eventually committed exactly once (idempotent sink) or
//     dead-lettered with its error, never silently dropped; with a journal, also across a crash
//     of the process (the next queue opened on the same journal replays it: journal_slots.hpp);
//   - a transient failure (Error::retryable()) retries the whole batch with backoff + jitter;
//     any other failure splits the batch in halves until the bad operation is alone, then
//     dead-letters it, and the rest commits;
//   - background failures that lose the ability to keep promises (the journal cannot be
//     written) are sticky: kept and thrown by the next enqueue(), flush() and close().
//
// Thread-safety: enqueue(), flush(), pending() and metrics() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/log.hpp"
#include "examstore/error.hpp"
#include "examstore/write_behind.hpp"
#include "write_behind/journal_slots.hpp"
#include "write_behind/op.hpp"

namespace examstore::wb {

/// Where batches go. Called from the queue's thread only, one batch at a time.
class Sink {
 public:
  virtual ~Sink() = default;
  /// Writes every op of the batch durably (idempotently). Throws examstore::Error: retryable()
  /// means "try the same batch later"; anything else means "the batch holds a bad op".
  virtual void write(const std::vector<Op>& batch) = 0;
  /// Keeps an op PostgreSQL rejected for good. May throw a retryable Error (it is retried).
  virtual void dead_letter(const Op& op, const Error& why) = 0;
};

/// The sink over the durable stores (violations, events, attendance, dead letters).
std::unique_ptr<Sink> make_store_sink(db::Stores& stores);

class WriteBehindQueue {
 public:
  /// Opens the journal that options.journal_dir or `placement` call for (open_journal():
  /// kResourceExhausted naming the dir when another process holds it; kUnavailable when it
  /// cannot be created; kDataIntegrity when it belongs to another identity) and re-queues every
  /// journaled op not yet committed. `sink` must outlive the queue, and so must `log` (retries,
  /// dead letters, the journal's place and the replay are reported there; nullptr: silent).
  WriteBehindQueue(WriteBehindOptions options, Sink& sink, const obs::Logger* log = nullptr,
                   const JournalPlacement& placement = {});
  /// Drains (close(options.drain_timeout)), never throws.
  ~WriteBehindQueue();
  WriteBehindQueue(const WriteBehindQueue&) = delete;
  WriteBehindQueue& operator=(const WriteBehindQueue&) = delete;

  /// Queues `ops` and returns when they are acknowledged at `durability` (all of them together:
  /// one journal group commit, one wait). Throws kResourceExhausted when full (per FullPolicy),
  /// kInvalidArgument for kJournaled without a journal, kTimeout (outcome_unknown) when a
  /// kCommitted wait passes commit_timeout, or the sticky background error.
  void enqueue(std::vector<Op> ops, Durability durability);
  /// Waits until everything enqueued before the call is committed or dead-lettered.
  /// Throws kTimeout when `timeout` passes first, or the sticky error.
  void flush(std::chrono::milliseconds timeout);
  /// Stops accepting, waits up to `timeout` for the queue to drain, stops the thread. Returns how
  /// many ops were left (journaled ones stay in the journal for the next open). Idempotent.
  std::size_t close(std::chrono::milliseconds timeout);

  /// Read-your-writes: the pending (not yet committed) op of `key`, if any.
  std::optional<Op> pending(const std::string& key) const;
  /// Every pending op of one kind (for merging into query results).
  std::vector<Op> pending_of(Op::Kind kind) const;

  WriteBehindMetrics metrics() const;
  /// Whether kJournaled writes have a journal (fixed at construction).
  bool has_journal() const;
  /// The journal's directory ("" without one); stays valid after close().
  const std::string& journal_dir() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace examstore::wb
