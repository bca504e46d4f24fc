// The Asio driver of the write-behind queue: one io_context thread asks the QueueCore what to do
// next, calls the Sink, reports the outcome and sleeps on one steady_timer until the core's next
// wake-up. The decisions are all in QueueCore (queue_core.hpp).
//
// Why the core sits behind a mutex instead of being touched by the io thread alone: enqueue()
// must answer at once (reject when full, coalesce, hand back tickets), and posting every call to
// a thread that may be inside a slow Sink call (PostgreSQL down: a connect timeout) would make
// kCached and kJournaled writes as slow as the database. So only the io thread drives batches
// and calls the Sink, always with the mutex released; callers add ops and read state under it.
//
// Journal writes happen on the calling threads (Journal's own group commit), before the ops
// reach the core, so an op is never committed before its record exists.
//
// Counters: enqueued + replayed == committed + coalesced + dead_lettered + depth (+ ops the
// dead-letter store refused, which also become the sticky error).
// ThreadSanitizer does not model std::atomic_thread_fence (GCC 12 refuses it under -Werror=tsan).
// Asio's fenced blocks are redundant here: handlers reach the one io thread through the
// io_context's mutex-guarded queue, which TSan does see. This file is the only user of Asio.
#if defined(__SANITIZE_THREAD__)
#define BOOST_ASIO_DISABLE_FENCED_BLOCK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BOOST_ASIO_DISABLE_FENCED_BLOCK 1
#endif
#endif
#include <boost/asio.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "write_behind/journal.hpp"
#include "write_behind/queue.hpp"
#include "write_behind/queue_core.hpp"

namespace examstore::wb {
namespace {

namespace asio = boost::asio;
using Clock = QueueCore::Clock;
using Ticket = QueueCore::Ticket;

constexpr std::string_view kEnqueue = "write_behind enqueue";

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

void check_options(const WriteBehindOptions& o) {
  auto bad = [](const std::string& field, const std::string& why) {
    throw Error(ErrorCode::kInvalidArgument, "write_behind options", field + " " + why);
  };
  if (o.max_batch == 0) bad("write_behind.max_batch", "must be > 0");
  if (o.capacity == 0) bad("write_behind.capacity", "must be > 0");
  const std::pair<const char*, std::chrono::milliseconds> durations[] = {
      {"write_behind.max_delay", o.max_delay},
      {"write_behind.block_timeout", o.block_timeout},
      {"write_behind.retry_initial", o.retry_initial},
      {"write_behind.retry_max", o.retry_max},
      {"write_behind.commit_timeout", o.commit_timeout},
      {"write_behind.drain_timeout", o.drain_timeout}};
  for (const auto& [name, d] : durations) {
    if (d.count() < 0) bad(name, "must be >= 0, not " + ms_text(d));
  }
  if (o.retry_max < o.retry_initial) bad("write_behind.retry_max", "must be >= retry_initial");
}

Error closed_error() {
  return Error(ErrorCode::kUnavailable, std::string(kEnqueue), "the write-behind queue is closed");
}

}  // namespace

struct WriteBehindQueue::Impl {
  // A kCommitted caller waiting for tickets [first, last); `error` is the first rejection.
  struct Watch {
    Ticket first = 0;
    Ticket last = 0;
    std::optional<Error> error;
  };

  Impl(WriteBehindOptions o, Sink& s, const obs::Logger& l)
      : options(std::move(o)),
        sink(s),
        log(l),
        core(CoreOptions{options.max_batch, options.max_delay, options.capacity,
                         options.retry_initial, options.retry_max},
             std::random_device{}()) {}

  void start();
  void kick_locked();
  void pump();
  std::optional<Error> perform(const QueueCore::Action& action);
  void report(const QueueCore::Action& action, const std::optional<Error>& failure) const;
  std::vector<std::uint64_t> settle_locked();
  void throw_if_unusable_locked() const;

  const WriteBehindOptions options;
  Sink& sink;
  const obs::Logger& log;

  // Set at construction; reset by close() once the io thread has stopped (under mu).
  std::unique_ptr<Journal> journal;
  // Set at construction, constant after it.
  std::string journal_dir;

  // The io thread's own: only it touches the timer.
  asio::io_context io;
  asio::steady_timer timer{io};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;

  std::mutex close_mu;  // serialises close() calls

  mutable std::mutex mu;             // guards core and everything below
  std::condition_variable progress;  // ops resolved, an admission finished, sticky set, closed
  std::condition_variable room;      // capacity released or the queue closed
  QueueCore core;
  std::optional<Error> sticky;
  bool accepting = true;        // false once close() began
  bool stop_requested = false;  // the io thread must stop after its current action
  bool stopped = false;         // the io thread has stopped
  bool pump_posted = false;
  std::size_t admitting = 0;  // enqueue() calls between reserving room and pushing their ops
  std::int64_t replayed = 0;
  std::int64_t journal_appends_at_close = 0;
  std::map<Ticket, Watch*> watches;  // by first ticket
  std::optional<std::size_t> left;   // set by the first close()
};

void WriteBehindQueue::Impl::start() {
  thread = std::thread([this] { io.run(); });
}

void WriteBehindQueue::Impl::kick_locked() {
  if (pump_posted || stop_requested) return;
  pump_posted = true;
  asio::post(io, [this] { pump(); });
}

void WriteBehindQueue::Impl::throw_if_unusable_locked() const {
  if (sticky) throw *sticky;
  if (!accepting) throw closed_error();
}

std::optional<Error> WriteBehindQueue::Impl::perform(const QueueCore::Action& action) {
  try {
    if (action.type == QueueCore::Action::Type::kWrite) {
      sink.write(action.ops);
    } else {
      sink.dead_letter(action.ops.front(), *action.error);
    }
    return std::nullopt;
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, "write_behind sink", e.what());
  } catch (...) {
    return Error(ErrorCode::kInternal, "write_behind sink", "unknown exception");
  }
}

// Transient failures are retried by the core (with backoff) and permanent ones split down to
// the op that is then dead-lettered, so a failed write is a warning and a dead letter an error.
void WriteBehindQueue::Impl::report(const QueueCore::Action& action,
                                    const std::optional<Error>& failure) const {
  if (action.type == QueueCore::Action::Type::kWrite) {
    if (failure) {
      log.log(LogLevel::kWarn, "write_behind", "a batch of {} write(s) failed ({}); {}",
              action.ops.size(), failure->what(),
              failure->retryable() ? "retrying with backoff" : "isolating the rejected write");
    }
  } else if (failure) {
    log.log(LogLevel::kWarn, "write_behind", "storing a dead letter failed ({}); retrying",
            failure->what());
  } else {
    log.log(LogLevel::kError, "write_behind", "dead-lettered one {} write: {}",
            action.ops.front().kind_name(), action.error ? action.error->what() : "rejected");
  }
}

std::vector<std::uint64_t> WriteBehindQueue::Impl::settle_locked() {
  std::vector<std::uint64_t> seqs;
  std::vector<QueueCore::Resolved> done = core.take_resolved();
  if (done.empty()) return seqs;
  for (QueueCore::Resolved& r : done) {
    seqs.insert(seqs.end(), r.journal_seqs.begin(), r.journal_seqs.end());
    if (!r.error) continue;
    if (r.lost && !sticky) sticky = r.error;
    for (Ticket t : r.tickets) {
      auto it = watches.upper_bound(t);
      if (it == watches.begin()) continue;
      --it;
      Watch& w = *it->second;
      if (t < w.last && !w.error) w.error = r.error;
    }
  }
  progress.notify_all();
  room.notify_all();
  return seqs;
}

void WriteBehindQueue::Impl::pump() {
  std::unique_lock<std::mutex> lock(mu);
  pump_posted = false;
  while (!stop_requested) {
    QueueCore::Action action = core.next(Clock::now());
    if (action.type == QueueCore::Action::Type::kWait) {
      if (action.wake_at) {
        timer.expires_at(*action.wake_at);
        timer.async_wait([this](const boost::system::error_code& ec) {
          if (!ec) pump();
        });
      } else {
        timer.cancel();
      }
      return;
    }
    lock.unlock();
    const std::optional<Error> failure = perform(action);
    report(action, failure);
    lock.lock();
    const auto now = Clock::now();
    if (action.type == QueueCore::Action::Type::kWrite) {
      if (failure) {
        core.on_write_failed(*failure, now);
      } else {
        core.on_written(now);
      }
    } else if (failure) {
      core.on_dead_letter_failed(*failure, now);
    } else {
      core.on_dead_lettered(now);
    }
    const std::vector<std::uint64_t> seqs = settle_locked();
    if (!seqs.empty() && journal) {
      lock.unlock();
      journal->mark_committed(seqs);
      lock.lock();
    }
  }
}

WriteBehindQueue::WriteBehindQueue(WriteBehindOptions options, Sink& sink, const obs::Logger* log,
                                   const JournalPlacement& placement) {
  check_options(options);
  auto impl = std::make_unique<Impl>(std::move(options), sink, log ? *log : obs::Logger::silent());
  OpenedJournal opened = open_journal(impl->options, placement);
  if (opened.journal) {
    impl->journal = std::move(opened.journal);
    impl->journal_dir = impl->journal->dir();
    if (impl->options.journal_dir.empty()) {
      impl->log.log(LogLevel::kInfo, "write_behind", "journal in {}", impl->journal_dir);
    }
    const auto now = Clock::now();
    for (Journal::Record& r : opened.records) {
      Op op;
      try {
        op = decode(r.data);
      } catch (const Error& e) {
        throw Error(ErrorCode::kDataIntegrity, "write_behind replay",
                    "record " + std::to_string(r.seq) + " of the journal in " + impl->journal_dir +
                        ": " + e.message());
      }
      // Replayed ops were acknowledged before the restart: they are taken whatever the capacity.
      impl->core.push(std::move(op), r.seq, now, /*reserved=*/false);
    }
    impl->replayed = static_cast<std::int64_t>(opened.records.size());
    if (impl->replayed > 0) {
      impl->log.log(LogLevel::kInfo, "write_behind",
                    "replaying {} journaled write(s) from {} that were not committed",
                    impl->replayed, impl->journal_dir);
    }
    for (const std::string& dir : opened.taken_from) {
      impl->log.log(LogLevel::kInfo, "write_behind",
                    "took over the journal slot {} left by a process that stopped", dir);
    }
  }
  impl->start();
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    if (impl->replayed > 0) {
      impl->core.request_flush();
      impl->kick_locked();
    }
  }
  impl_ = std::move(impl);
}

WriteBehindQueue::~WriteBehindQueue() {
  if (!impl_) return;
  try {
    close(impl_->options.drain_timeout);
  } catch (...) {
    // The sticky error was already thrown to a caller or is reported by close(); a destructor
    // must not throw.
  }
}

void WriteBehindQueue::enqueue(std::vector<Op> ops, Durability durability) {
  Impl& q = *impl_;
  if (durability == Durability::kJournaled && q.journal_dir.empty()) {
    throw Error(ErrorCode::kInvalidArgument, std::string(kEnqueue),
                "durability journaled needs a journal, and this store has none "
                "(write_behind.journal_dir is empty and write_behind.auto_journal is off): choose "
                "kCached or kCommitted, or configure a journal");
  }
  std::unique_lock<std::mutex> lock(q.mu);
  q.throw_if_unusable_locked();
  if (ops.empty()) return;
  const std::size_t n = ops.size();
  if (n > q.options.capacity) {
    throw Error(ErrorCode::kResourceExhausted, std::string(kEnqueue),
                std::to_string(n) + " ops exceed the queue's capacity of " +
                    std::to_string(q.options.capacity));
  }
  if (!q.core.try_reserve(n)) {
    if (q.options.when_full == FullPolicy::kReject) {
      throw Error(ErrorCode::kResourceExhausted, std::string(kEnqueue),
                  "the queue is full (" + std::to_string(q.core.depth()) + " of " +
                      std::to_string(q.options.capacity) + " pending)");
    }
    const auto deadline = Clock::now() + q.options.block_timeout;
    for (;;) {
      const bool timed_out = q.room.wait_until(lock, deadline) == std::cv_status::timeout;
      q.throw_if_unusable_locked();
      if (q.core.try_reserve(n)) break;
      if (timed_out) {
        throw Error(ErrorCode::kResourceExhausted, std::string(kEnqueue),
                    "the queue stayed full for " + ms_text(q.options.block_timeout) + " (" +
                        std::to_string(q.core.depth()) + " of " +
                        std::to_string(q.options.capacity) + " pending)");
      }
    }
  }

  // kCommitted ops are journaled too when there is a journal: a commit_timeout then still
  // leaves them safe across a crash ("the write stays queued and is still committed later").
  const bool journaled = durability != Durability::kCached && q.journal != nullptr;
  std::uint64_t first_seq = 0;
  if (journaled) {
    ++q.admitting;
    lock.unlock();
    std::vector<std::string> records;
    records.reserve(n);
    for (const Op& op : ops) records.push_back(encode(op));
    try {
      first_seq = q.journal->append(records);
    } catch (const Error& e) {
      lock.lock();
      q.core.unreserve(n);
      --q.admitting;
      if (!q.sticky) q.sticky = e;
      q.progress.notify_all();
      q.room.notify_all();
      throw;
    }
    lock.lock();
    --q.admitting;
    q.progress.notify_all();
  }

  const auto now = Clock::now();
  const std::size_t waiting_before = q.core.waiting();
  const Ticket first = q.core.next_ticket();
  for (std::size_t i = 0; i < n; ++i) {
    std::optional<std::uint64_t> seq;
    if (journaled) seq = first_seq + i;
    q.core.push(std::move(ops[i]), seq, now, /*reserved=*/true);
  }
  const Ticket last = q.core.next_ticket();
  // The io thread needs waking only when its next wake-up moves: the first waiting op sets
  // one, a full batch is due at once. Otherwise its timer (or the end of its current Sink call)
  // already comes at the right time.
  if (waiting_before == 0 || q.core.waiting() >= q.options.max_batch) q.kick_locked();
  if (durability != Durability::kCommitted) return;

  Impl::Watch watch{first, last, std::nullopt};
  q.watches.emplace(first, &watch);
  const bool done = q.progress.wait_until(lock, now + q.options.commit_timeout, [&] {
    return q.core.resolved_range(first, last) || q.stopped;
  });
  q.watches.erase(first);
  if (!done || !q.core.resolved_range(first, last)) {
    if (q.stopped) {
      throw Error(ErrorCode::kUnavailable, std::string(kEnqueue),
                  "the queue was closed before the write committed", "", true);
    }
    throw Error(ErrorCode::kTimeout, std::string(kEnqueue),
                "not committed within commit_timeout (" + ms_text(q.options.commit_timeout) +
                    "); the write stays queued",
                "", true);
  }
  if (watch.error) throw *watch.error;
}

void WriteBehindQueue::flush(std::chrono::milliseconds timeout) {
  Impl& q = *impl_;
  std::unique_lock<std::mutex> lock(q.mu);
  if (q.sticky) throw *q.sticky;
  const Ticket target = q.core.request_flush();
  q.kick_locked();
  q.progress.wait_until(lock, Clock::now() + timeout,
                        [&] { return q.core.resolved_before(target) || q.sticky || q.stopped; });
  if (q.sticky) throw *q.sticky;
  if (q.core.resolved_before(target)) return;
  if (q.stopped) {
    throw Error(ErrorCode::kUnavailable, "write_behind flush",
                "the queue is closed with " + std::to_string(q.core.depth()) + " ops left");
  }
  throw Error(ErrorCode::kTimeout, "write_behind flush",
              "not drained within " + ms_text(timeout) + " (" + std::to_string(q.core.depth()) +
                  " ops pending)");
}

std::size_t WriteBehindQueue::close(std::chrono::milliseconds timeout) {
  Impl& q = *impl_;
  std::lock_guard<std::mutex> serial(q.close_mu);
  std::unique_lock<std::mutex> lock(q.mu);
  if (!q.left) {
    const auto deadline = Clock::now() + timeout;
    q.accepting = false;
    q.room.notify_all();
    // Journal appends in progress finish (they are bounded by the disk) and reach the core, so
    // that no acknowledged op is forgotten and the journal is not closed under them.
    q.progress.wait(lock, [&] { return q.admitting == 0; });
    const Ticket target = q.core.request_flush();
    q.kick_locked();
    q.progress.wait_until(lock, deadline, [&] { return q.core.resolved_before(target); });
    q.stop_requested = true;
    lock.unlock();
    // The io thread finishes the Sink call it is in (if any) and settles it, then stops.
    q.work.reset();
    q.io.stop();
    if (q.thread.joinable()) q.thread.join();
    lock.lock();
    q.stopped = true;
    q.left = q.core.depth();
    if (q.journal) {
      q.journal_appends_at_close = q.journal->group_writes();
      q.journal.reset();  // releases the directory; uncommitted records stay for the next open
    }
    q.progress.notify_all();
    q.room.notify_all();
  }
  if (q.sticky) throw *q.sticky;
  return *q.left;
}

std::optional<Op> WriteBehindQueue::pending(const std::string& key) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->core.pending(key);
}

std::vector<Op> WriteBehindQueue::pending_of(Op::Kind kind) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->core.pending_of(kind);
}

WriteBehindMetrics WriteBehindQueue::metrics() const {
  const Impl& q = *impl_;
  std::lock_guard<std::mutex> lock(q.mu);
  const CoreCounters& c = q.core.counters();
  WriteBehindMetrics m;
  m.depth = static_cast<std::int64_t>(q.core.depth());
  if (const auto oldest = q.core.oldest()) {
    m.oldest_pending_age =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *oldest);
  }
  m.enqueued = c.enqueued - q.replayed;
  m.coalesced = c.coalesced;
  m.committed = c.committed;
  m.retried = c.retried;
  m.dead_lettered = c.dead_lettered;
  m.batches = c.batches;
  m.max_batch_size = c.max_batch_size;
  m.mean_batch_size =
      c.batches > 0 ? static_cast<double>(c.batched_ops) / static_cast<double>(c.batches) : 0.0;
  m.journal_appends = q.journal ? q.journal->group_writes() : q.journal_appends_at_close;
  m.replayed = q.replayed;
  return m;
}

bool WriteBehindQueue::has_journal() const { return !impl_->journal_dir.empty(); }

const std::string& WriteBehindQueue::journal_dir() const { return impl_->journal_dir; }

}  // namespace examstore::wb
