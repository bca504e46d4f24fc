// Personal data at rest and the GDPR rights (include/examstore/personal_data.hpp), on both
// backend pairs where the behaviour is shared, and on the server pair for what only a real
// database shows (what PostgreSQL and Redis hold, rotation across Store instances, tampering).
#include <catch2/catch.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "repo/keys.hpp"
#include "support/store_pair.hpp"

namespace {

using examstore::Config;
using examstore::DataKey;
using examstore::Error;
using examstore::ErrorCode;
using examstore::NewStudent;
using examstore::Principal;
using examstore::Store;
using examstore::Student;
using examstore::StudentId;
using examstore::test::MemoryPair;
using examstore::test::RedisPostgresPair;
using examstore::test::StorePair;
namespace json = examstore::json;

const Principal kAdmin = Principal::system("test:gdpr");

using examstore::test::code_of;

NewStudent person(const std::string& external_no, const std::string& email,
                  const std::string& phone = "+41 44 555 01 23") {
  NewStudent s;
  s.external_no = external_no;
  s.name = "Ada " + external_no;
  s.class_name = "7b";
  s.email = email;
  s.phone = phone;
  return s;
}

examstore::keys::KeySchema key_schema(const StorePair& pair) {
  return examstore::keys::KeySchema(pair.config().key_prefix + ":");
}

// Every string and hash value under the pair's key prefix in the test Redis, "key=value" per
// line (server pair only).
std::string redis_dump(const StorePair& pair) {
  const std::string lua =
      "local out = {} "
      "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
      "  local t = redis.call('TYPE', k).ok "
      "  if t == 'string' then out[#out + 1] = k .. '=' .. redis.call('GET', k) "
      "  elseif t == 'hash' then "
      "    for _, v in ipairs(redis.call('HGETALL', k)) do out[#out + 1] = k .. '=' .. v end "
      "  end "
      "end "
      "return out";
  return examstore::test::run_command("redis-cli -u '" + examstore::test::redis_url() +
                                      "' --raw EVAL \"" + lua + "\" 0 '" +
                                      pair.config().key_prefix + ":*'")
      .output;
}

// A Store over the pair's servers with other personal-data keys.
std::unique_ptr<Store> reopen(const StorePair& pair, std::vector<DataKey> keys,
                              const std::string& active = {}) {
  Config c = pair.config();
  c.migrate_on_open = false;
  c.security.personal_data.keys = std::move(keys);
  c.security.personal_data.active_key = active;
  return Store::open(c);
}

examstore::ExamId make_exam(Store& store) {
  examstore::NewExam e;
  e.name = "gdpr exam";
  e.starts_at = std::chrono::system_clock::now();
  e.ends_at = e.starts_at + std::chrono::hours(2);
  return store.exams().create(e).id;
}

void record_violation(Store& store, examstore::ExamId exam, StudentId student) {
  examstore::NewViolation v;
  v.exam_id = exam;
  v.student_id = student;
  v.kind = examstore::ViolationKind::kTabSwitch;
  v.severity = 2;
  v.reason = "left the tab";
  v.occurred_at = std::chrono::system_clock::now();
  store.violations().record(v, examstore::Durability::kCommitted);
}

std::int64_t violations_of(Store& store, StudentId student) {
  examstore::ViolationQuery q;
  q.student_id = student;
  return static_cast<std::int64_t>(store.violations().query(q).size());
}

std::size_t audit_count(Store& store, const std::string& action, const std::string& target) {
  examstore::AuditFilter f;
  f.action = action;
  f.target = target;
  return store.audit().list(f).size();
}

}  // namespace

TEMPLATE_TEST_CASE(
    "personal data: email and phone round trip sealed, and no tier holds them "
    "in plaintext",
    "[personal_data]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  const std::string run = examstore::test::unique_name("pd");
  const Student a = store.students().create(person(run + "-a", "ann.lee@example.org"));
  CHECK(a.email == "ann.lee@example.org");
  CHECK(a.phone == "+41 44 555 01 23");
  for (int i = 0; i < 2; ++i) {  // a database read, then the cached copy
    const auto got = store.students().get(a.id);
    REQUIRE(got);
    CHECK(got->email == "ann.lee@example.org");
    CHECK(got->phone == "+41 44 555 01 23");
    CHECK(got->name == a.name);
  }
  const auto by_no = store.students().find_by_external_no(run + "-a");
  REQUIRE(by_no);
  CHECK(by_no->email == "ann.lee@example.org");
  const Student none = store.students().create(person(run + "-b", "", ""));
  CHECK(store.students().get(none.id)->email.empty());

  // The cached profile holds the sealed form.
  const auto cached = store.cache().get(key_schema(pair).student(a.id));
  REQUIRE(cached);
  CHECK_THAT(*cached, Catch::Contains("v1:test1:") && !Catch::Contains("@") &&
                          !Catch::Contains("555 01 23"));
  if (pair.postgres()) {
    CHECK(pair.query_value("SELECT count(*) FROM students WHERE email LIKE '%@%'") == "0");
    CHECK(pair.query_value("SELECT count(*) FROM students WHERE phone LIKE '%555%'") == "0");
    CHECK(pair.query_value("SELECT count(*) FROM students WHERE email LIKE 'v1:test1:%'"
                           " AND phone LIKE 'v1:test1:%' AND email_bidx ~ '^[0-9a-f]{64}$'") ==
          "1");
    const std::string dump = redis_dump(pair);
    CHECK_THAT(dump, Catch::Contains("v1:test1:"));  // the profile is there, sealed
    CHECK_THAT(dump, !Catch::Contains("ann.lee") && !Catch::Contains("555 01 23"));
  }
}

TEMPLATE_TEST_CASE("personal data: find_by_email ignores case and surrounding spaces",
                   "[personal_data]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  auto& pd = store.personal_data();
  const std::string run = examstore::test::unique_name("pd");
  const Student a = store.students().create(person(run + "-a", "Ann.Lee@Example.org"));
  store.students().create(person(run + "-b", "bob@example.org"));
  const auto found = pd.find_by_email("  ann.lee@EXAMPLE.ORG ");
  REQUIRE(found);
  CHECK(found->id == a.id);
  CHECK(found->email == "Ann.Lee@Example.org");
  CHECK_FALSE(pd.find_by_email("ann@example.org"));
  CHECK_FALSE(pd.find_by_email(""));
}

TEMPLATE_TEST_CASE(
    "personal data: a correction reseals, moves the blind index and is audited "
    "without values",
    "[personal_data]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  auto& pd = store.personal_data();
  const std::string run = examstore::test::unique_name("pd");
  const Student a = store.students().create(person(run + "-a", "old@example.org"));
  store.students().get(a.id);  // cached

  examstore::StudentCorrection c;
  c.email = "new.address@example.org";
  c.phone = "";
  c.class_name = "8a";
  const Student fixed = pd.correct_student(a.id, c, kAdmin);
  CHECK(fixed.email == "new.address@example.org");
  CHECK(fixed.phone.empty());
  CHECK(fixed.name == a.name);
  const auto got = store.students().get(a.id);
  REQUIRE(got);
  CHECK(got->email == "new.address@example.org");
  CHECK(got->class_name == "8a");
  CHECK(got->phone.empty());
  CHECK_FALSE(pd.find_by_email("old@example.org"));
  REQUIRE(pd.find_by_email("NEW.address@example.org"));

  examstore::AuditFilter f;
  f.action = "student.correct";
  f.target = "student:" + std::to_string(a.id);
  const auto entries = store.audit().list(f);
  REQUIRE(entries.size() == 1);
  CHECK_THAT(entries[0].after, Catch::Contains("email") && Catch::Contains("phone") &&
                                   Catch::Contains("class_name") && !Catch::Contains("@"));

  CHECK(code_of([&] { pd.correct_student(a.id + 1000, c, kAdmin); }) == ErrorCode::kNotFound);
  examstore::StudentCorrection empty_name;
  empty_name.name = "";
  std::string msg;
  CHECK(code_of([&] { pd.correct_student(a.id, empty_name, kAdmin); }, &msg) ==
        ErrorCode::kInvalidArgument);
  CHECK_THAT(msg, Catch::Contains("name"));
}

TEMPLATE_TEST_CASE("personal data: the export holds every section and no secret", "[personal_data]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  auto& pd = store.personal_data();
  const std::string run = examstore::test::unique_name("pd");
  const Student a = store.students().create(person(run + "-a", "ann@example.org"));
  const auto exam = make_exam(store);
  store.students().enroll(exam, a.id);
  record_violation(store, exam, a.id);
  examstore::StudentCorrection c;
  c.name = "Ann Lee";
  pd.correct_student(a.id, c, kAdmin);

  const std::string doc = pd.export_student(a.id, kAdmin);
  const json::Value v = json::parse(doc);
  REQUIRE(v.is_object());
  const json::Value* student = v.find("student");
  REQUIRE(student);
  CHECK(student->find("email")->text == "ann@example.org");
  CHECK(student->find("name")->text == "Ann Lee");
  CHECK(v.find("account")->is_null());  // no user account is linked
  for (const char* section :
       {"login_log", "enrollments", "attempts", "violations", "events", "audit"}) {
    INFO(section);
    REQUIRE(v.find(section));
    CHECK(v.find(section)->is_array());
  }
  CHECK(v.find("enrollments")->items.size() == 1);
  CHECK(v.find("violations")->items.size() == 1);
  REQUIRE(v.find("audit")->items.size() == 1);  // the correction
  CHECK(v.find("audit")->items[0].find("action")->text == "student.correct");
  CHECK_THAT(doc, !Catch::Contains("password_hash") && !Catch::Contains("v1:test1:") &&
                      !Catch::Contains("prev_hash") && !Catch::Contains("email_bidx"));
  CHECK(audit_count(store, "gdpr.export", "student:" + std::to_string(a.id)) == 1);
  CHECK(code_of([&] { pd.export_student(a.id + 1000, kAdmin); }) == ErrorCode::kNotFound);
}

TEMPLATE_TEST_CASE(
    "personal data: erasure anonymises, removes cache keys, keeps the record, "
    "and is idempotent",
    "[personal_data]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  auto& pd = store.personal_data();
  const std::string run = examstore::test::unique_name("pd");
  const Student a = store.students().create(person(run + "-a", "ann@example.org"));
  const Student b = store.students().create(person(run + "-b", "bob@example.org"));
  const auto exam = make_exam(store);
  store.students().enroll(exam, a.id);
  store.students().enroll(exam, b.id);
  record_violation(store, exam, a.id);
  record_violation(store, exam, a.id);
  store.students().get(a.id);  // cached profile
  store.students().get(b.id);
  const auto keys = key_schema(pair);
  // Attempt hot state as the attempt repository keeps it.
  store.cache().hset(keys.attempt(exam, a.id), {{"state", "in_progress"}});
  store.cache().hset(keys.attempt_answers(exam, a.id), {{"1", "1:0:0:\"A\""}});

  const examstore::ErasureReport r = pd.erase_student(a.id, kAdmin);
  CHECK(r.student_id == a.id);
  CHECK_FALSE(r.already_erased);
  CHECK(r.cache_keys_removed == 3);
  CHECK(r.sessions_ended == 0);
  CHECK_FALSE(r.user_deleted);  // no account is linked
  CHECK_FALSE(store.cache().get(keys.student(a.id)));
  CHECK(store.cache().hgetall(keys.attempt(exam, a.id)).empty());
  CHECK(store.cache().hgetall(keys.attempt_answers(exam, a.id)).empty());
  CHECK(store.cache().get(keys.student(b.id)));  // another student's copy stays

  const auto erased = store.students().get(a.id);
  REQUIRE(erased);
  const std::string anonymous = "erased-" + std::to_string(a.id);
  CHECK(erased->name == anonymous);
  CHECK(erased->external_no == anonymous);
  CHECK(erased->email.empty());
  CHECK(erased->phone.empty());
  CHECK(erased->class_name == "7b");  // kept for per-class statistics
  CHECK_FALSE(pd.find_by_email("ann@example.org"));
  CHECK_FALSE(store.students().find_by_external_no(run + "-a"));
  CHECK(violations_of(store, a.id) == 2);  // the record stays, under the anonymous id
  CHECK(store.students().attendance(exam, a.id));
  CHECK(store.students().get(b.id)->email == "bob@example.org");
  if (pair.postgres()) {
    CHECK(pair.query_value("SELECT count(*) FROM students WHERE id = " + std::to_string(a.id) +
                           " AND email IS NULL AND phone IS NULL AND email_bidx IS NULL"
                           " AND erased_at IS NOT NULL") == "1");
  }

  // Again: nothing personal is left to remove (the profile read above was cached anonymised,
  // and is removed again; it is no reason to report the erasure as new).
  const examstore::ErasureReport again = pd.erase_student(a.id, kAdmin);
  CHECK(again.already_erased);
  CHECK_FALSE(again.user_deleted);
  CHECK(audit_count(store, "gdpr.erase", "student:" + std::to_string(a.id)) == 2);
  CHECK(code_of([&] { pd.erase_student(b.id + 1000, kAdmin); }) == ErrorCode::kNotFound);
  examstore::StudentCorrection c;
  c.email = "back@example.org";
  CHECK(code_of([&] { pd.correct_student(a.id, c, kAdmin); }) == ErrorCode::kConflict);
  const json::Value v = json::parse(pd.export_student(a.id, kAdmin));
  CHECK(v.find("student")->find("erased")->boolean);
  CHECK(v.find("violations")->items.size() == 2);
}

TEMPLATE_TEST_CASE(
    "personal data: grading records are exported, and erasure blanks their free text but "
    "keeps the scores",
    "[personal_data][grading]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  auto& pd = store.personal_data();
  auto& grading = store.grading();
  const std::string run = examstore::test::unique_name("pdg");
  const Student ann = store.students().create(person(run + "-a", "ann@example.org"));
  const Student bob = store.students().create(person(run + "-b", "bob@example.org"));
  const auto klass = grading.create_class({"7b maths", "teacher-1", "math"}).id;
  grading.add_members(klass, {ann.id, bob.id});
  examstore::NewAssignment na;
  na.class_id = klass;
  na.teacher = "teacher-1";
  na.subject = "math";
  na.title = "Fractions";
  na.question_count = 2;
  na.max_score = 20;
  na.deadline = std::chrono::system_clock::now() + std::chrono::hours(1);
  const auto assignment = grading.create_assignment(na).id;
  const auto now = std::chrono::system_clock::now();
  const auto ann_sub =
      grading.submit({assignment, ann.id, {"s3://work/ann-lee/fractions.pdf"}, now});
  const auto bob_sub = grading.submit({assignment, bob.id, {"s3://work/bob/fractions.pdf"}, now});
  // Each student's feedback names them, as real feedback often does.
  const auto grade = [&](const std::string& who) {
    examstore::ClaimRequest r;
    r.grader.name = "worker-1";
    r.grader.model = "model-x";
    r.now = std::chrono::system_clock::now();
    const auto lease = grading.claim(r);
    REQUIRE(lease);
    const std::string name = lease->task.student_id == ann.id ? "Ann" : "Bob";
    examstore::GradingOutcome o;
    o.grades = {{1, 7, 10, name + ", " + who + " well done", "rubric"},
                {2, 3, 10, name + " forgot the common denominator", "rubric"}};
    o.errors = {{2, "concept", "math/fractions", name + " adds denominators"}};
    o.evaluations = "{\"note\":\"" + name + " improves\"}";
    o.annotations = "[{\"page\":1,\"text\":\"" + name + "\"}]";
    grading.complete(*lease, o, std::chrono::system_clock::now());
  };
  grade("first run:");
  grade("first run:");
  grading.regrade(ann_sub.task_id, "appeal", std::chrono::system_clock::now());
  grade("second run:");
  const auto scores_before = grading.results(ann_sub.task_id);  // cached now
  REQUIRE(scores_before.size() == 2);
  REQUIRE(scores_before[0].grade.feedback == "Ann, second run: well done");

  const json::Value v = json::parse(pd.export_student(ann.id, kAdmin));
  REQUIRE(v.find("classes"));
  REQUIRE(v.find("classes")->items.size() == 1);
  CHECK(v.find("classes")->items[0].find("name")->text == "7b maths");
  REQUIRE(v.find("submissions")->items.size() == 1);
  const json::Value& sub = v.find("submissions")->items[0];
  CHECK(sub.find("assignment_title")->text == "Fractions");
  CHECK(sub.find("answer_files")->items.at(0).text == "s3://work/ann-lee/fractions.pdf");
  CHECK(sub.find("evaluations")->find("note")->text == "Ann improves");
  CHECK(sub.find("total_score")->text == "10");
  REQUIRE(v.find("grading_tasks")->items.size() == 1);
  const json::Value& task = v.find("grading_tasks")->items[0];
  CHECK(task.find("run")->text == "2");
  const auto& rows = task.find("results")->items;
  REQUIRE(rows.size() == 4);  // both runs, the first superseded
  CHECK(rows[0].find("superseded")->boolean);
  CHECK(rows[0].find("feedback")->text == "Ann, first run: well done");
  CHECK(rows[0].find("grader")->find("model")->text == "model-x");
  CHECK_FALSE(rows[3].find("superseded")->boolean);
  REQUIRE(task.find("findings")->items.size() == 1);
  CHECK(task.find("findings")->items[0].find("note")->text == "Ann adds denominators");

  const examstore::ErasureReport r = pd.erase_student(ann.id, kAdmin);
  // 1 submission, 2 runs x 2 result rows, 2 findings
  CHECK(r.grading_texts_erased == 7);
  CHECK_FALSE(r.already_erased);
  const auto after = grading.results(ann_sub.task_id);  // not the cached copy
  REQUIRE(after.size() == 2);
  for (std::size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].grade.feedback.empty());
    CHECK(after[i].grade.score == scores_before[i].grade.score);
    CHECK(after[i].grade.strategy == "rubric");
  }
  for (const auto& h : grading.result_history(ann_sub.task_id)) CHECK(h.grade.feedback.empty());
  CHECK(grading.error_analysis(ann_sub.task_id).at(0).note.empty());
  CHECK(grading.error_analysis(ann_sub.task_id).at(0).kind == "concept");
  const auto erased_sub = grading.get_submission(ann_sub.id);
  REQUIRE(erased_sub);
  CHECK(erased_sub->answer_files.empty());
  CHECK(erased_sub->evaluations.empty());
  CHECK(erased_sub->annotations.empty());
  CHECK(erased_sub->total_score == 10);
  const examstore::Scope scope{examstore::ScopeKind::kAssignment, assignment};
  CHECK(grading.rank_of(scope, ann.id));  // scores still rank, under the anonymous id
  CHECK(grading.statistics(scope).count == 2);
  const std::string doc = pd.export_student(ann.id, kAdmin);
  CHECK_THAT(doc, !Catch::Contains("Ann") && !Catch::Contains("ann-lee"));
  // the other student keeps everything
  CHECK(grading.results(bob_sub.task_id).at(0).grade.feedback == "Bob, first run: well done");
  CHECK(grading.get_submission(bob_sub.id)->answer_files.size() == 1);
  if (pair.postgres()) {  // the repositories run as the application role: through the function
    CHECK(pair.query_value("SELECT count(*) FROM grading_results r JOIN grading_tasks t"
                           " ON t.id = r.task_id WHERE t.student_id = " +
                           std::to_string(ann.id) + " AND r.feedback <> ''") == "0");
  }

  const examstore::ErasureReport again = pd.erase_student(ann.id, kAdmin);
  CHECK(again.grading_texts_erased == 0);
  CHECK(again.already_erased);
}

TEST_CASE("personal data: rotation reseals every value so that the old key can go",
          "[personal_data][postgres][redis]") {
  RedisPostgresPair pair;  // sealed under test1
  const std::string run = examstore::test::unique_name("pd");
  std::vector<StudentId> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(pair.store()
                      .students()
                      .create(person(run + "-" + std::to_string(i),
                                     "user" + std::to_string(i) + "@example.org",
                                     i % 2 == 0 ? "+1 555 000" : ""))
                      .id);
    pair.store().students().get(ids.back());  // cached under test1
  }
  // A row written before migration 0008 holds plaintext: rotation seals it too.
  const StudentId legacy = pair.store().students().create(person(run + "-legacy", "", "")).id;
  pair.query_value("UPDATE students SET email = 'Legacy@Example.org' WHERE id = " +
                   std::to_string(legacy));

  const DataKey k1 = examstore::test::test_data_key("test1");
  const DataKey k2 = examstore::test::test_data_key("k2");
  {
    auto both = reopen(pair, {k1, k2}, "k2");
    auto report = both->personal_data().rotate_keys(kAdmin, 2);
    CHECK(report.active_key_id == "k2");
    CHECK(report.values_checked == 5 + 3 + 1);
    CHECK(report.values_reencrypted == 5 + 3 + 1);
    CHECK(pair.query_value("SELECT count(*) FROM students WHERE email LIKE 'v1:test1:%'"
                           " OR phone LIKE 'v1:test1:%' OR email LIKE '%@%'") == "0");
    report = both->personal_data().rotate_keys(kAdmin, 1000);  // nothing left to do
    CHECK(report.values_reencrypted == 0);
    CHECK(report.values_checked == 9);
    CHECK(audit_count(*both, "keys.rotate", "keys:k2") == 2);
  }
  auto only_k2 = reopen(pair, {k2});
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto s = only_k2->students().get(ids[i]);
    REQUIRE(s);
    CHECK(s->email == "user" + std::to_string(i) + "@example.org");
  }
  CHECK(only_k2->students().get(legacy)->email == "Legacy@Example.org");
  REQUIRE(only_k2->personal_data().find_by_email("legacy@example.org"));
  CHECK(only_k2->personal_data().find_by_email("legacy@example.org")->id == legacy);

  auto only_k1 = reopen(pair, {k1});
  CHECK(code_of([&] { only_k1->students().get(ids[0]); }) == ErrorCode::kDataIntegrity);
  CHECK(code_of([&] { only_k2->personal_data().rotate_keys(kAdmin, 0); }) ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("personal data: a sealed email copied to another student does not open",
          "[personal_data][postgres][redis]") {
  RedisPostgresPair pair;
  const std::string run = examstore::test::unique_name("pd");
  const Student a = pair.store().students().create(person(run + "-a", "ann@example.org"));
  const Student b = pair.store().students().create(person(run + "-b", "bob@example.org"));
  pair.query_value("UPDATE students SET email = (SELECT email FROM students WHERE id = " +
                   std::to_string(a.id) + ") WHERE id = " + std::to_string(b.id));
  std::string msg;
  CHECK(code_of([&] { pair.store().students().get(b.id); }, &msg) == ErrorCode::kDataIntegrity);
  CHECK_THAT(msg, Catch::Contains("student:" + std::to_string(b.id)) && !Catch::Contains("ann"));
  CHECK(pair.store().students().get(a.id)->email == "ann@example.org");
}

TEST_CASE("personal data: PostgreSQL without a data key refuses an email and names the field",
          "[personal_data][postgres][redis]") {
  RedisPostgresPair pair;
  auto keyless = reopen(pair, {});
  std::string msg;
  CHECK(code_of([&] { keyless->students().create(person("nokey-1", "a@example.org", "")); },
                &msg) == ErrorCode::kInvalidArgument);
  CHECK_THAT(msg, Catch::Contains("config.security.personal_data.keys"));
  CHECK(code_of([&] { keyless->students().create(person("nokey-2", "", "+1 555")); }) ==
        ErrorCode::kInvalidArgument);
  const Student plain = keyless->students().create(person("nokey-3", "", ""));
  CHECK(keyless->students().get(plain.id)->name == plain.name);
  CHECK(pair.query_value("SELECT count(*) FROM students WHERE external_no LIKE 'nokey-%'") == "1");
}

TEMPLATE_TEST_CASE(
    "personal data: erasure deletes the student's account and ends its sessions, "
    "and the export holds the account without secrets",
    "[personal_data][accounts]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  auto& pd = store.personal_data();
  const std::string run = examstore::test::unique_name("pd");
  const Student a = store.students().create(person(run + "-a", "ann@example.org"));
  examstore::NewUser nu;
  nu.name = run + "-ann";
  nu.role = examstore::Role::kStudent;
  nu.password = "correct horse battery";
  nu.student_id = a.id;
  const examstore::User user = store.accounts().create(nu, kAdmin);
  const auto s1 = store.accounts().login(nu.name, nu.password, "10.1.2.3");
  const auto s2 = store.accounts().login(nu.name, nu.password, "10.1.2.4");
  CHECK_THROWS(store.accounts().login(nu.name, "wrong password!", "10.1.2.5"));
  REQUIRE(store.sessions().lookup(s1.token));

  const json::Value v = json::parse(pd.export_student(a.id, kAdmin));
  const json::Value* account = v.find("account");
  REQUIRE(account);
  REQUIRE(account->is_object());
  CHECK(account->find("name")->text == nu.name);
  CHECK(v.find("login_log")->items.size() == 3);
  const std::string doc = pd.export_student(a.id, kAdmin);
  CHECK_THAT(doc, !Catch::Contains("$argon2id") && !Catch::Contains(s1.token) &&
                      !Catch::Contains(nu.password));

  const examstore::ErasureReport r = pd.erase_student(a.id, kAdmin);
  CHECK(r.user_deleted == std::optional<examstore::UserId>(user.id));
  CHECK(r.sessions_ended == 2);
  CHECK_FALSE(store.sessions().lookup(s1.token));
  CHECK_FALSE(store.sessions().lookup(s2.token));
  CHECK(store.accounts().get(user.id)->status == examstore::UserStatus::kDeleted);
  CHECK(code_of([&] { store.accounts().login(nu.name, nu.password, "10.1.2.3"); }) ==
        ErrorCode::kPermissionDenied);
  CHECK(audit_count(store, "user.delete", "user:" + std::to_string(user.id)) == 1);
}

TEMPLATE_TEST_CASE("personal data: a correction is validated as a new student is",
                   "[personal_data]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  Store& store = pair.store();
  const Student a =
      store.students().create(person(examstore::test::unique_name("pdc"), "ann@example.org"));
  examstore::StudentCorrection c;
  c.class_name = std::string(201, 'c');  // over the indexed column's limit, on both backends
  CHECK(code_of([&] { store.personal_data().correct_student(a.id, c, kAdmin); }) ==
        ErrorCode::kInvalidArgument);
  c.class_name = std::string(200, 'c');
  CHECK(store.personal_data().correct_student(a.id, c, kAdmin).class_name == *c.class_name);
  CHECK(store.students().get(a.id)->class_name == *c.class_name);
}
