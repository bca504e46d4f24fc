// examstore/write_behind.hpp: how frequent writes (presence transitions, violations, events)
// reach PostgreSQL: the durability a caller chooses per call, the queue's options and metrics.
//
// Frequent writes go to the hot tier first and are persisted in batches by the write-behind
// queue: batched by size and delay, coalesced per key (presence: last write wins, versioned),
// retried with exponential backoff and jitter while PostgreSQL is down, bounded, and never
// silently lossy: a record PostgreSQL rejects for good is isolated (its batch is split) and kept
// in the dead-letter store with the error. See docs/write-behind.md.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace examstore {

/// When a write-behind call returns (is acknowledged).
enum class Durability {
  /// In the hot tier and queued in this process. Fastest; lost if the process crashes before
  /// the batch commits (at most max_delay plus the time PostgreSQL is unreachable).
  kCached,
  /// Also appended to the local journal (write(2) done; fdatasync too when journal_sync). Survives
  /// a crash of the process: the journal is replayed when a store opens again on the same
  /// journal_dir or, by default, when any store of the same database and key prefix opens on this
  /// host (or by `examstore drain`). The default. On PostgreSQL a Store has a journal unless
  /// WriteBehindOptions::auto_journal is turned off with no journal_dir (then kJournaled throws
  /// kInvalidArgument). On the in-memory database, where nothing outlives the process anyway,
  /// it means kCached unless journal_dir is set.
  kJournaled,
  /// Committed to PostgreSQL. Survives anything PostgreSQL survives; as slow as a commit, and it
  /// waits while PostgreSQL is down (up to commit_timeout).
  kCommitted,
};
std::string_view to_string(Durability d) noexcept;
/// "cached", "journaled", "committed"; nullopt otherwise.
std::optional<Durability> parse_durability(std::string_view s) noexcept;

/// What a call does when the queue is full.
enum class FullPolicy {
  kBlock,   ///< wait up to block_timeout for room, then Error(kResourceExhausted)
  kReject,  ///< Error(kResourceExhausted) at once
};

struct WriteBehindOptions {
  /// Most operations written in one database transaction. Default 1000.
  std::size_t max_batch = 1000;
  /// Longest an operation waits for its batch to fill before it is written. Default 20 ms.
  std::chrono::milliseconds max_delay{20};
  /// Most operations accepted and not yet committed. Default 200000.
  std::size_t capacity = 200000;
  /// What happens when full. Default kBlock.
  FullPolicy when_full = FullPolicy::kBlock;
  /// How long kBlock waits for room. Default 5 s.
  std::chrono::milliseconds block_timeout{5000};
  /// First retry delay after a batch failed for a transient reason; doubles up to retry_max,
  /// with jitter. Defaults 50 ms and 5 s. Retries go on until the batch commits.
  std::chrono::milliseconds retry_initial{50};
  std::chrono::milliseconds retry_max{5000};
  /// How long a kCommitted call waits for its commit before Error(kTimeout) with
  /// outcome_unknown() (the write stays queued and is still committed later). Default 30 s.
  std::chrono::milliseconds commit_timeout{30000};
  /// Directory of the journal, used as given (created if missing; one process at a time, guarded
  /// by a lock file: a second store on it fails with kResourceExhausted). Empty (the default): on
  /// PostgreSQL the Store takes a slot under journal_root; on the in-memory database there is no
  /// journal. A directory holding another database's or key prefix's journal is refused with
  /// kDataIntegrity. See docs/write-behind.md.
  std::string journal_dir;
  /// Where a Store on PostgreSQL with an empty journal_dir keeps its journal:
  /// "<journal_root>/<database>@<host>-<port>.<key prefix>-<hash>/slot-<n>", the lowest slot no
  /// live process holds, so several processes of one application on one host each get their own,
  /// and a crashed process's slot is replayed by the next store that opens (or by
  /// `examstore drain`). A local folder: not tmpfs when journal_sync must survive power loss,
  /// nor one a restart wipes (systemd's PrivateTmp). Empty (the default):
  /// $STATE_DIRECTORY/examstore-journal (systemd StateDirectory=), else
  /// $XDG_STATE_HOME/examstore/journal, else $HOME/.local/state/examstore/journal.
  std::string journal_root;
  /// Whether a Store on PostgreSQL with an empty journal_dir takes a slot under journal_root.
  /// Default true. false: no journal, and kJournaled calls fail with kInvalidArgument (for
  /// hosts without a writable local disk; choose kCached or kCommitted per call).
  bool auto_journal = true;
  /// fdatasync every group commit of the journal: survives power loss too, at the disk's cost.
  /// Default false (a process crash is survived without it).
  bool journal_sync = false;
  /// How long closing the store waits for queued writes to commit. Whatever is left stays in
  /// the journal (journaled writes) or is lost (cached writes), and close reports it. Default 10 s.
  std::chrono::milliseconds drain_timeout{10000};
};

/// A snapshot of the queue's counters.
struct WriteBehindMetrics {
  std::int64_t depth = 0;  ///< accepted, not yet committed or dead-lettered
  std::chrono::milliseconds oldest_pending_age{0};
  std::int64_t enqueued = 0;       ///< operations accepted since start
  std::int64_t coalesced = 0;      ///< operations merged into a pending one of the same key
  std::int64_t committed = 0;      ///< operations committed
  std::int64_t retried = 0;        ///< batch attempts that failed transiently and were retried
  std::int64_t dead_lettered = 0;  ///< operations rejected for good, kept in the dead-letter store
  std::int64_t batches = 0;        ///< transactions committed
  std::int64_t max_batch_size = 0;
  double mean_batch_size = 0;
  std::int64_t journal_appends = 0;  ///< group commits to the journal
  std::int64_t replayed = 0;         ///< operations found in the journal at open and re-queued
};

/// A write PostgreSQL rejected for good, kept with its error (Store::dead_letters).
struct DeadLetterInfo {
  std::int64_t id = 0;
  std::string queue;    ///< "violation", "event" or "attendance"
  std::string payload;  ///< the write, as JSON
  std::string error;    ///< the database's error
  std::string sqlstate;
  int attempts = 1;
  std::chrono::system_clock::time_point failed_at;
};

}  // namespace examstore
