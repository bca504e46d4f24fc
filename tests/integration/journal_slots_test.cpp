// tests/integration/journal_slots_test.cpp: where a Store's write-behind journal lives when no
// journal_dir is configured (write_behind/journal_slots.hpp, docs/write-behind.md): the default
// root, the identity that keeps two databases' or key prefixes' journals apart, one slot per
// process, a crashed holder's slot replayed or taken over, empty slots removed. The queue tests
// use a recording sink; one test opens a real Store on PostgreSQL.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "examstore/store.hpp"
#include "support/test_env.hpp"
#include "write_behind/journal.hpp"
#include "write_behind/journal_slots.hpp"
#include "write_behind/op.hpp"
#include "write_behind/queue.hpp"

namespace {

using examstore::Config;
using examstore::Durability;
using examstore::ErrorCode;
using examstore::WriteBehindOptions;
using examstore::test::code_of;
using examstore::test::TempDir;
using examstore::wb::Journal;
using examstore::wb::JournalIdentity;
using examstore::wb::JournalPlacement;
using examstore::wb::Op;
using examstore::wb::WriteBehindQueue;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Remembers the keys it committed; write() waits while the gate is closed.
class RecordingSink final : public examstore::wb::Sink {
 public:
  explicit RecordingSink(bool open = true) : open_(open) {}
  void write(const std::vector<Op>& batch) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return open_; });
    for (const Op& op : batch) keys_.insert(op.key());
  }
  void dead_letter(const Op& op, const examstore::Error&) override {
    FAIL_CHECK("dead-lettered " << op.key());
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::set<std::string> keys() const {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_;
  std::set<std::string> keys_;
};

Op event(std::int64_t id) {
  examstore::Event e;
  e.id = id;
  e.exam_id = 1;
  e.student_id = 1;
  e.kind = "journal-slot-test";
  e.occurred_at = examstore::TimePoint(std::chrono::microseconds(1700000000000000 + id));
  return Op{e};
}

std::set<std::string> event_keys(std::int64_t from, std::int64_t to) {
  std::set<std::string> out;
  for (std::int64_t id = from; id <= to; ++id) out.insert(event(id).key());
  return out;
}

JournalIdentity identity(const std::string& db, const std::string& prefix = "es") {
  Config c;
  c.with_database_url("postgresql://app@db.example:5432/" + db);
  c.key_prefix = prefix;
  return examstore::wb::journal_identity(c);
}

WriteBehindOptions slot_options(const std::string& root) {
  WriteBehindOptions o;
  o.journal_root = root;
  o.max_delay = 1ms;
  o.drain_timeout = 5s;
  return o;
}

// A fresh root of journal slots and the slot folder of database "exams", key prefix "es".
struct Slots {
  TempDir tmp{"slots"};
  std::string root = tmp / "root";
  JournalPlacement exams{identity("exams"), true};
  std::string family = examstore::wb::slot_family(root, exams.identity);
};

// A process that was killed holding `dir`: its journal keeps events [from, to], uncommitted.
void leave_crashed_slot(const std::string& dir, const JournalIdentity& id, std::int64_t from,
                        std::int64_t to) {
  Journal::Options o;
  o.dir = dir;
  o.identity = id.text;
  o.remove_when_empty = true;
  auto journal = Journal::open(o, nullptr);
  std::vector<std::string> records;
  for (std::int64_t i = from; i <= to; ++i) records.push_back(examstore::wb::encode(event(i)));
  journal->append(records);
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("journal slots: the default root follows STATE_DIRECTORY, XDG_STATE_HOME, HOME",
          "[write_behind]") {
  auto root = [](std::map<std::string, std::string> vars) {
    return examstore::wb::default_journal_root([&](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    });
  };
  CHECK(root({{"STATE_DIRECTORY", "/var/lib/app:/var/lib/other"},
              {"XDG_STATE_HOME", "/x"},
              {"HOME", "/home/ann"}}) == "/var/lib/app/examstore-journal");
  CHECK(root({{"XDG_STATE_HOME", "/x"}, {"HOME", "/home/ann"}}) == "/x/examstore/journal");
  CHECK(root({{"HOME", "/home/ann"}}) == "/home/ann/.local/state/examstore/journal");
  // Relative values are ignored (the XDG rule): the folder must not move with the cwd.
  CHECK(root({{"STATE_DIRECTORY", "rel"}, {"XDG_STATE_HOME", "rel"}, {"HOME", "/h"}}) ==
        "/h/.local/state/examstore/journal");
  CHECK(root({}).empty());
}

TEST_CASE("journal slots: the identity names the database and key prefix, never the credentials",
          "[write_behind]") {
  Config c;
  c.with_database_url("postgresql://app:s3cret@db.example:5433/exams");
  c.key_prefix = "es";
  const JournalIdentity id = examstore::wb::journal_identity(c);
  CHECK(id.text == "postgresql host=db.example port=5433 dbname=exams, key prefix es");
  CHECK(id.label == "exams@db.example-5433.es");
  CHECK(id.text.find("s3cret") == std::string::npos);
  CHECK(id.text.find("app") == std::string::npos);

  // The same database written another way, or reached as another user: the same journal.
  Config kv;
  kv.with_database_url("host=db.example port=5433 dbname=exams user=other password=x");
  kv.key_prefix = "es";
  CHECK(examstore::wb::journal_identity(kv).text == id.text);

  // Another database, port or key prefix: another journal, in another folder.
  std::set<std::string> texts{id.text};
  std::set<std::string> folders{examstore::wb::slot_family("/r", id)};
  for (const char* url :
       {"postgresql://app@db.example:5433/exams2", "postgresql://app@db.example:5434/exams",
        "postgresql://app@db2.example:5433/exams"}) {
    Config other;
    other.with_database_url(url);
    other.key_prefix = "es";
    const JournalIdentity o = examstore::wb::journal_identity(other);
    texts.insert(o.text);
    folders.insert(examstore::wb::slot_family("/r", o));
  }
  Config prefix = c;
  prefix.key_prefix = "es2";
  texts.insert(examstore::wb::journal_identity(prefix).text);
  folders.insert(examstore::wb::slot_family("/r", examstore::wb::journal_identity(prefix)));
  Config memory;
  texts.insert(examstore::wb::journal_identity(memory).text);
  CHECK(texts.size() == 6);
  CHECK(folders.size() == 5);

  if (std::getenv("PGDATABASE") == nullptr && std::getenv("PGPORT") == nullptr) {
    // libpq's defaults: the user's name as database, port 5432.
    Config by_user;
    by_user.with_database_url("postgresql://ann@db.example");
    CHECK(examstore::wb::journal_identity(by_user).text ==
          "postgresql host=db.example port=5432 dbname=ann, key prefix es");
  }
}

TEST_CASE("journal slots: each queue of one identity takes its own slot, removed when empty",
          "[write_behind]") {
  const Slots s;
  RecordingSink sink;
  {
    WriteBehindQueue a(slot_options(s.root), sink, nullptr, s.exams);
    WriteBehindQueue b(slot_options(s.root), sink, nullptr, s.exams);
    const JournalPlacement other_db{identity("other"), true};
    const JournalPlacement other_prefix{identity("exams", "es2"), true};
    WriteBehindQueue c(slot_options(s.root), sink, nullptr, other_db);
    WriteBehindQueue d(slot_options(s.root), sink, nullptr, other_prefix);
    CHECK(a.journal_dir() == s.family + "/slot-0");
    CHECK(b.journal_dir() == s.family + "/slot-1");
    CHECK(c.journal_dir() == examstore::wb::slot_family(s.root, other_db.identity) + "/slot-0");
    CHECK(d.journal_dir() == examstore::wb::slot_family(s.root, other_prefix.identity) + "/slot-0");
    CHECK(entries(s.root).size() == 3);
    CHECK(entries(a.journal_dir()) ==
          std::vector<std::string>{"IDENTITY", "LOCK", "wal-0000000000000001.log"});

    a.enqueue({event(1)}, Durability::kJournaled);
    b.enqueue({event(2)}, Durability::kJournaled);
    c.enqueue({event(3)}, Durability::kJournaled);
    a.flush(10s);
    b.flush(10s);
    c.flush(10s);
    CHECK(sink.keys() == event_keys(1, 3));
  }
  // Everything committed: every slot and folder is gone, the root stays.
  CHECK(fs::exists(s.root));
  CHECK(entries(s.root).empty());
}

TEST_CASE("journal slots: without slots there is no journal, and kJournaled says so",
          "[write_behind]") {
  const TempDir tmp("slots");
  RecordingSink sink;
  WriteBehindQueue q(slot_options(tmp / "root"), sink, nullptr,
                     JournalPlacement{identity("exams"), false});
  CHECK_FALSE(q.has_journal());
  CHECK(q.journal_dir().empty());
  std::string message;
  CHECK(code_of([&] { q.enqueue({event(9)}, Durability::kJournaled); }, &message) ==
        ErrorCode::kInvalidArgument);
  CHECK_THAT(message, Catch::Contains("journal"));
  q.enqueue({event(9)}, Durability::kCached);
  CHECK_FALSE(fs::exists(tmp / "root"));
}

TEST_CASE("journal slots: a crashed holder's slot is replayed by the next queue",
          "[write_behind]") {
  const Slots s;
  leave_crashed_slot(s.family + "/slot-0", s.exams.identity, 1, 20);

  RecordingSink sink;
  {
    WriteBehindQueue q(slot_options(s.root), sink, nullptr, s.exams);
    CHECK(q.journal_dir() == s.family + "/slot-0");
    CHECK(q.metrics().replayed == 20);
    q.flush(10s);
    CHECK(sink.keys() == event_keys(1, 20));
  }
  CHECK_FALSE(fs::exists(s.family));
}

TEST_CASE("journal slots: free slots holding records are taken over, live ones are not",
          "[write_behind]") {
  const Slots s;

  // slot-0: a live process (this Journal holds its lock); slot-2: a crashed one with records;
  // slot-3: a crashed one that had committed everything.
  Journal::Options live;
  live.dir = s.family + "/slot-0";
  live.identity = s.exams.identity.text;
  auto holder = Journal::open(live, nullptr);
  holder->append({examstore::wb::encode(event(100))});
  leave_crashed_slot(s.family + "/slot-2", s.exams.identity, 1, 30);
  fs::create_directories(s.family + "/slot-3");

  RecordingSink sink(/*open=*/false);  // nothing commits until the checks below are done
  WriteBehindQueue q(slot_options(s.root), sink, nullptr, s.exams);
  CHECK(q.journal_dir() == s.family + "/slot-1");
  CHECK(q.metrics().replayed == 30);
  // slot-2's records are in slot-1's journal before slot-2 is deleted: a crash now would replay
  // them from slot-1.
  CHECK_FALSE(fs::exists(s.family + "/slot-2"));
  CHECK_FALSE(fs::exists(s.family + "/slot-3"));
  std::vector<Journal::Record> copied;
  REQUIRE(code_of([&] {
            Journal::Options peek;
            peek.dir = s.family + "/slot-1";
            Journal::open(peek, &copied);
          }) == ErrorCode::kResourceExhausted);  // held by q: its lock is respected
  CHECK(entries(s.family + "/slot-1").size() >= 3);
  sink.open();
  q.flush(10s);
  CHECK(sink.keys() == event_keys(1, 30));
  CHECK(holder->uncommitted() == 1);  // the live process's journal was not touched
}

TEST_CASE("journal slots: a journal of another identity is refused and left as it was",
          "[write_behind]") {
  const TempDir tmp("slots");
  const std::string dir = tmp / "journal";
  const JournalIdentity exams = identity("exams");
  leave_crashed_slot(dir, exams, 1, 5);

  RecordingSink sink;
  WriteBehindOptions o = slot_options(tmp / "root");
  o.journal_dir = dir;
  std::string message;
  CHECK(code_of([&] { WriteBehindQueue q(o, sink, nullptr, JournalPlacement{identity("other")}); },
                &message) == ErrorCode::kDataIntegrity);
  CHECK_THAT(message, Catch::Contains("dbname=exams") && Catch::Contains("dbname=other") &&
                          Catch::Contains(dir));
  CHECK(sink.keys().empty());

  // Its own identity still replays it.
  {
    WriteBehindQueue q(o, sink, nullptr, JournalPlacement{exams});
    q.flush(10s);
  }
  CHECK(sink.keys() == event_keys(1, 5));
}

TEST_CASE("journal slots: a journal written before IDENTITY existed is replayed and labelled",
          "[write_behind]") {
  const TempDir tmp("slots");
  const std::string dir = tmp / "journal";
  leave_crashed_slot(dir, JournalIdentity{}, 1, 3);
  REQUIRE_FALSE(fs::exists(dir + "/IDENTITY"));

  RecordingSink sink;
  WriteBehindOptions o = slot_options(tmp / "root");
  o.journal_dir = dir;
  {
    WriteBehindQueue q(o, sink, nullptr, JournalPlacement{identity("exams")});
    CHECK(q.metrics().replayed == 3);
    q.flush(10s);
  }
  CHECK(sink.keys() == event_keys(1, 3));
  // An explicit journal_dir is the user's: kept, with its identity now written.
  CHECK(fs::exists(dir + "/IDENTITY"));
}

TEST_CASE("journal slots: the stale lock of a removed slot does not block it", "[write_behind]") {
  const TempDir tmp("slots");
  const std::string dir = tmp / "family/slot-0";
  Journal::Options o;
  o.dir = dir;
  o.identity = "a journal";
  o.remove_when_empty = true;
  auto first = Journal::open(o, nullptr);
  // Another process opened LOCK just before the holder removed the slot, and locks it after.
  const int stale = ::open((dir + "/LOCK").c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(stale >= 0);
  first.reset();
  CHECK_FALSE(fs::exists(dir));
  CHECK_FALSE(fs::exists(tmp / "family"));
  CHECK(::flock(stale, LOCK_EX | LOCK_NB) == 0);  // a lock on nothing
  auto second = Journal::open(o, nullptr);        // not refused: the slot is free
  CHECK(fs::exists(dir + "/LOCK"));
  ::close(stale);
}

TEST_CASE("journal slots: a Store on PostgreSQL journals in a slot of its database and prefix",
          "[write_behind][postgres]") {
  examstore::test::TempDatabase db;
  const TempDir tmp("slots");
  Config c;
  c.with_database_url(db.url());
  c.migrate_on_open = true;
  c.key_prefix = examstore::test::unique_name("slot");
  c.write_behind.journal_root = tmp / "root";
  const std::string family =
      examstore::wb::slot_family(c.write_behind.journal_root, examstore::wb::journal_identity(c));
  examstore::ViolationId id = 0;
  {
    auto store = examstore::Store::open(c);
    CHECK(store->journal_dir() == family + "/slot-0");
    CHECK(store->config().write_behind.journal_dir.empty());  // the Config is kept as given
    auto second = examstore::Store::open(c);
    CHECK(second->journal_dir() == family + "/slot-1");

    const auto now = std::chrono::system_clock::now();
    examstore::NewExam exam;
    exam.name = "slots";
    exam.starts_at = now;
    exam.ends_at = now + 1h;
    const auto e = store->exams().create(exam);
    examstore::NewStudent ann;
    ann.external_no = "S-1";
    ann.name = "Ann";
    const auto s = store->students().create(ann);
    store->students().enroll(e.id, s.id);
    examstore::NewViolation v;
    v.exam_id = e.id;
    v.student_id = s.id;
    v.kind = examstore::ViolationKind::kTabSwitch;
    v.severity = 2;
    v.occurred_at = now;
    id = store->violations().record(v);  // kJournaled, the default
    CHECK(store->write_behind_metrics().journal_appends >= 1);
  }
  CHECK(db.query_value("SELECT count(*) FROM violations WHERE id = " + std::to_string(id)) == "1");
  CHECK_FALSE(fs::exists(family));
}
