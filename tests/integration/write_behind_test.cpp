// The write-behind queue with its Asio driver, journal and sinks: a fake in-test Sink whose
// failures the tests control, and the in-memory stores through make_store_sink(). Every wait is
// bounded (flush/close timeouts or polling with a deadline); journals live in a fresh mkdtemp
// directory per test, removed afterwards.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "db/stores.hpp"
#include "examstore/write_behind.hpp"
#include "write_behind/journal.hpp"
#include "write_behind/op.hpp"
#include "write_behind/queue.hpp"

using examstore::Durability;
using examstore::Error;
using examstore::ErrorCode;
using examstore::Event;
using examstore::FullPolicy;
using examstore::Presence;
using examstore::Violation;
using examstore::WriteBehindOptions;
using examstore::db::AttendanceUpdate;
using examstore::wb::Journal;
using examstore::wb::Op;
using examstore::wb::Sink;
using examstore::wb::WriteBehindQueue;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// A fresh directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "examstore-wb-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string journal() const { return path_ + "/journal"; }

 private:
  std::string path_;
};

std::vector<fs::path> segments(const std::string& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("wal-", 0) == 0) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Polls `done` until it holds or `limit` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

Op violation(std::int64_t id, std::int64_t exam = 1, std::int64_t student = 1) {
  Violation v;
  v.id = id;
  v.exam_id = exam;
  v.student_id = student;
  v.kind = examstore::ViolationKind::kTabSwitch;
  v.severity = 2;
  v.reason = "left the tab " + std::to_string(id);
  v.occurred_at = examstore::TimePoint(std::chrono::microseconds(1700000000000000 + id));
  return Op{v};
}

Op attendance(std::int64_t exam, std::int64_t student, std::int64_t version, Presence status) {
  AttendanceUpdate a;
  a.exam_id = exam;
  a.student_id = student;
  a.version = version;
  a.status = status;
  return Op{a};
}

// A Sink the test controls; records every call. write() and dead_letter() run on the queue's
// thread, the accessors on the test's.
class FakeSink final : public Sink {
 public:
  void write(const std::vector<Op>& batch) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    gate_cv_.wait(lock, [&] { return open_; });
    if (transient_failures_ > 0) {
      --transient_failures_;
      throw Error(ErrorCode::kUnavailable, "fake write", "database down");
    }
    if (always_fail_) throw Error(ErrorCode::kUnavailable, "fake write", "database down for good");
    for (const Op& op : batch) {
      if (poison_.count(op.key()) != 0) {
        throw Error(ErrorCode::kConflict, "fake write", "poison " + op.key());
      }
    }
    for (const Op& op : batch) {
      ++committed_[op.key()];
      last_[op.key()] = op;
    }
    batches_.push_back(batch.size());
  }
  void dead_letter(const Op& op, const Error& why) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (refuse_dead_letters_)
      throw Error(ErrorCode::kInvalidArgument, "fake dead letter", "refused");
    dead_.emplace_back(op.key(), why.what());
  }
  void refuse_dead_letters(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_dead_letters_ = on;
  }

  void fail_transiently(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    transient_failures_ = n;
  }
  void fail_always(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    always_fail_ = on;
  }
  void poison(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    poison_.insert(key);
  }
  /// Closed: write() blocks until opened again.
  void set_open(bool open) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = open;
    gate_cv_.notify_all();
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::map<std::string, int> committed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return committed_;
  }
  std::optional<Op> last(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = last_.find(key);
    if (it == last_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::pair<std::string, std::string>> dead() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dead_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable gate_cv_;
  bool open_ = true;
  int calls_ = 0;
  int transient_failures_ = 0;
  bool always_fail_ = false;
  bool refuse_dead_letters_ = false;
  std::set<std::string> poison_;
  std::map<std::string, int> committed_;
  std::map<std::string, Op> last_;
  std::vector<std::size_t> batches_;
  std::vector<std::pair<std::string, std::string>> dead_;
};

WriteBehindOptions fast_options() {
  WriteBehindOptions o;
  o.max_batch = 64;
  o.max_delay = 2ms;
  o.retry_initial = 1ms;
  o.retry_max = 8ms;
  o.drain_timeout = 5000ms;
  o.commit_timeout = 5000ms;
  return o;
}

bool committed_once(const std::map<std::string, int>& committed, std::int64_t from,
                    std::int64_t to) {
  for (std::int64_t id = from; id <= to; ++id) {
    auto it = committed.find("v:" + std::to_string(id));
    if (it == committed.end() || it->second != 1) return false;
  }
  return true;
}

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no examstore::Error thrown");
  return ErrorCode::kInternal;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Op encoding

TEST_CASE("Op keys, kind names and durability names", "[write_behind]") {
  CHECK(violation(5).key() == "v:5");
  CHECK(violation(5).kind_name() == "violation");
  Event e;
  e.id = 6;
  CHECK(Op{e}.key() == "e:6");
  CHECK(Op{e}.kind_name() == "event");
  CHECK(attendance(3, 4, 1, Presence::kOnline).key() == "a:3:4");
  CHECK(attendance(3, 4, 1, Presence::kOnline).kind_name() == "attendance");
  for (auto d : {Durability::kCached, Durability::kJournaled, Durability::kCommitted}) {
    CHECK(examstore::parse_durability(examstore::to_string(d)) == d);
  }
  CHECK(examstore::to_string(Durability::kJournaled) == "journaled");
  CHECK_FALSE(examstore::parse_durability("Journaled"));
}

TEST_CASE("merge keeps the first login and the newest of everything else", "[write_behind]") {
  const auto t = examstore::TimePoint(1700000000s);
  AttendanceUpdate older;
  older.version = 1;
  older.status = Presence::kOnline;
  older.login_at = t;
  older.last_ip = "10.0.0.1";
  older.last_heartbeat_at = t;
  AttendanceUpdate newer;
  newer.version = 2;
  newer.status = Presence::kOffline;
  newer.login_at = t + 5s;
  newer.logout_at = t + 60s;
  const AttendanceUpdate m = examstore::wb::merge(older, newer);
  CHECK(m.version == 2);
  CHECK(m.status == Presence::kOffline);
  CHECK(m.login_at == t);
  CHECK(m.logout_at == t + 60s);
  CHECK(m.last_ip == "10.0.0.1");
  CHECK(m.last_heartbeat_at == t);
  AttendanceUpdate no_login = older;
  no_login.login_at.reset();
  CHECK(examstore::wb::merge(no_login, newer).login_at == t + 5s);
}

TEST_CASE("encode/decode round-trips every kind of op exactly", "[write_behind]") {
  using examstore::wb::decode;
  using examstore::wb::encode;
  const auto t = examstore::TimePoint(std::chrono::microseconds(1700000000123456));

  Violation v;
  v.id = 9007199254740993;  // beyond a double's exact range
  v.exam_id = 2;
  v.student_id = 3;
  v.kind = examstore::ViolationKind::kScreenShare;
  v.severity = 5;
  v.reason = "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') + " 中文";
  v.screenshot_path = std::string("\xff\xfe not utf-8", 13);
  v.occurred_at = t;
  v.state = examstore::ReviewState::kConfirmed;
  v.reviewed_by = "proctor";
  v.reviewed_at = t + 1s;
  v.review_note = "";
  const Op vo = decode(encode(Op{v}));
  const auto& v2 = std::get<Violation>(vo.data);
  CHECK(v2.id == v.id);
  CHECK(v2.exam_id == 2);
  CHECK(v2.student_id == 3);
  CHECK(v2.kind == v.kind);
  CHECK(v2.severity == 5);
  CHECK(v2.reason == v.reason);
  CHECK(v2.screenshot_path == v.screenshot_path);
  CHECK(v2.occurred_at == t);
  CHECK(v2.state == v.state);
  CHECK(v2.reviewed_by == "proctor");
  CHECK(v2.reviewed_at == t + 1s);
  CHECK(v2.review_note.empty());

  Event e;
  e.id = 4;
  e.exam_id = 5;
  e.student_id = 6;
  e.kind = "paste";
  e.payload = R"({"a": [1, 2.50, "x"]})";                               // verbatim, spaces and all
  e.occurred_at = examstore::TimePoint(std::chrono::microseconds(-5));  // before the epoch
  const auto e2 = std::get<Event>(decode(encode(Op{e})).data);
  CHECK(e2.id == 4);
  CHECK(e2.kind == "paste");
  CHECK(e2.payload == e.payload);
  CHECK(e2.occurred_at == e.occurred_at);

  AttendanceUpdate a;
  a.exam_id = 7;
  a.student_id = 8;
  a.version = 42;
  a.status = Presence::kSubmitted;
  a.logout_at = t;
  a.last_ip = "2001:db8::1";
  const auto a2 = std::get<AttendanceUpdate>(decode(encode(Op{a})).data);
  CHECK(a2.exam_id == 7);
  CHECK(a2.student_id == 8);
  CHECK(a2.version == 42);
  CHECK(a2.status == Presence::kSubmitted);
  CHECK_FALSE(a2.login_at);
  CHECK(a2.logout_at == t);
  CHECK(a2.last_ip == "2001:db8::1");
  CHECK_FALSE(a2.last_heartbeat_at);
  CHECK(encode(decode(encode(Op{a}))) == encode(Op{a}));
}

TEST_CASE("decode rejects what is not an encoded op with kDataIntegrity", "[write_behind]") {
  using examstore::wb::decode;
  for (const char* bad :
       {"", "not json", "[]", "{}", R"({"kind":"parcel"})", R"({"kind":"event","id":1})",
        R"({"kind":"attendance","exam_id":1,"student_id":2,"version":"3","status":"online",)"
        R"("login_at":null,"logout_at":null,"last_ip":"","last_heartbeat_at":null})",
        R"({"kind":"attendance","exam_id":1,"student_id":2,"version":3,"status":"asleep",)"
        R"("login_at":null,"logout_at":null,"last_ip":"","last_heartbeat_at":null})"}) {
    INFO(bad);
    CHECK(code_of([&] { decode(bad); }) == ErrorCode::kDataIntegrity);
  }
  try {
    decode(R"({"kind":"event","id":1})");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("exam_id") != std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------
// The queue with a fake sink

TEST_CASE("WriteBehindQueue acknowledges at each durability", "[write_behind]") {
  TempDir tmp;
  FakeSink sink;
  WriteBehindOptions o = fast_options();
  o.max_delay = 1h;  // only flush, fullness or kCommitted's own flush-free path write
  o.journal_dir = tmp.journal();

  WriteBehindQueue q(o, sink);
  SECTION("cached: queued in memory, visible through pending()") {
    q.enqueue({violation(1)}, Durability::kCached);
    CHECK(q.pending("v:1"));
    CHECK(q.metrics().journal_appends == 0);
    CHECK(sink.committed().empty());
    q.flush(5s);
    CHECK(sink.committed().at("v:1") == 1);
    CHECK_FALSE(q.pending("v:1"));
  }
  SECTION("journaled: one group commit per call") {
    q.enqueue({violation(1), violation(2), violation(3)}, Durability::kJournaled);
    CHECK(q.metrics().journal_appends == 1);
    CHECK(q.pending_of(Op::Kind::kViolation).size() == 3);
    CHECK(segments(tmp.journal()).size() == 1);
    q.flush(5s);
    CHECK(committed_once(sink.committed(), 1, 3));
  }
  SECTION("committed: returns after the sink committed it") {
    WriteBehindOptions c = fast_options();
    c.max_delay = 1ms;
    FakeSink sink2;
    WriteBehindQueue q2(c, sink2);
    q2.enqueue({violation(7), violation(8)}, Durability::kCommitted);
    CHECK(committed_once(sink2.committed(), 7, 8));
    CHECK(q2.metrics().committed == 2);
  }
  SECTION("journaled without a journal is an invalid argument") {
    FakeSink sink2;
    WriteBehindQueue q2(fast_options(), sink2);
    CHECK(code_of([&] { q2.enqueue({violation(1)}, Durability::kJournaled); }) ==
          ErrorCode::kInvalidArgument);
    q2.enqueue({violation(1)}, Durability::kCached);
  }
  SECTION("committed times out with outcome_unknown while the sink is stuck") {
    WriteBehindOptions c = fast_options();
    c.commit_timeout = 30ms;
    FakeSink sink2;
    sink2.set_open(false);
    WriteBehindQueue q2(c, sink2);
    try {
      q2.enqueue({violation(1)}, Durability::kCommitted);
      FAIL("no timeout");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kTimeout);
      CHECK(e.outcome_unknown());
    }
    sink2.set_open(true);
    q2.flush(5s);  // still committed later
    CHECK(sink2.committed().at("v:1") == 1);
  }
}

TEST_CASE("WriteBehindQueue retries transient failures and loses nothing", "[write_behind]") {
  FakeSink sink;
  sink.fail_transiently(5);
  WriteBehindQueue q(fast_options(), sink);
  for (int i = 1; i <= 200; ++i) q.enqueue({violation(i)}, Durability::kCached);
  q.flush(10s);
  CHECK(committed_once(sink.committed(), 1, 200));
  const auto m = q.metrics();
  CHECK(m.retried == 5);
  CHECK(m.committed == 200);
  CHECK(m.enqueued == 200);
  CHECK(m.depth == 0);
  CHECK(m.dead_lettered == 0);
  CHECK(m.batches >= 4);
  CHECK(m.max_batch_size <= 64);
  CHECK(m.mean_batch_size > 0);
}

TEST_CASE("WriteBehindQueue dead-letters a poison op while the rest commits", "[write_behind]") {
  FakeSink sink;
  sink.poison("v:13");
  WriteBehindOptions o = fast_options();
  o.max_delay = 1h;
  WriteBehindQueue q(o, sink);
  std::vector<Op> ops;
  for (int i = 1; i <= 40; ++i) ops.push_back(violation(i));
  q.enqueue(std::move(ops), Durability::kCached);
  q.flush(5s);
  const auto dead = sink.dead();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].first == "v:13");
  CHECK(dead[0].second.find("poison v:13") != std::string::npos);
  const auto committed = sink.committed();
  CHECK(committed.size() == 39);
  CHECK(committed.count("v:13") == 0);
  CHECK(q.metrics().dead_lettered == 1);
  CHECK(q.metrics().committed == 39);

  SECTION("a kCommitted caller learns its op was rejected") {
    FakeSink sink2;
    sink2.poison("v:99");
    WriteBehindQueue q2(fast_options(), sink2);
    try {
      q2.enqueue({violation(98), violation(99)}, Durability::kCommitted);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kConflict);
      CHECK(std::string(e.what()).find("v:99") != std::string::npos);
    }
    CHECK(sink2.committed().count("v:98") == 1);
  }
}

TEST_CASE("WriteBehindQueue: an op the dead-letter store refuses becomes the sticky error",
          "[write_behind]") {
  FakeSink sink;
  sink.poison("v:3");
  sink.refuse_dead_letters(true);
  WriteBehindQueue q(fast_options(), sink);
  q.enqueue({violation(1), violation(2), violation(3), violation(4)}, Durability::kCached);
  REQUIRE(eventually([&] { return q.metrics().depth == 0; }));
  try {
    q.enqueue({violation(5)}, Durability::kCached);
    FAIL("no sticky error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kDataIntegrity);
    CHECK(std::string(e.what()).find("v:3") != std::string::npos);
    CHECK(std::string(e.what()).find("refused") != std::string::npos);
  }
  CHECK_THROWS_AS(q.flush(1s), Error);
  CHECK(sink.committed().size() == 3);
}

TEST_CASE("WriteBehindQueue coalesces attendance and keeps the newest", "[write_behind]") {
  FakeSink sink;
  WriteBehindOptions o = fast_options();
  o.max_delay = 1h;
  WriteBehindQueue q(o, sink);
  for (int v = 1; v <= 10; ++v) {
    q.enqueue({attendance(1, 2, v, v % 2 ? Presence::kOnline : Presence::kMissing)},
              Durability::kCached);
  }
  CHECK(q.metrics().coalesced == 9);
  CHECK(q.metrics().depth == 1);
  REQUIRE(q.pending("a:1:2"));
  CHECK(std::get<AttendanceUpdate>(q.pending("a:1:2")->data).version == 10);
  q.flush(5s);
  CHECK(sink.committed().at("a:1:2") == 1);
  CHECK(std::get<AttendanceUpdate>(sink.last("a:1:2")->data).version == 10);
}

TEST_CASE("WriteBehindQueue when full: kReject at once, kBlock until block_timeout",
          "[write_behind]") {
  FakeSink sink;
  sink.set_open(false);  // the first batch hangs in the sink: nothing frees room
  WriteBehindOptions o = fast_options();
  o.capacity = 4;
  o.max_batch = 2;
  o.max_delay = 0ms;

  SECTION("kReject") {
    o.when_full = FullPolicy::kReject;
    WriteBehindQueue q(o, sink);
    for (int i = 1; i <= 4; ++i) q.enqueue({violation(i)}, Durability::kCached);
    CHECK(code_of([&] { q.enqueue({violation(5)}, Durability::kCached); }) ==
          ErrorCode::kResourceExhausted);
    CHECK(code_of([&] {
            q.enqueue({violation(5), violation(6), violation(7), violation(8), violation(9)},
                      Durability::kCached);
          }) == ErrorCode::kResourceExhausted);
    sink.set_open(true);
    q.flush(5s);
    q.enqueue({violation(5)}, Durability::kCached);
    q.flush(5s);
    CHECK(committed_once(sink.committed(), 1, 5));
  }
  SECTION("kBlock times out") {
    o.when_full = FullPolicy::kBlock;
    o.block_timeout = 50ms;
    WriteBehindQueue q(o, sink);
    for (int i = 1; i <= 4; ++i) q.enqueue({violation(i)}, Durability::kCached);
    const auto start = Clock::now();
    CHECK(code_of([&] { q.enqueue({violation(5)}, Durability::kCached); }) ==
          ErrorCode::kResourceExhausted);
    const auto waited = Clock::now() - start;
    CHECK(waited >= 50ms);
    CHECK(waited < 5s);
    sink.set_open(true);
    q.flush(5s);
  }
  SECTION("kBlock proceeds once room appears") {
    o.when_full = FullPolicy::kBlock;
    o.block_timeout = 10s;
    WriteBehindQueue q(o, sink);
    for (int i = 1; i <= 4; ++i) q.enqueue({violation(i)}, Durability::kCached);
    std::atomic<bool> returned{false};
    std::thread t([&] {
      q.enqueue({violation(5)}, Durability::kCached);
      returned = true;
    });
    CHECK_FALSE(eventually([&] { return returned.load(); }, 30ms));
    sink.set_open(true);
    t.join();
    CHECK(returned);
    q.flush(5s);
    CHECK(committed_once(sink.committed(), 1, 5));
  }
}

TEST_CASE("WriteBehindQueue flush waits for earlier ops and times out", "[write_behind]") {
  FakeSink sink;
  WriteBehindOptions o = fast_options();
  o.max_delay = 1h;
  WriteBehindQueue q(o, sink);
  q.flush(1s);  // nothing to do
  sink.set_open(false);
  q.enqueue({violation(1), violation(2)}, Durability::kCached);
  try {
    q.flush(30ms);
    FAIL("no timeout");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kTimeout);
  }
  sink.set_open(true);
  q.flush(5s);
  CHECK(committed_once(sink.committed(), 1, 2));
}

TEST_CASE("WriteBehindQueue close drains, is idempotent, and stops accepting", "[write_behind]") {
  FakeSink sink;
  WriteBehindOptions o = fast_options();
  o.max_delay = 1h;
  SECTION("close") {
    WriteBehindQueue q(o, sink);
    for (int i = 1; i <= 100; ++i) q.enqueue({violation(i)}, Durability::kCached);
    CHECK(q.close(5s) == 0);
    CHECK(committed_once(sink.committed(), 1, 100));
    CHECK(q.close(5s) == 0);
    CHECK(code_of([&] { q.enqueue({violation(101)}, Durability::kCached); }) ==
          ErrorCode::kUnavailable);
    CHECK(q.metrics().committed == 100);
  }
  SECTION("the destructor drains") {
    {
      WriteBehindQueue q(o, sink);
      for (int i = 1; i <= 100; ++i) q.enqueue({violation(i)}, Durability::kCached);
    }
    CHECK(committed_once(sink.committed(), 1, 100));
  }
  SECTION("close reports what it could not write") {
    sink.fail_always(true);
    WriteBehindQueue q(o, sink);
    for (int i = 1; i <= 10; ++i) q.enqueue({violation(i)}, Durability::kCached);
    CHECK(q.close(30ms) == 10);
    CHECK(q.metrics().depth == 10);
    CHECK(q.metrics().retried >= 1);
  }
}

TEST_CASE("WriteBehindQueue rejects options it cannot work with", "[write_behind]") {
  FakeSink sink;
  WriteBehindOptions o;
  o.max_batch = 0;
  CHECK(code_of([&] { WriteBehindQueue q(o, sink); }) == ErrorCode::kInvalidArgument);
  o = WriteBehindOptions();
  o.retry_max = 1ms;
  CHECK(code_of([&] { WriteBehindQueue q(o, sink); }) == ErrorCode::kInvalidArgument);
}

TEST_CASE("WriteBehindQueue: 8 threads enqueue concurrently, each op committed once",
          "[write_behind][concurrency]") {
  TempDir tmp;
  FakeSink sink;
  sink.fail_transiently(3);
  WriteBehindOptions o = fast_options();
  o.journal_dir = tmp.journal();
  o.capacity = 256;  // small: the kBlock path is exercised too
  WriteBehindQueue q(o, sink);

  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::atomic<bool> stop_readers{false};
  std::thread reader([&] {
    while (!stop_readers) {
      (void)q.metrics();
      (void)q.pending("v:1");
      (void)q.pending_of(Op::Kind::kAttendance);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::int64_t id = t * kPerThread + i + 1;
        const auto d = static_cast<Durability>(i % 3);
        q.enqueue({violation(id), attendance(1, 100 + t, i + 1, Presence::kOnline)}, d);
      }
    });
  }
  for (auto& th : threads) th.join();
  q.flush(20s);
  stop_readers = true;
  reader.join();

  const auto committed = sink.committed();
  CHECK(committed_once(committed, 1, kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    const std::string key = "a:1:" + std::to_string(100 + t);
    REQUIRE(sink.last(key));
    CHECK(std::get<AttendanceUpdate>(sink.last(key)->data).version == kPerThread);
  }
  const auto m = q.metrics();
  CHECK(m.enqueued == 2 * kThreads * kPerThread);
  CHECK(m.enqueued == m.committed + m.coalesced + m.dead_lettered + m.depth);
  CHECK(m.depth == 0);
  CHECK(m.retried == 3);
  CHECK(m.journal_appends >= 1);
  CHECK(q.close(5s) == 0);
  CHECK(segments(tmp.journal()).empty());  // everything committed: nothing left to replay
}

// ---------------------------------------------------------------------------------------------
// The journal

TEST_CASE("crc32 is the IEEE CRC-32", "[write_behind]") {
  CHECK(examstore::wb::crc32("") == 0u);
  CHECK(examstore::wb::crc32("123456789") == 0xCBF43926u);
}

TEST_CASE("Journal keeps uncommitted records and deletes committed segments", "[write_behind]") {
  TempDir tmp;
  Journal::Options jo;
  jo.dir = tmp.journal();
  jo.segment_bytes = 200;  // a few records per segment
  std::vector<Journal::Record> replay;
  std::vector<std::uint64_t> seqs;
  {
    auto j = Journal::open(jo, &replay);
    CHECK(replay.empty());
    for (int i = 0; i < 20; ++i) {
      seqs.push_back(j->append({"record " + std::to_string(i) + std::string(40, 'x')}));
    }
    CHECK(seqs.front() == 1);
    CHECK(seqs.back() == 20);
    CHECK(j->uncommitted() == 20);
    const std::size_t before = j->segments();
    CHECK(before >= 5);
    // Commit all but records 3 and 17 (seqs 4 and 18).
    std::vector<std::uint64_t> done;
    for (auto s : seqs) {
      if (s != 4 && s != 18) done.push_back(s);
    }
    j->mark_committed(done);
    CHECK(j->uncommitted() == 2);
    CHECK(j->segments() <= 3);  // the two holding 4 and 18, and the active one
  }
  {
    auto j = Journal::open(jo, &replay);
    std::set<std::uint64_t> got;
    for (const auto& r : replay) got.insert(r.seq);
    CHECK(got.count(4) == 1);
    CHECK(got.count(18) == 1);
    for (const auto& r : replay) {
      if (r.seq == 4) CHECK(r.data.rfind("record 3", 0) == 0);
    }
    // Later appends continue after the last surviving record.
    CHECK(j->append({"next"}) > 18);
    std::vector<std::uint64_t> all;
    for (const auto& r : replay) all.push_back(r.seq);
    j->mark_committed(all);
  }
  {
    auto j = Journal::open(jo, &replay);
    REQUIRE(replay.size() == 1);  // only "next", never marked committed
    CHECK(replay[0].data == "next");
    j->mark_committed({replay[0].seq});
  }
  CHECK(segments(tmp.journal()).empty());
}

TEST_CASE("Journal group commit under concurrent appends", "[write_behind][concurrency]") {
  TempDir tmp;
  Journal::Options jo;
  jo.dir = tmp.journal();
  jo.segment_bytes = 64 << 10;
  std::vector<Journal::Record> replay;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::vector<std::vector<std::uint64_t>> got(kThreads);
  std::int64_t writes = 0;
  {
    auto j = Journal::open(jo, &replay);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::uint64_t s = j->append({std::to_string(t) + ":" + std::to_string(i),
                                             std::to_string(t) + ":" + std::to_string(i) + "b"});
          got[static_cast<std::size_t>(t)].push_back(s);
        }
      });
    }
    for (auto& th : threads) th.join();
    writes = j->group_writes();
    CHECK(writes >= 1);
    CHECK(writes <= kThreads * kPerThread);
  }
  auto j = Journal::open(jo, &replay);
  REQUIRE(replay.size() == 2 * kThreads * kPerThread);
  std::map<std::uint64_t, std::string> by_seq;
  for (const auto& r : replay) by_seq.emplace(r.seq, r.data);
  CHECK(by_seq.size() == replay.size());
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::uint64_t s = got[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)];
      const std::string want = std::to_string(t) + ":" + std::to_string(i);
      CHECK(by_seq[s] == want);
      CHECK(by_seq[s + 1] == want + "b");  // one call's records are consecutive
    }
  }
}

TEST_CASE("WriteBehindQueue replays journaled ops a previous queue could not write",
          "[write_behind]") {
  TempDir tmp;
  WriteBehindOptions o = fast_options();
  o.journal_dir = tmp.journal();
  {
    FakeSink down;
    down.fail_always(true);
    WriteBehindQueue q(o, down);
    for (int i = 1; i <= 100; i += 4) {
      q.enqueue({violation(i), violation(i + 1), violation(i + 2), violation(i + 3)},
                Durability::kJournaled);
    }
    q.enqueue({attendance(1, 1, 1, Presence::kOnline)}, Durability::kJournaled);
    q.enqueue({attendance(1, 1, 2, Presence::kOffline)}, Durability::kJournaled);
    CHECK(q.close(20ms) == 101);
  }
  CHECK_FALSE(segments(tmp.journal()).empty());
  FakeSink up;
  {
    WriteBehindQueue q(o, up);
    CHECK(q.metrics().replayed == 102);
    CHECK(q.metrics().enqueued == 0);
    q.flush(5s);
    CHECK(committed_once(up.committed(), 1, 100));
    CHECK(up.committed().at("a:1:1") == 1);
    CHECK(std::get<AttendanceUpdate>(up.last("a:1:1")->data).version == 2);
    CHECK(q.close(5s) == 0);
  }
  CHECK(segments(tmp.journal()).empty());
  FakeSink again;
  WriteBehindQueue q(o, again);
  CHECK(q.metrics().replayed == 0);
}

TEST_CASE("WriteBehindQueue ignores a torn tail record of the journal", "[write_behind]") {
  TempDir tmp;
  WriteBehindOptions o = fast_options();
  o.journal_dir = tmp.journal();
  {
    FakeSink down;
    down.fail_always(true);
    WriteBehindQueue q(o, down);
    for (int i = 1; i <= 10; ++i) q.enqueue({violation(i)}, Durability::kJournaled);
    CHECK(q.close(10ms) == 10);
  }
  const auto segs = segments(tmp.journal());
  REQUIRE(segs.size() == 1);
  const auto good_size = fs::file_size(segs[0]);

  SECTION("a short record") {
    std::ofstream(segs[0], std::ios::binary | std::ios::app) << std::string("\x30\x00\x00", 3);
    FakeSink up;
    up.set_open(false);  // keeps the segment (nothing commits) while its size is checked
    WriteBehindQueue q(o, up);
    CHECK(q.metrics().replayed == 10);
    CHECK(fs::file_size(segs[0]) == good_size);  // truncated back
    up.set_open(true);
    q.flush(5s);
    CHECK(committed_once(up.committed(), 1, 10));
  }
  SECTION("a whole record with a bad CRC, then a short one") {
    std::string junk("\x0c\x00\x00\x00\xde\xad\xbe\xef", 8);
    junk += std::string(12, 'x');
    junk += "\x05";
    std::ofstream(segs[0], std::ios::binary | std::ios::app) << junk;
    FakeSink up;
    WriteBehindQueue q(o, up);
    CHECK(q.metrics().replayed == 10);
    q.flush(5s);
    CHECK(committed_once(up.committed(), 1, 10));
  }
  SECTION("the last record torn in its payload") {
    {
      std::fstream f(segs[0], std::ios::binary | std::ios::in | std::ios::out);
      f.seekp(static_cast<std::streamoff>(good_size) - 3);
      f.put('#');
    }
    FakeSink up;
    WriteBehindQueue q(o, up);
    CHECK(q.metrics().replayed == 9);  // the rest is kept
    q.flush(5s);
    CHECK(committed_once(up.committed(), 1, 9));
    CHECK(up.committed().count("v:10") == 0);
  }
}

TEST_CASE("WriteBehindQueue refuses a journal record it cannot decode", "[write_behind]") {
  TempDir tmp;
  {
    std::vector<Journal::Record> replay;
    Journal::Options jo;
    jo.dir = tmp.journal();
    auto j = Journal::open(jo, &replay);
    j->append({examstore::wb::encode(violation(1)), "{\"kind\":\"parcel\"}"});
  }
  FakeSink sink;
  WriteBehindOptions o = fast_options();
  o.journal_dir = tmp.journal();
  try {
    WriteBehindQueue q(o, sink);
    FAIL("opened");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kDataIntegrity);
    CHECK(std::string(e.what()).find("record 2") != std::string::npos);
  }
  CHECK(segments(tmp.journal()).size() == 1);  // left for an operator, not deleted
}

TEST_CASE("A second queue on a locked journal directory gets kResourceExhausted",
          "[write_behind]") {
  TempDir tmp;
  FakeSink sink;
  WriteBehindOptions o = fast_options();
  o.journal_dir = tmp.journal();
  WriteBehindQueue first(o, sink);
  try {
    WriteBehindQueue second(o, sink);
    FAIL("the second queue opened");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kResourceExhausted);
    CHECK(std::string(e.what()).find(tmp.journal()) != std::string::npos);
  }
  first.close(1s);
  WriteBehindQueue third(o, sink);  // close() released the directory
}

TEST_CASE("WriteBehindQueue cannot open a journal where no directory can be made",
          "[write_behind]") {
  TempDir tmp;
  const std::string file = tmp.path() + "/plain-file";
  std::ofstream(file) << "x";
  FakeSink sink;
  WriteBehindOptions o = fast_options();
  o.journal_dir = file + "/journal";
  CHECK(code_of([&] { WriteBehindQueue q(o, sink); }) == ErrorCode::kUnavailable);
}

TEST_CASE("A journal write failure is sticky, what was acknowledged survives", "[write_behind]") {
  TempDir tmp;
  WriteBehindOptions o = fast_options();
  o.journal_dir = tmp.journal();
  std::int64_t acked = 0;
  {
    FakeSink down;
    down.fail_always(true);  // nothing commits: the journal keeps every record
    WriteBehindQueue q(o, down);
    // The disk "fills up": writes past 4 KiB fail with EFBIG (SIGXFSZ ignored meanwhile).
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    rlimit small = saved;
    small.rlim_cur = 4096;
    const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::optional<Error> failure;
    for (std::int64_t i = 1; i <= 1000 && !failure; ++i) {
      try {
        q.enqueue({violation(i)}, Durability::kJournaled);
        acked = i;
      } catch (const Error& e) {
        failure = e;
      }
    }
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
    ::signal(SIGXFSZ, old_handler);

    REQUIRE(failure);
    CHECK(failure->code() == ErrorCode::kUnavailable);
    CHECK(acked >= 5);
    // Sticky: every later call reports the same error, whatever its durability.
    auto same = [&](const std::function<void()>& f) {
      try {
        f();
      } catch (const Error& e) {
        return std::string(e.what()) == failure->what();
      }
      return false;
    };
    CHECK(same([&] { q.enqueue({violation(5000)}, Durability::kCached); }));
    CHECK(same([&] { q.enqueue({violation(5001)}, Durability::kJournaled); }));
    CHECK(same([&] { q.flush(1s); }));
    CHECK(same([&] { q.close(10ms); }));
    CHECK(same([&] { q.close(10ms); }));
  }
  FakeSink up;
  WriteBehindQueue q(o, up);
  CHECK(q.metrics().replayed >= acked);
  q.flush(5s);
  CHECK(committed_once(up.committed(), 1, acked));
  CHECK(up.committed().count("v:5000") == 0);
}

namespace {

// A sink that never returns: the batch in flight stays in flight until the process dies.
class StuckSink final : public Sink {
 public:
  void write(const std::vector<Op>&) override {
    for (;;) std::this_thread::sleep_for(1h);
  }
  void dead_letter(const Op&, const Error&) override {
    for (;;) std::this_thread::sleep_for(1h);
  }
};

// The child: enqueues journaled ops forever, writing each acknowledged id to `fd`.
[[noreturn]] void crash_child(const std::string& dir, int fd) {
  StuckSink sink;
  WriteBehindOptions o;
  o.journal_dir = dir;
  o.capacity = 1 << 22;
  o.max_delay = 1ms;
  o.max_batch = 16;
  try {
    WriteBehindQueue q(o, sink);
    for (std::int64_t id = 1;; ++id) {
      q.enqueue({violation(id)}, Durability::kJournaled);
      if (::write(fd, &id, sizeof id) != static_cast<ssize_t>(sizeof id)) ::_exit(3);
    }
  } catch (...) {
    ::_exit(2);
  }
}

bool read_id(int fd, std::int64_t* id) {
  std::size_t got = 0;
  auto* p = reinterpret_cast<char*>(id);
  while (got < sizeof *id) {
    const ssize_t n = ::read(fd, p + got, sizeof *id - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

TEST_CASE("Every acknowledged journaled op survives a SIGKILL of the process", "[write_behind]") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    TempDir tmp;
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      crash_child(tmp.journal(), fds[1]);
    }
    ::close(fds[1]);
    std::mt19937_64 rng(seed);
    const auto kill_after = std::uniform_int_distribution<int>(1, 4000)(rng);
    std::vector<std::int64_t> acked;
    std::int64_t id = 0;
    while (static_cast<int>(acked.size()) < kill_after && read_id(fds[0], &id)) acked.push_back(id);
    ::kill(pid, SIGKILL);
    while (read_id(fds[0], &id)) acked.push_back(id);  // acknowledged before it died
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));  // it did not fail on its own
    INFO("seed " << seed << ": killed after " << acked.size() << " acknowledged ops");
    REQUIRE(static_cast<int>(acked.size()) >= kill_after);

    FakeSink sink;
    WriteBehindOptions o = fast_options();
    o.journal_dir = tmp.journal();
    WriteBehindQueue q(o, sink);
    CHECK(q.metrics().replayed >= static_cast<std::int64_t>(acked.size()));
    q.flush(30s);
    const auto committed = sink.committed();
    CHECK(committed_once(committed, 1, static_cast<std::int64_t>(acked.size())));
    for (const auto& [key, n] : committed) {
      INFO(key);
      CHECK(n == 1);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The store sink

namespace {

struct Fixture {
  examstore::db::Stores stores = examstore::db::make_memory_stores();
  examstore::ExamId exam = 0;
  std::vector<examstore::StudentId> students;

  Fixture() {
    examstore::NewExam e;
    e.name = "algebra";
    e.starts_at = examstore::TimePoint(1700000000s);
    e.ends_at = e.starts_at + 2h;
    exam = stores.exams->create(e).id;
    for (int i = 0; i < 3; ++i) {
      examstore::NewStudent s;
      s.external_no = "S" + std::to_string(i);
      s.name = "student " + std::to_string(i);
      const auto id = stores.students->create(s).id;
      stores.students->enroll(exam, id);
      students.push_back(id);
    }
  }
};

class RecordingDeadLetters final : public examstore::db::DeadLetterStore {
 public:
  void add(const std::string& queue, const std::string& payload, const std::string& error,
           const std::string& sqlstate) override {
    examstore::db::DeadLetter d;
    d.queue = queue;
    d.payload = payload;
    d.error = error;
    d.sqlstate = sqlstate;
    added.push_back(d);
  }
  std::vector<examstore::db::DeadLetter> list(std::optional<std::string>, int) override {
    return added;
  }
  std::optional<examstore::db::DeadLetter> take(std::int64_t) override { return std::nullopt; }
  bool drop(std::int64_t) override { return false; }
  std::vector<examstore::db::DeadLetter> added;
};

}  // namespace

TEST_CASE("make_store_sink writes every kind into the memory stores", "[write_behind]") {
  Fixture f;
  auto sink = examstore::wb::make_store_sink(f.stores);
  const auto vblock = f.stores.violations->reserve_ids(examstore::db::IdSequence::kViolation);
  const auto eblock = f.stores.violations->reserve_ids(examstore::db::IdSequence::kEvent);
  TempDir tmp;
  WriteBehindOptions o = fast_options();
  o.journal_dir = tmp.journal();
  WriteBehindQueue q(o, *sink);

  const auto s0 = f.students[0];
  const auto s1 = f.students[1];
  Event ev;
  ev.id = eblock.first;
  ev.exam_id = f.exam;
  ev.student_id = s1;
  ev.kind = "blur";
  ev.payload = R"({"ms": 1200})";
  ev.occurred_at = examstore::TimePoint(1700000100s);
  const auto login = examstore::TimePoint(1700000050s);
  Op online = attendance(f.exam, s0, 1, Presence::kOnline);
  std::get<AttendanceUpdate>(online.data).login_at = login;
  std::get<AttendanceUpdate>(online.data).last_ip = "10.1.1.1";

  q.enqueue({violation(vblock.first, f.exam, s0), online}, Durability::kCached);
  q.enqueue({Op{ev}, violation(vblock.first + 1, f.exam, s1)}, Durability::kJournaled);
  q.enqueue({attendance(f.exam, s0, 2, Presence::kMissing)}, Durability::kCommitted);
  q.flush(5s);

  CHECK(f.stores.violations->get(vblock.first));
  CHECK(f.stores.violations->get(vblock.first + 1));
  const auto events = f.stores.violations->events(f.exam, s1, 10);
  REQUIRE(events.size() == 1);
  CHECK(events[0].payload == ev.payload);
  const auto a = f.stores.students->attendance(f.exam, s0);
  REQUIRE(a);
  CHECK(a->version == 2);
  CHECK(a->status == Presence::kMissing);
  CHECK(a->login_at == login);
  CHECK(a->last_ip == "10.1.1.1");

  SECTION("a poison op goes to the dead letters, the rest commits") {
    Op bad = violation(vblock.first + 2, f.exam, s0);
    std::get<Violation>(bad.data).severity = 9;
    std::vector<Op> batch;
    for (int i = 3; i < 10; ++i) batch.push_back(violation(vblock.first + i, f.exam, s1));
    batch.insert(batch.begin() + 4, bad);
    q.enqueue(std::move(batch), Durability::kCached);
    q.enqueue({attendance(f.exam, 999999, 1, Presence::kOnline)},
              Durability::kCached);  // not enrolled
    q.flush(5s);
    for (int i = 3; i < 10; ++i) CHECK(f.stores.violations->get(vblock.first + i));
    CHECK_FALSE(f.stores.violations->get(vblock.first + 2));
    const auto dead = f.stores.dead_letters->list(std::string("violation"), 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].error.find("severity") != std::string::npos);
    const Op back = examstore::wb::decode(dead[0].payload);
    CHECK(std::get<Violation>(back.data).id == vblock.first + 2);
    CHECK(std::get<Violation>(back.data).severity == 9);
    CHECK(f.stores.dead_letters->list(std::string("attendance"), 10).size() == 1);
    CHECK(q.metrics().dead_lettered == 2);
  }
  SECTION("replays are harmless") {
    q.enqueue({violation(vblock.first, f.exam, s0), Op{ev}, online}, Durability::kCommitted);
    CHECK(f.stores.students->attendance(f.exam, s0)->version == 2);
    CHECK(f.stores.violations->events(f.exam, s1, 10).size() == 1);
    CHECK(f.stores.dead_letters->list(std::nullopt, 10).empty());
  }
}

TEST_CASE("The store sink keeps the SQLSTATE of a dead letter", "[write_behind]") {
  examstore::db::Stores stores;
  auto dl = std::make_unique<RecordingDeadLetters>();
  RecordingDeadLetters* rec = dl.get();
  stores.dead_letters = std::move(dl);
  auto sink = examstore::wb::make_store_sink(stores);

  const Error pg(ErrorCode::kConflict, "violation insert",
                 "ERROR: insert violates foreign key constraint [SQLSTATE 23503]",
                 "postgresql exams@127.0.0.1");
  sink->dead_letter(violation(1), pg);
  sink->dead_letter(violation(2), Error(ErrorCode::kInvalidArgument, "violation insert", "bad"));
  REQUIRE(rec->added.size() == 2);
  CHECK(rec->added[0].queue == "violation");
  CHECK(rec->added[0].sqlstate == "23503");
  CHECK(rec->added[0].error == pg.what());
  CHECK(std::get<Violation>(examstore::wb::decode(rec->added[0].payload).data).id == 1);
  CHECK(rec->added[1].sqlstate.empty());
}
