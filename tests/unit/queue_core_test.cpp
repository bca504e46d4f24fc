// The write-behind state machine alone: no I/O, no threads, time and randomness injected.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "write_behind/queue_core.hpp"

using examstore::Error;
using examstore::ErrorCode;
using examstore::Event;
using examstore::Presence;
using examstore::Violation;
using examstore::db::AttendanceUpdate;
using examstore::wb::CoreOptions;
using examstore::wb::Op;
using examstore::wb::QueueCore;
using Action = QueueCore::Action;
using namespace std::chrono_literals;

namespace {

const QueueCore::Time kT0 = QueueCore::Time() + 1000h;

Op violation(std::int64_t id) {
  Violation v;
  v.id = id;
  v.exam_id = 1;
  v.student_id = 2;
  v.reason = "r" + std::to_string(id);
  return Op{v};
}

Op attendance(std::int64_t student, std::int64_t version, Presence status) {
  AttendanceUpdate a;
  a.exam_id = 7;
  a.student_id = student;
  a.version = version;
  a.status = status;
  return Op{a};
}

const AttendanceUpdate& att(const Op& op) { return std::get<AttendanceUpdate>(op.data); }

std::vector<std::string> keys(const std::vector<Op>& ops) {
  std::vector<std::string> out;
  for (const Op& op : ops) out.push_back(op.key());
  return out;
}

CoreOptions options(std::size_t max_batch = 1000, std::chrono::milliseconds max_delay = 20ms) {
  CoreOptions o;
  o.max_batch = max_batch;
  o.max_delay = max_delay;
  o.capacity = 1000000;
  o.retry_initial = 100ms;
  o.retry_max = 800ms;
  return o;
}

Error transient() { return Error(ErrorCode::kUnavailable, "insert", "connection refused"); }
Error rejected(const std::string& why) { return Error(ErrorCode::kConflict, "insert", why); }

// Drives the core like the Asio layer does, with a synchronous fake sink, until it waits.
struct Harness {
  QueueCore core;
  // Throws to fail a batch; records every call.
  std::function<void(const std::vector<Op>&)> write = [](const std::vector<Op>&) {};
  std::function<void(const Op&, const Error&)> dead_letter = [](const Op&, const Error&) {};
  std::vector<std::vector<std::string>> writes;
  std::vector<std::string> committed;
  std::vector<std::pair<std::string, std::string>> dead;  // key, error
  std::vector<QueueCore::Resolved> resolved;

  explicit Harness(CoreOptions o, std::uint64_t seed = 42) : core(o, seed) {}

  // Runs actions at `now` until the core waits; returns that wait.
  Action run(QueueCore::Time now) {
    for (;;) {
      Action a = core.next(now);
      if (a.type == Action::Type::kWait) return a;
      if (a.type == Action::Type::kWrite) {
        writes.push_back(keys(a.ops));
        try {
          write(a.ops);
          for (const Op& op : a.ops) committed.push_back(op.key());
          core.on_written(now);
        } catch (const Error& e) {
          core.on_write_failed(e, now);
        }
      } else {
        try {
          dead_letter(a.ops.front(), *a.error);
          dead.emplace_back(a.ops.front().key(), a.error->message());
          core.on_dead_lettered(now);
        } catch (const Error& e) {
          core.on_dead_letter_failed(e, now);
        }
      }
      for (auto& r : core.take_resolved()) resolved.push_back(std::move(r));
    }
  }

  void push(Op op, QueueCore::Time now = kT0) {
    core.push(std::move(op), std::nullopt, now, false);
  }
};

}  // namespace

TEST_CASE("QueueCore starts a batch when max_batch ops wait", "[write_behind][unit]") {
  Harness h(options(4, 1000ms));
  for (int i = 1; i <= 3; ++i) h.push(violation(i));
  Action a = h.run(kT0);
  CHECK(h.writes.empty());
  REQUIRE(a.wake_at);
  CHECK(*a.wake_at == kT0 + 1000ms);

  h.push(violation(4));
  for (int i = 5; i <= 9; ++i) h.push(violation(i));
  h.run(kT0);
  // Two full batches, in acceptance order; the ninth waits for max_delay.
  REQUIRE(h.writes.size() == 2);
  CHECK(h.writes[0] == std::vector<std::string>{"v:1", "v:2", "v:3", "v:4"});
  CHECK(h.writes[1] == std::vector<std::string>{"v:5", "v:6", "v:7", "v:8"});
  CHECK(h.core.depth() == 1);
  CHECK(h.core.counters().batches == 2);
  CHECK(h.core.counters().max_batch_size == 4);
}

TEST_CASE("QueueCore starts a batch when the oldest op waited max_delay", "[write_behind][unit]") {
  Harness h(options(1000, 20ms));
  h.push(violation(1), kT0);
  h.push(violation(2), kT0 + 15ms);
  Action a = h.run(kT0 + 19ms);
  CHECK(h.writes.empty());
  REQUIRE(a.wake_at);
  CHECK(*a.wake_at == kT0 + 20ms);  // set by the oldest, not the newest
  a = h.run(kT0 + 20ms);
  REQUIRE(h.writes.size() == 1);
  CHECK(h.writes[0] == std::vector<std::string>{"v:1", "v:2"});
  CHECK_FALSE(a.wake_at);  // nothing left: sleep until an event
  CHECK(h.core.depth() == 0);
}

TEST_CASE("QueueCore coalesces attendance updates per key", "[write_behind][unit]") {
  Harness h(options());
  const auto login = std::chrono::system_clock::time_point(1700000000s);
  const auto logout = login + 3600s;
  Op first = attendance(1, 1, Presence::kOnline);
  std::get<AttendanceUpdate>(first.data).login_at = login;
  std::get<AttendanceUpdate>(first.data).last_ip = "10.0.0.1";
  Op second = attendance(1, 2, Presence::kOffline);
  std::get<AttendanceUpdate>(second.data).logout_at = logout;
  // A late, lower version changes nothing: the store would ignore it too.
  Op stale = attendance(1, 0, Presence::kMissing);
  h.push(first);
  h.push(second);
  h.push(stale);
  h.push(attendance(2, 5, Presence::kOnline));

  CHECK(h.core.depth() == 2);
  CHECK(h.core.counters().coalesced == 2);
  const auto pending = h.core.pending("a:7:1");
  REQUIRE(pending);
  CHECK(att(*pending).version == 2);
  CHECK(att(*pending).status == Presence::kOffline);
  CHECK(att(*pending).login_at == login);  // the first login is kept
  CHECK(att(*pending).logout_at == logout);
  CHECK(att(*pending).last_ip == "10.0.0.1");  // an empty ip does not overwrite

  h.run(kT0 + 20ms);
  REQUIRE(h.writes.size() == 1);
  CHECK(h.writes[0] == std::vector<std::string>{"a:7:1", "a:7:2"});
  // The coalesced write resolves every op it absorbed.
  REQUIRE(h.resolved.size() == 2);
  CHECK(h.resolved[0].tickets.size() == 3);
  CHECK(h.core.resolved_before(h.core.next_ticket()));
}

TEST_CASE("QueueCore absorbs a second append with a pending id", "[write_behind][unit]") {
  Harness h(options());
  Op a = violation(5);
  Op b = violation(5);
  std::get<Violation>(b.data).reason = "replayed";
  h.push(a);
  h.push(b);
  CHECK(h.core.depth() == 1);
  CHECK(std::get<Violation>(h.core.pending("v:5")->data).reason == "r5");
}

TEST_CASE("QueueCore keeps per-key order: a key in flight waits for its batch",
          "[write_behind][unit]") {
  Harness h(options(1000, 20ms));
  QueueCore& core = h.core;
  core.push(attendance(1, 1, Presence::kOnline), std::nullopt, kT0, false);
  Action a = core.next(kT0 + 20ms);
  REQUIRE(a.type == Action::Type::kWrite);
  CHECK(att(a.ops[0]).version == 1);

  // While version 1 is in flight, version 2 queues separately (it is not merged into the batch
  // being written) and no second batch starts, even when flushed.
  core.push(attendance(1, 2, Presence::kOffline), std::nullopt, kT0 + 21ms, false);
  core.request_flush();
  CHECK(core.next(kT0 + 100ms).type == Action::Type::kWait);
  CHECK(core.depth() == 2);
  CHECK(core.waiting() == 1);
  // Read-your-writes sees what the store will hold after both.
  REQUIRE(core.pending("a:7:1"));
  CHECK(att(*core.pending("a:7:1")).version == 2);
  CHECK(core.pending_of(Op::Kind::kAttendance).size() == 1);

  core.on_written(kT0 + 30ms);
  a = core.next(kT0 + 30ms);
  REQUIRE(a.type == Action::Type::kWrite);
  REQUIRE(a.ops.size() == 1);
  CHECK(att(a.ops[0]).version == 2);
  core.on_written(kT0 + 31ms);
  CHECK(core.depth() == 0);
  CHECK_FALSE(core.pending("a:7:1"));
}

TEST_CASE("QueueCore retries a transiently failed batch with capped, jittered backoff",
          "[write_behind][unit]") {
  Harness h(options(1000, 0ms));
  int failures_left = 6;
  h.write = [&](const std::vector<Op>&) {
    if (failures_left-- > 0) throw transient();
  };
  h.push(violation(1));
  h.push(violation(2));

  const std::vector<std::chrono::milliseconds> caps = {100ms, 200ms, 400ms, 800ms, 800ms, 800ms};
  QueueCore::Time now = kT0;
  for (std::size_t i = 0; i < caps.size(); ++i) {
    Action a = h.run(now);
    INFO("failure " << i + 1);
    CHECK(h.core.backoff_cap() == caps[i]);
    REQUIRE(a.wake_at);
    CHECK(*a.wake_at >= now);
    CHECK(*a.wake_at <= now + caps[i]);
    // Nothing happens before the wake-up.
    if (*a.wake_at > now) CHECK(h.core.next(*a.wake_at - 1us).type == Action::Type::kWait);
    now = *a.wake_at;
  }
  h.run(now);
  // The same batch each time; committed once.
  REQUIRE(h.writes.size() == 7);
  for (const auto& w : h.writes) CHECK(w == std::vector<std::string>{"v:1", "v:2"});
  CHECK(h.committed == std::vector<std::string>{"v:1", "v:2"});
  CHECK(h.core.counters().retried == 6);
  CHECK(h.core.backoff_cap() == 0ms);
}

TEST_CASE("QueueCore jitter is seeded and spreads from 0 to the cap", "[write_behind][unit]") {
  auto delays = [](std::uint64_t seed) {
    QueueCore core(options(1000, 0ms), seed);
    core.push(violation(1), std::nullopt, kT0, false);
    std::vector<std::chrono::nanoseconds> out;
    QueueCore::Time now = kT0;
    for (int i = 0; i < 40; ++i) {
      REQUIRE(core.next(now).type == Action::Type::kWrite);
      core.on_write_failed(transient(), now);
      const Action a = core.next(now);
      out.push_back(*a.wake_at - now);
      now = *a.wake_at;
    }
    return out;
  };
  CHECK(delays(7) == delays(7));
  CHECK(delays(7) != delays(8));
  // From the fourth failure on the cap is 800 ms: full jitter uses the whole range.
  std::chrono::nanoseconds lo = 1h, hi = 0ns;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto d = delays(seed);
    for (std::size_t i = 3; i < d.size(); ++i) {
      lo = std::min(lo, d[i]);
      hi = std::max(hi, d[i]);
      CHECK(d[i] <= 800ms);
    }
  }
  CHECK(lo < 100ms);
  CHECK(hi > 700ms);
}

TEST_CASE("QueueCore isolates a poison op: dead-letters it, commits the rest, in O(log n)",
          "[write_behind][unit]") {
  SECTION("a batch of 8 with one bad op") {
    Harness h(options(8, 0ms));
    h.write = [](const std::vector<Op>& ops) {
      for (const Op& op : ops) {
        if (op.key() == "v:6") throw rejected("severity out of range");
      }
    };
    for (int i = 1; i <= 8; ++i) h.push(violation(i));
    h.run(kT0);
    REQUIRE(h.dead.size() == 1);
    CHECK(h.dead[0].first == "v:6");
    CHECK(h.dead[0].second == "severity out of range");
    CHECK(h.committed.size() == 7);
    CHECK(std::set<std::string>(h.committed.begin(), h.committed.end()).count("v:6") == 0);
    // 8 → 4 + 4 → 2 + 2 → 1 + 1: one failure per level, 1 + 2·log2(8) writes.
    CHECK(h.writes.size() == 7);
    CHECK(h.core.counters().dead_lettered == 1);
    CHECK(h.core.counters().committed == 7);
    CHECK(h.core.counters().retried == 0);
    CHECK(h.core.depth() == 0);
    // The dead-lettered op's waiter learns why.
    bool saw_error = false;
    for (const auto& r : h.resolved) {
      if (r.error) {
        saw_error = true;
        CHECK(r.error->code() == ErrorCode::kConflict);
        CHECK_FALSE(r.lost);
      }
    }
    CHECK(saw_error);
  }
  SECTION("every size and position") {
    for (int n : {1, 2, 3, 5, 8, 13, 64}) {
      for (int bad = 1; bad <= n; ++bad) {
        Harness h(options(static_cast<std::size_t>(n), 0ms));
        const std::string bad_key = "v:" + std::to_string(bad);
        h.write = [&](const std::vector<Op>& ops) {
          for (const Op& op : ops) {
            if (op.key() == bad_key) throw rejected("bad");
          }
        };
        for (int i = 1; i <= n; ++i) h.push(violation(i));
        h.run(kT0);
        INFO("n=" << n << " bad=" << bad);
        REQUIRE(h.dead.size() == 1);
        CHECK(h.dead[0].first == bad_key);
        CHECK(h.committed.size() == static_cast<std::size_t>(n - 1));
        const auto levels = static_cast<std::size_t>(std::ceil(std::log2(n)));
        CHECK(h.writes.size() <= 1 + 2 * levels);
      }
    }
  }
  SECTION("two bad ops in one batch") {
    Harness h(options(16, 0ms));
    h.write = [](const std::vector<Op>& ops) {
      for (const Op& op : ops) {
        if (op.key() == "v:3" || op.key() == "v:12") throw rejected("bad");
      }
    };
    for (int i = 1; i <= 16; ++i) h.push(violation(i));
    h.run(kT0);
    REQUIRE(h.dead.size() == 2);
    CHECK(h.committed.size() == 14);
  }
}

TEST_CASE("QueueCore retries only the failing half after a transient error during a split",
          "[write_behind][unit]") {
  Harness h(options(4, 0ms));
  int calls = 0;
  h.write = [&](const std::vector<Op>& ops) {
    ++calls;
    if (calls == 1) throw rejected("bad");  // 4 → split
    if (calls == 2) throw transient();      // first half: transient
    for (const Op& op : ops) {
      if (op.key() == "v:4") throw rejected("bad");
    }
  };
  for (int i = 1; i <= 4; ++i) h.push(violation(i));
  Action a = h.run(kT0);
  REQUIRE(a.wake_at);
  h.run(*a.wake_at);
  REQUIRE(h.writes.size() >= 3);
  CHECK(h.writes[1] == std::vector<std::string>{"v:1", "v:2"});
  CHECK(h.writes[2] == std::vector<std::string>{"v:1", "v:2"});  // the same half again
  REQUIRE(h.dead.size() == 1);
  CHECK(h.dead[0].first == "v:4");
  CHECK(h.committed.size() == 3);
}

TEST_CASE("QueueCore retries a dead letter that fails transiently, drops one refused for good",
          "[write_behind][unit]") {
  Harness h(options(1, 0ms));
  h.write = [](const std::vector<Op>&) { throw rejected("bad row"); };
  int dl_calls = 0;
  h.dead_letter = [&](const Op& op, const Error&) {
    ++dl_calls;
    if (op.key() == "v:1" && dl_calls == 1) throw transient();
    if (op.key() == "v:2") throw Error(ErrorCode::kInvalidArgument, "dead letter", "refused");
  };
  h.push(violation(1));
  h.push(violation(2));
  Action a = h.run(kT0);
  REQUIRE(a.wake_at);  // backing off before retrying the dead letter
  h.run(*a.wake_at);
  CHECK(h.core.depth() == 0);
  REQUIRE(h.dead.size() == 1);
  CHECK(h.dead[0].first == "v:1");
  CHECK(h.core.counters().dead_lettered == 1);
  CHECK(h.core.counters().lost == 1);
  bool lost = false;
  for (const auto& r : h.resolved) {
    if (r.lost) {
      lost = true;
      REQUIRE(r.error);
      CHECK(std::string(r.error->what()).find("v:2") != std::string::npos);
    }
  }
  CHECK(lost);
}

TEST_CASE("QueueCore flush writes what was accepted before it without waiting for max_delay",
          "[write_behind][unit]") {
  Harness h(options(1000, 1h));
  h.push(violation(1));
  h.push(violation(2));
  CHECK(h.run(kT0).wake_at == kT0 + 1h);
  const auto target = h.core.request_flush();
  CHECK_FALSE(h.core.resolved_before(target));
  h.run(kT0);
  REQUIRE(h.writes.size() == 1);
  CHECK(h.writes[0].size() == 2);
  CHECK(h.core.resolved_before(target));

  // Ops after the flush wait for max_delay again.
  h.push(violation(3));
  CHECK(h.run(kT0).wake_at == kT0 + 1h);
  CHECK(h.core.resolved_before(target));
  CHECK_FALSE(h.core.resolved_before(h.core.next_ticket()));
  CHECK(h.writes.size() == 1);
}

TEST_CASE("QueueCore flush of a large backlog drains every batch", "[write_behind][unit]") {
  Harness h(options(3, 1h));
  for (int i = 1; i <= 10; ++i) h.push(violation(i));
  h.run(kT0);
  CHECK(h.writes.size() == 3);  // full batches only
  const auto target = h.core.request_flush();
  h.run(kT0);
  CHECK(h.writes.size() == 4);
  CHECK(h.core.resolved_before(target));
}

TEST_CASE("QueueCore accounts capacity in entries, reserved before push", "[write_behind][unit]") {
  CoreOptions o = options(1000, 0ms);
  o.capacity = 4;
  QueueCore core(o, 1);
  CHECK(core.try_reserve(3));
  CHECK_FALSE(core.try_reserve(2));
  CHECK(core.reserved() == 3);
  core.push(attendance(1, 1, Presence::kOnline), std::nullopt, kT0, true);
  core.push(attendance(2, 1, Presence::kOnline), std::nullopt, kT0, true);
  // Coalesces: takes no room, gives its reservation back.
  core.push(attendance(1, 2, Presence::kOffline), std::nullopt, kT0, true);
  CHECK(core.depth() == 2);
  CHECK(core.reserved() == 0);
  CHECK(core.try_reserve(2));
  CHECK_FALSE(core.try_reserve(1));
  core.unreserve(2);
  CHECK(core.try_reserve(2));
  core.unreserve(2);

  // Replayed ops are taken beyond capacity; room comes back only as writes resolve.
  for (int i = 3; i <= 6; ++i)
    core.push(attendance(i, 1, Presence::kOnline), std::nullopt, kT0, false);
  CHECK(core.depth() == 6);
  CHECK_FALSE(core.try_reserve(1));
  Action a = core.next(kT0);
  REQUIRE(a.type == Action::Type::kWrite);
  CHECK(a.ops.size() == 6);
  CHECK_FALSE(core.try_reserve(1));  // in flight still counts
  core.on_written(kT0);
  CHECK(core.depth() == 0);
  CHECK(core.try_reserve(4));
}

TEST_CASE("QueueCore tracks resolution by ticket range", "[write_behind][unit]") {
  Harness h(options(2, 1h));
  const auto t1 = h.core.push(violation(1), 11, kT0, false);
  const auto t2 = h.core.push(violation(2), 12, kT0, false);
  const auto t3 = h.core.push(violation(3), 13, kT0, false);
  CHECK(t2 == t1 + 1);
  CHECK(t3 == t2 + 1);
  h.run(kT0);  // writes 1 and 2
  CHECK(h.core.resolved_range(t1, t3));
  CHECK_FALSE(h.core.resolved_range(t1, t3 + 1));
  CHECK_FALSE(h.core.resolved_before(t3 + 1));
  REQUIRE(h.resolved.size() == 2);
  CHECK(h.resolved[0].journal_seqs == std::vector<std::uint64_t>{11});
  CHECK(h.resolved[1].journal_seqs == std::vector<std::uint64_t>{12});
}

TEST_CASE("QueueCore asks for nothing while an action is outstanding", "[write_behind][unit]") {
  QueueCore core(options(1, 0ms), 1);
  core.push(violation(1), std::nullopt, kT0, false);
  core.push(violation(2), std::nullopt, kT0, false);
  REQUIRE(core.next(kT0).type == Action::Type::kWrite);
  const Action a = core.next(kT0);
  CHECK(a.type == Action::Type::kWait);
  CHECK_FALSE(a.wake_at);
  CHECK(core.batch_in_flight());
  core.on_written(kT0);
  CHECK(core.next(kT0).type == Action::Type::kWrite);
}

TEST_CASE("QueueCore reports the oldest unresolved op and pending ops by kind",
          "[write_behind][unit]") {
  QueueCore core(options(1000, 1h), 1);
  CHECK_FALSE(core.oldest());
  core.push(violation(1), std::nullopt, kT0, false);
  Event e;
  e.id = 9;
  core.push(Op{e}, std::nullopt, kT0 + 5ms, false);
  core.push(violation(2), std::nullopt, kT0 + 10ms, false);
  CHECK(core.oldest() == kT0);
  CHECK(core.pending_of(Op::Kind::kViolation).size() == 2);
  CHECK(core.pending_of(Op::Kind::kEvent).size() == 1);
  CHECK(core.pending_of(Op::Kind::kAttendance).empty());
  CHECK(core.pending("e:9"));
  CHECK_FALSE(core.pending("e:10"));
}
