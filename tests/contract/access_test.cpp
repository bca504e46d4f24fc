// tests/contract/access_test.cpp: the authorization contract of examstore/access.hpp on both
// backend pairs. The expected outcomes are written here, by hand, from the rules in access.hpp's
// header comment: they do not come from the implementation's table.
//
// Principals, in the order of every expectation string ('A' allowed, '-' denied):
//   0 student-own            the student whose data is the target (student s1)
//   1 student-other          another student (s2) acting on s1's data
//   2 teacher-of-course      teaches the course of the target (and of the exam)
//   3 teacher-not-of-course  teaches another course
//   4 proctor-assigned       assigned to the target exam
//   5 proctor-not-assigned   assigned to another exam
//   6 administrator
//   7 system                 Principal::system()
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "examstore/access.hpp"
#include "examstore/audit.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Actor;
using examstore::Error;
using examstore::ErrorCode;
using examstore::ExamId;
using examstore::Operation;
using examstore::PaperKey;
using examstore::Principal;
using examstore::QuestionId;
using examstore::Role;
using examstore::Store;
using examstore::StudentId;
using examstore::Target;
using examstore::TimePoint;
using examstore::ViolationId;

const TimePoint kNow =
    std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
const PaperKey kPaper{"tsinghua", "cs", "se", "db101"};  // the course of the target
const std::string kCourse = "tsinghua/cs/se/db101";
const std::string kOtherCourse = "tsinghua/cs/se/os201";
// Assembled into "asm101-0" (taught by 101), "-1" and "-2".
const PaperKey kAsmPaper{"tsinghua", "cs", "se", "asm101"};
const std::string kAsmSubject = "asmsubject";
const std::string kCreatedSubject = "createdsubject";

constexpr int kOwn = 0, kOtherStudent = 1, kTeacherOf = 2, kTeacherNot = 3, kProctorOf = 4,
              kProctorNot = 5, kAdmin = 6, kSystem = 7, kWhoCount = 8;
const std::array<const char*, kWhoCount> kWhoNames = {
    "student-own",      "student-other",        "teacher-of-course", "teacher-not-of-course",
    "proctor-assigned", "proctor-not-assigned", "administrator",     "system"};

Principal person(examstore::UserId id, const std::string& name, Role role,
                 std::optional<StudentId> student = std::nullopt) {
  Principal p;
  p.user_id = id;
  p.name = name;
  p.role = role;
  p.student_id = student;
  p.ip = "198.51.100.7";
  return p;
}

examstore::QuestionDraft draft(const std::string& subject, const std::string& stem) {
  examstore::QuestionDraft d;
  d.type = examstore::QuestionType::kSingle;
  d.stem = stem;
  d.options = {"a", "b"};
  d.answer = "\"A\"";
  d.subject = subject;
  d.knowledge_points = {"math/algebra"};
  return d;
}

using examstore::test::code_of;

/// Everything the table acts on, made once per pair.
struct World {
  Store& store;
  ExamId exam = 0;          // running, course kCourse, proctor 201
  ExamId other_exam = 0;    // course kOtherCourse, proctor 202
  ExamId pending_exam = 0;  // for transitions
  StudentId s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  std::vector<QuestionId> questions;  // on kPaper, course kCourse
  std::vector<QuestionId> spare;      // course kCourse, not on any paper yet
  std::vector<ViolationId> violations;
  std::array<Principal, kWhoCount> who;

  explicit World(Store& s) : store(s) {
    const Principal root = Principal::system("test-setup");
    auto& exams = store.exams();
    exam = exams.create({"access exam", kNow - 1h, kNow + 2h, "{}"}).id;
    other_exam = exams.create({"other exam", kNow - 1h, kNow + 2h, "{}"}).id;
    pending_exam = exams.create({"pending exam", kNow - 1h, kNow + 2h, "{}"}).id;
    const std::string prefix = examstore::test::unique_name("acc");
    const auto student = [&](int n) {
      const std::string no = prefix + "-" + std::to_string(n);
      return store.students().create({no, "student " + no, "c1", "", ""}).id;
    };
    s1 = student(1);
    s2 = student(2);
    s3 = student(3);
    s4 = student(4);
    std::vector<examstore::PaperOp> ops;
    for (int i = 0; i < 3; ++i) {
      questions.push_back(store.questions().create(draft("math", "q" + std::to_string(i))).id);
      ops.push_back({examstore::PaperOp::Kind::kAppend, 0, 0, questions.back()});
      spare.push_back(store.questions().create(draft("math", "spare" + std::to_string(i))).id);
    }
    for (int i = 0; i < 4; ++i)
      store.questions().create(draft(kAsmSubject, "asm" + std::to_string(i)));
    store.papers().apply(kPaper, ops);
    REQUIRE(store.attempts().precreate({exam, kPaper, 3600s, {s1, s3, s4}}) == 3);
    store.students().enroll(exam, s1);
    for (int i = 0; i < 3; ++i) {
      examstore::NewViolation v;
      v.exam_id = exam;
      v.student_id = s1;
      v.kind = examstore::ViolationKind::kTabSwitch;
      v.occurred_at = kNow;
      violations.push_back(store.violations().record(v, examstore::Durability::kCommitted));
    }
    auto& access = store.access();
    access.set_exam_course(exam, kCourse, root);
    access.set_exam_course(other_exam, kOtherCourse, root);
    for (const QuestionId q : questions) access.set_question_course(q, kCourse, root);
    for (const QuestionId q : spare) access.set_question_course(q, kCourse, root);
    access.grant_course(101, kCourse, root);
    access.grant_course(101, kAsmPaper.str() + "-0", root);
    access.grant_course(102, kOtherCourse, root);
    access.assign_proctor(201, exam, root);
    access.assign_proctor(202, other_exam, root);
    who = {
        person(301, "stu-own", Role::kStudent, s1), person(302, "stu-other", Role::kStudent, s2),
        person(101, "teach-of", Role::kTeacher),    person(102, "teach-not", Role::kTeacher),
        person(201, "proc-of", Role::kProctor),     person(202, "proc-not", Role::kProctor),
        person(401, "admin", Role::kAdministrator), Principal::system("test-system", "127.0.0.1")};
  }

  std::int64_t last_audit_id() {
    std::int64_t last = 0;
    while (true) {
      examstore::AuditFilter f;
      f.after_id = last;
      f.limit = 10000;
      const auto page = store.audit().list(f);
      if (page.empty()) return last;
      last = page.back().id;
    }
  }
  std::vector<examstore::AuditEntry> audit_after(std::int64_t id) {
    examstore::AuditFilter f;
    f.after_id = id;
    return store.audit().list(f);
  }
};

// ---- decide(): every role against every operation ----

struct OperationRow {
  Operation op;
  const char* name;      // the stable spelling
  const char* expected;  // one character per principal, see the file comment
};

// Target: student s1, exam `exam` (course kCourse, proctor 201), course kCourse.
const std::vector<OperationRow> kDecideTable = {
    {Operation::kStudentRead, "student.read", "A-----AA"},
    {Operation::kStudentCorrect, "student.correct", "------AA"},
    {Operation::kAttemptRead, "attempt.read", "A-A---AA"},
    {Operation::kAttemptWrite, "attempt.write", "A-----AA"},
    {Operation::kPresenceRead, "presence.read", "A---A-AA"},
    {Operation::kViolationRead, "violation.read", "A---A-AA"},
    {Operation::kViolationReview, "violation.review", "----A-AA"},
    {Operation::kQuestionRead, "question.read", "--A---AA"},
    {Operation::kQuestionWrite, "question.write", "--A---AA"},
    {Operation::kPaperRead, "paper.read", "--A---AA"},
    {Operation::kPaperWrite, "paper.write", "--A---AA"},
    {Operation::kExamRead, "exam.read", "AAAAAAAA"},
    {Operation::kExamWrite, "exam.write", "------AA"},
    {Operation::kUserManage, "user.manage", "------AA"},
    {Operation::kGrantManage, "grant.manage", "------AA"},
    {Operation::kAuditRead, "audit.read", "------AA"},
    {Operation::kPersonalDataExport, "personal_data.export", "------AA"},
    {Operation::kPersonalDataErase, "personal_data.erase", "------AA"},
    {Operation::kKeyRotate, "keys.rotate", "------AA"},
};

TEST_CASE("operations have stable names and all_operations lists each once", "[access][unit]") {
  REQUIRE(examstore::all_operations().size() == kDecideTable.size());
  for (std::size_t i = 0; i < kDecideTable.size(); ++i) {
    CHECK(examstore::all_operations()[i] == kDecideTable[i].op);
    CHECK(examstore::to_string(kDecideTable[i].op) == kDecideTable[i].name);
  }
  Target t;
  CHECK(t.str() == "-");
  t.student = 9;
  CHECK(t.str() == "student:9");
  t.exam = 7;
  CHECK(t.str() == "exam:7/student:9");
  CHECK(Target{std::nullopt, std::nullopt, std::string("s/d/m/c")}.str() == "course:s/d/m/c");
}

TEMPLATE_TEST_CASE("decide and check follow the rules for every role and operation", "[access]",
                   examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  World w(pair.store());
  auto& access = pair.store().access();
  const Target full{w.s1, w.exam, kCourse};
  const std::int64_t audit_before = w.last_audit_id();
  for (const auto& row : kDecideTable) {
    for (int k = 0; k < kWhoCount; ++k) {
      INFO(row.name << " by " << kWhoNames[k]);
      const bool expected = row.expected[k] == 'A';
      const auto d = access.decide(w.who[k], row.op, full);
      CHECK(d.allowed == expected);
      CHECK_FALSE(d.reason.empty());
      const auto code = code_of([&] { access.check(w.who[k], row.op, full); });
      if (expected) {
        CHECK_FALSE(code);
      } else {
        CHECK(code == ErrorCode::kPermissionDenied);
      }
    }
  }
  // Deciding reads grants only: nothing is written.
  CHECK(w.last_audit_id() == audit_before);

  // The error names the principal, role, operation, target and reason.
  {
    try {
      access.check(w.who[kOwn], Operation::kQuestionWrite, Target{{}, {}, kCourse});
      FAIL("not denied");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kPermissionDenied);
      CHECK(e.operation() == "authorize question.write");
      CHECK(e.message().rfind(
                "stu-own (student) may not question.write on course:" + kCourse + ": ", 0) == 0);
    }
    try {
      access.check(w.who[kTeacherNot], Operation::kQuestionWrite, Target{{}, {}, kCourse});
      FAIL("not denied");
    } catch (const Error& e) {
      CHECK(e.message() == "teach-not (teacher) may not question.write on course:" + kCourse +
                               ": teacher does not teach course " + kCourse);
    }
  }
  // Targets missing what a rule needs are denied.
  {
    // A teacher's exam target resolves the exam's course; an exam without one is denied.
    CHECK(
        access.decide(w.who[kTeacherOf], Operation::kAttemptRead, Target{{}, w.exam, {}}).allowed);
    const auto none =
        access.decide(w.who[kTeacherOf], Operation::kAttemptRead, Target{{}, w.pending_exam, {}});
    CHECK_FALSE(none.allowed);
    CHECK(none.reason == "exam " + std::to_string(w.pending_exam) + " belongs to no course");
    CHECK_FALSE(
        access.decide(w.who[kProctorOf], Operation::kViolationRead, Target{w.s1, {}, {}}).allowed);
    CHECK_FALSE(
        access.decide(w.who[kOwn], Operation::kViolationRead, Target{{}, w.exam, {}}).allowed);
    // A student principal without a student record owns nothing.
    CHECK_FALSE(access
                    .decide(person(303, "unlinked", Role::kStudent), Operation::kStudentRead,
                            Target{w.s1, {}, {}})
                    .allowed);
  }
}

// ---- the Actor: every role against every method ----

struct ActorCase {
  const char* name;
  const char* expected;  // see the file comment
  const char* action;    // the audit action of a change; nullptr for reads and autosaves
  // Calls the method as principal k; returns the audit target of the change ("" for reads).
  std::function<std::string(Actor&, int k)> call;
  // The state the call would change (compared before and after a denied call).
  std::function<std::string()> state;
};

std::string attempt_state(Store& s, ExamId e, StudentId st) {
  const auto a = s.attempts().get(e, st);
  return a ? std::string(examstore::to_string(a->state)) : "none";
}

std::string answers_state(Store& s, ExamId e, StudentId st) {
  std::string out;
  for (const auto& a : s.attempts().answers(e, st)) {
    out += std::to_string(a.question_id) + "@" + std::to_string(a.seq) + " ";
  }
  return out;
}

std::string target_of(ExamId e, StudentId st) {
  return "exam:" + std::to_string(e) + "/student:" + std::to_string(st);
}

std::vector<ActorCase> actor_cases(World& w) {
  Store& s = w.store;
  const auto none = [] { return std::string(); };
  // Writes on attempts: the student acts on s1, the administrator on s3, the system on s4, so
  // that each allowed call changes something; denied principals all aim at s1.
  const auto attempt_student = [&w](int k) {
    return k == kAdmin ? w.s3 : k == kSystem ? w.s4 : w.s1;
  };
  // Writes limited to a few roles: the n-th allowed principal gets the n-th object.
  const auto slot = [](int k) { return k == kAdmin ? 1 : k == kSystem ? 2 : 0; };
  const auto ans = [&w](int k, std::int64_t seq) {
    examstore::AnswerSave a;
    a.exam_id = w.exam;
    a.student_id = k == kAdmin ? w.s3 : k == kSystem ? w.s4 : w.s1;
    a.question_id = w.questions[0];
    a.seq = seq;
    a.answer = "\"B\"";
    a.at = kNow;
    return a;
  };
  examstore::ViolationQuery both;
  both.exam_id = w.exam;
  both.student_id = w.s1;
  examstore::ViolationQuery exam_only;
  exam_only.exam_id = w.exam;
  examstore::ViolationQuery student_only;
  student_only.student_id = w.s1;
  const auto rd = [](auto f) {
    return [f](Actor& a, int) {
      f(a);
      return std::string();
    };
  };
  return {
      // ---- reads ----
      {"student", "A-----AA", nullptr, rd([&w](Actor& a) {
         const auto r = a.student(w.s1);
         CHECK(r);
       }),
       none},
      {"attempt", "A-A---AA", nullptr, rd([&w](Actor& a) {
         const auto r = a.attempt(w.exam, w.s1);
         CHECK(r);
       }),
       none},
      {"answers", "A-A---AA", nullptr, rd([&w](Actor& a) { a.answers(w.exam, w.s1); }), none},
      {"presence", "A---A-AA", nullptr, rd([&w](Actor& a) { a.presence(w.exam, w.s1); }), none},
      {"online", "----A-AA", nullptr, rd([&w](Actor& a) { a.online(w.exam); }), none},
      {"violations of student in exam", "A---A-AA", nullptr, rd([both](Actor& a) {
         const auto r = a.violations(both);
         CHECK(r.size() == 3);
       }),
       none},
      {"violations of exam", "----A-AA", nullptr,
       rd([exam_only](Actor& a) { a.violations(exam_only); }), none},
      {"violations of student", "A-----AA", nullptr,
       rd([student_only](Actor& a) { a.violations(student_only); }), none},
      {"question", "--A---AA", nullptr, rd([&w](Actor& a) {
         const auto r = a.question(w.questions[0]);
         CHECK(r);
       }),
       none},
      {"paper", "--A---AA", nullptr, rd([](Actor& a) {
         const auto r = a.paper(kPaper);
         CHECK(r.size() == 3);
       }),
       none},
      {"exam", "AAAAAAAA", nullptr, rd([&w](Actor& a) {
         const auto r = a.exam(w.exam);
         CHECK(r);
       }),
       none},
      // ---- attempt writes ----
      {"start", "A-----AA", "attempt.start",
       [&w, attempt_student](Actor& a, int k) {
         const StudentId st = attempt_student(k);
         const auto r = a.start(w.exam, st, kNow, examstore::Durability::kCommitted);
         CHECK(r.state == examstore::AttemptState::kInProgress);
         return target_of(w.exam, st);
       },
       [&s, &w] { return attempt_state(s, w.exam, w.s1); }},
      // An autosave is recorded by its answer revision, not by an audit entry (docs/security.md).
      {"autosave", "A-----AA", nullptr,
       [&w, ans](Actor& a, int k) {
         const auto save = ans(k, k == kOwn || k == kAdmin || k == kSystem ? 1 : 100 + k);
         const auto r = a.autosave(save, examstore::Durability::kCommitted);
         CHECK(r.applied);
         return target_of(w.exam, save.student_id);
       },
       [&s, &w] { return answers_state(s, w.exam, w.s1); }},
      {"submit", "A-----AA", "attempt.submit",
       [&w, attempt_student](Actor& a, int k) {
         const StudentId st = attempt_student(k);
         const auto r = a.submit(w.exam, st, kNow);
         CHECK(r.answers == 1);
         return target_of(w.exam, st);
       },
       [&s, &w] { return attempt_state(s, w.exam, w.s1); }},
      // ---- violations ----
      {"review violation", "----A-AA", "violation.review",
       [&w, slot](Actor& a, int k) {
         const bool allowed = k == kProctorOf || k == kAdmin || k == kSystem;
         const ViolationId v = w.violations[static_cast<std::size_t>(slot(k))];
         const auto state =
             allowed ? examstore::ReviewState::kConfirmed : examstore::ReviewState::kDismissed;
         const auto r = a.review_violation(v, state, "seen on camera");
         CHECK(r.state == state);
         return "violation:" + std::to_string(v);
       },
       [&s, &w] {
         return std::string(examstore::to_string(s.violations().get(w.violations[0])->state));
       }},
      // ---- questions and papers ----
      {"create question", "--A---AA", "question.create",
       [](Actor& a, int) {
         const auto q = a.create_question(kCourse, draft(kCreatedSubject, "created"));
         return "question:" + std::to_string(q.id);
       },
       [&s] {
         examstore::QuestionSearch f;
         f.subject = kCreatedSubject;
         return std::to_string(s.questions().search(f).size());
       }},
      {"edit question", "--A---AA", "question.edit",
       [&w](Actor& a, int k) {
         a.edit_question(w.questions[0], draft("math", "edited by " + std::to_string(k)));
         return "question:" + std::to_string(w.questions[0]);
       },
       [&s, &w] { return std::to_string(s.questions().get(w.questions[0])->version); }},
      {"edit paper", "--A---AA", "paper.edit",
       [&w, slot](Actor& a, int k) {
         const QuestionId q = w.spare[static_cast<std::size_t>(slot(k))];
         a.edit_paper(kPaper, {{examstore::PaperOp::Kind::kAppend, 0, 0, q}});
         return "paper:" + kPaper.str();
       },
       [&s] { return std::to_string(s.papers().count(kPaper)); }},
      {"assemble paper", "--A---AA", "paper.assemble",
       [slot](Actor& a, int k) {
         // Only an empty paper can be assembled: each allowed principal gets its own.
         PaperKey key = kAsmPaper;
         key.course += "-" + std::to_string(slot(k));
         examstore::AssemblyRules r;
         r.subject = kAsmSubject;
         r.count_by_type = {{examstore::QuestionType::kSingle, 1 + slot(k)}};
         r.seed = static_cast<std::uint64_t>(k);
         a.assemble_paper(key, r);
         return "paper:" + key.str();
       },
       [&s] {
         PaperKey key = kAsmPaper;
         key.course += "-0";
         return std::to_string(s.papers().count(key));
       }},
      // ---- exams ----
      {"configure exam", "------AA", "exam.configure",
       [&w](Actor& a, int k) {
         a.configure_exam(w.exam, "{\"by\":" + std::to_string(k) + "}", std::nullopt);
         return "exam:" + std::to_string(w.exam);
       },
       [&s, &w] { return std::to_string(s.exams().get(w.exam)->config_version); }},
      {"transition exam", "------AA", "exam.transition",
       [&w](Actor& a, int k) {
         const auto to = k == kAdmin    ? examstore::ExamStatus::kRunning
                         : k == kSystem ? examstore::ExamStatus::kFinished
                                        : examstore::ExamStatus::kCancelled;
         const auto r = a.transition_exam(w.pending_exam, to);
         CHECK(r.status == to);
         return "exam:" + std::to_string(w.pending_exam);
       },
       [&s, &w] {
         return std::string(examstore::to_string(s.exams().get(w.pending_exam)->status));
       }},
  };
}

TEMPLATE_TEST_CASE("every Actor method allows or denies each role as the rules say", "[access]",
                   examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  World w(pair.store());
  int allowed = 0;
  int denied = 0;
  for (const auto& c : actor_cases(w)) {
    for (int k = 0; k < kWhoCount; ++k) {
      INFO(c.name << " by " << kWhoNames[k]);
      Actor actor = pair.store().act_as(w.who[k]);
      const std::string state_before = c.state();
      const std::int64_t audit_before = w.last_audit_id();
      std::string target;
      std::optional<ErrorCode> code;
      try {
        target = c.call(actor, k);
      } catch (const Error& e) {
        code = e.code();
        if (c.expected[k] == 'A') FAIL(e.what());
      }
      const auto entries = w.audit_after(audit_before);
      if (c.expected[k] == 'A') {
        ++allowed;
        REQUIRE_FALSE(code);
        if (c.action == nullptr) {
          CHECK(entries.empty());
          continue;
        }
        // An allowed change leaves exactly one entry naming who did what to what.
        REQUIRE(entries.size() == 1);
        const auto& e = entries[0];
        CHECK(e.actor_id == w.who[k].user_id);
        CHECK(e.actor_name == w.who[k].name);
        CHECK(e.actor_role == (k == kSystem ? "system" : examstore::to_string(w.who[k].role)));
        CHECK(e.ip == w.who[k].ip);
        CHECK(e.action == c.action);
        CHECK(e.target == target);
        CHECK_FALSE(e.after.empty());
      } else {
        ++denied;
        CHECK(code == ErrorCode::kPermissionDenied);
        CHECK(entries.empty());
        CHECK(c.state() == state_before);
      }
    }
  }
  CHECK(allowed + denied == 21 * kWhoCount);

  // What the table's allowed calls did, seen through the repositories.
  Store& s = pair.store();
  CHECK(attempt_state(s, w.exam, w.s1) == "submitted");
  CHECK(s.violations().get(w.violations[0])->reviewed_by == "proc-of");
  CHECK(s.access().course_of_question(s.questions()
                                          .search([] {
                                            examstore::QuestionSearch f;
                                            f.subject = kCreatedSubject;
                                            return f;
                                          }())
                                          .at(0)
                                          .id) == kCourse);
  // The configuration is not among an exam's public fields.
  CHECK(s.act_as(w.who[kOwn]).exam(w.exam)->config.empty());
  CHECK(s.act_as(w.who[kAdmin]).exam(w.exam)->config == "{\"by\":7}");
  // Repeating a change that changes nothing records nothing.
  const std::int64_t last = w.last_audit_id();
  s.act_as(w.who[kOwn]).submit(w.exam, w.s1, kNow);
  CHECK(w.audit_after(last).empty());
  // Autosaves leave their answer revisions (with who saved, seq and time), not audit entries.
  examstore::AuditFilter f;
  f.action = "attempt.autosave";
  CHECK(s.audit().list(f).empty());
  CHECK_FALSE(s.attempts().revisions(w.exam, w.s1).empty());
  // Audit summaries hold ids, versions and states: never the answer itself.
  for (const auto& e : s.audit().list(examstore::AuditFilter{})) {
    CHECK(e.after.find("\"B\"") == std::string::npos);
  }
}

// ---- grants ----

TEMPLATE_TEST_CASE("grants need grant.manage, are validated, idempotent and audited", "[access]",
                   examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.store();
  auto& access = s.access();
  const ExamId exam = s.exams().create({"grant exam", kNow - 1h, kNow + 2h, "{}"}).id;
  const QuestionId question = s.questions().create(draft("math", "granted")).id;
  const Principal admin = person(401, "admin", Role::kAdministrator);
  const Principal teacher = person(101, "teach", Role::kTeacher);
  const Principal proctor = person(201, "proc", Role::kProctor);
  const auto entries_since = [&s](std::int64_t id) {
    examstore::AuditFilter f;
    f.after_id = id;
    return s.audit().list(f);
  };
  const auto last_id = [&s] {
    examstore::AuditFilter f;
    f.limit = 10000;
    const auto all = s.audit().list(f);
    return all.empty() ? std::int64_t{0} : all.back().id;
  };
  const Target question_write{{}, {}, kCourse};
  // The blocks run in order on one pair (a server pair costs a fresh database); each starts from
  // teacher 101 without courses and proctor 201 without exams.

  // Only an administrator or the system changes grants.
  {
    const std::int64_t before = last_id();
    for (const auto& p : {teacher, proctor, person(301, "stu", Role::kStudent, 1)}) {
      INFO(p.name);
      CHECK(code_of([&] { access.grant_course(101, kCourse, p); }) == ErrorCode::kPermissionDenied);
      CHECK(code_of([&] { access.revoke_course(101, kCourse, p); }) ==
            ErrorCode::kPermissionDenied);
      CHECK(code_of([&] { access.assign_proctor(201, exam, p); }) == ErrorCode::kPermissionDenied);
      CHECK(code_of([&] { access.unassign_proctor(201, exam, p); }) ==
            ErrorCode::kPermissionDenied);
      CHECK(code_of([&] { access.set_exam_course(exam, kCourse, p); }) ==
            ErrorCode::kPermissionDenied);
      CHECK(code_of([&] { access.set_question_course(question, kCourse, p); }) ==
            ErrorCode::kPermissionDenied);
    }
    CHECK(access.courses_of(101).empty());
    CHECK(access.exams_of_proctor(201).empty());
    CHECK_FALSE(access.course_of_exam(exam));
    CHECK_FALSE(access.course_of_question(question));
    CHECK(last_id() == before);
  }

  // A teacher's course: granted once, effective and revoked at once.
  {
    CHECK_FALSE(access.decide(teacher, Operation::kQuestionWrite, question_write).allowed);
    const std::int64_t before = last_id();
    access.grant_course(101, kCourse, admin);
    access.grant_course(101, kCourse, admin);
    CHECK(access.courses_of(101) == std::vector<std::string>{kCourse});
    auto entries = entries_since(before);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].action == "grant.course");
    CHECK(entries[0].target == "user:101/course:" + kCourse);
    CHECK(entries[0].actor_id == 401);
    // The earlier denial was cached; the grant cleared it.
    CHECK(access.decide(teacher, Operation::kQuestionWrite, question_write).allowed);
    access.revoke_course(101, kCourse, Principal::system());
    access.revoke_course(101, kCourse, Principal::system());
    CHECK(access.courses_of(101).empty());
    entries = entries_since(before);
    REQUIRE(entries.size() == 2);
    CHECK(entries[1].action == "grant.course_revoke");
    CHECK(entries[1].actor_role == "system");
    CHECK_FALSE(access.decide(teacher, Operation::kQuestionWrite, question_write).allowed);
  }

  // A proctor's exam: assigned once, effective and unassigned at once.
  {
    const Target presence{{}, exam, {}};
    CHECK_FALSE(access.decide(proctor, Operation::kPresenceRead, presence).allowed);
    const std::int64_t before = last_id();
    access.assign_proctor(201, exam, admin);
    access.assign_proctor(201, exam, admin);
    CHECK(access.exams_of_proctor(201) == std::vector<ExamId>{exam});
    CHECK(access.decide(proctor, Operation::kPresenceRead, presence).allowed);
    access.unassign_proctor(201, exam, admin);
    access.unassign_proctor(201, exam, admin);
    CHECK(access.exams_of_proctor(201).empty());
    CHECK_FALSE(access.decide(proctor, Operation::kPresenceRead, presence).allowed);
    const auto entries = entries_since(before);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].action == "grant.proctor");
    CHECK(entries[0].target == "user:201/exam:" + std::to_string(exam));
    CHECK(entries[1].action == "grant.proctor_revoke");
  }

  // Exam and question courses are set, moved, and recorded only when they change.
  {
    access.grant_course(101, kCourse, admin);
    const Target results{{}, exam, {}};
    CHECK_FALSE(access.decide(teacher, Operation::kAttemptRead, results).allowed);
    const std::int64_t before = last_id();
    access.set_exam_course(exam, kCourse, admin);
    access.set_exam_course(exam, kCourse, admin);
    CHECK(access.course_of_exam(exam) == kCourse);
    CHECK(access.decide(teacher, Operation::kAttemptRead, results).allowed);
    access.set_exam_course(exam, kOtherCourse, admin);
    CHECK(access.course_of_exam(exam) == kOtherCourse);
    CHECK_FALSE(access.decide(teacher, Operation::kAttemptRead, results).allowed);
    access.set_question_course(question, kCourse, admin);
    access.set_question_course(question, kCourse, admin);
    CHECK(access.course_of_question(question) == kCourse);
    CHECK(s.act_as(teacher).question(question));
    access.set_question_course(question, kOtherCourse, admin);
    CHECK(code_of([&] { s.act_as(teacher).question(question); }) == ErrorCode::kPermissionDenied);
    const auto entries = entries_since(before);
    REQUIRE(entries.size() == 4);
    CHECK(entries[0].action == "grant.exam_course");
    CHECK(entries[0].before == "-");
    CHECK(entries[0].after == "course:" + kCourse);
    CHECK(entries[1].before == "course:" + kCourse);
    CHECK(entries[1].after == "course:" + kOtherCourse);
    CHECK(entries[2].action == "grant.question_course");
    CHECK(entries[2].target == "question:" + std::to_string(question));
  }

  // Bad input is refused naming the field, unknown exams and questions are not found.
  {
    const std::int64_t before = last_id();
    const auto message_of = [](const std::function<void()>& f) {
      try {
        f();
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::kInvalidArgument);
        return e.message();
      }
      FAIL("no error");
      return std::string();
    };
    CHECK(message_of([&] { access.grant_course(101, "a/b", admin); }).rfind("course: ", 0) == 0);
    CHECK(message_of([&] { access.grant_course(101, "a/b/c/d e", admin); }).rfind("course: ", 0) ==
          0);
    CHECK(message_of([&] { access.grant_course(0, kCourse, admin); }).rfind("teacher: ", 0) == 0);
    CHECK(message_of([&] { access.assign_proctor(-5, exam, admin); }).rfind("proctor: ", 0) == 0);
    CHECK(message_of([&] {
            access.set_exam_course(exam, "x'; DROP TABLE exams; --", admin);
          }).rfind("course: ", 0) == 0);
    CHECK(message_of([&] {
            s.act_as(admin).create_question("nope", draft("math", "x"));
          }).rfind("course: ", 0) == 0);
    // A malformed paper key is bad input for everyone, before any decision.
    CHECK(code_of([&] {
            s.act_as(teacher).paper(PaperKey{"a b", "c", "d", "e"});
          }) == ErrorCode::kInvalidArgument);
    CHECK(code_of([&] {
            s.act_as(admin).edit_paper(PaperKey{"a/b", "c", "d", "e"}, {});
          }) == ErrorCode::kInvalidArgument);
    const ExamId missing_exam = exam + 100000;
    CHECK(code_of([&] { access.assign_proctor(201, missing_exam, admin); }) ==
          ErrorCode::kNotFound);
    CHECK(code_of([&] { access.set_exam_course(missing_exam, kCourse, admin); }) ==
          ErrorCode::kNotFound);
    CHECK(code_of([&] { access.set_question_course(question + 100000, kCourse, admin); }) ==
          ErrorCode::kNotFound);
    CHECK(access.exams_of_proctor(201).empty());
    CHECK_FALSE(access.course_of_exam(missing_exam));
    CHECK(last_id() == before);
  }
}

}  // namespace

namespace {

TEMPLATE_TEST_CASE("decisions made while grants change see each change once it returns",
                   "[access][concurrency]", examstore::test::MemoryPair,
                   examstore::test::RedisPostgresPair) {
  TestType pair;
  auto& access = pair.store().access();
  const Principal admin = person(401, "admin", Role::kAdministrator);
  const Principal teacher = person(101, "teach", Role::kTeacher);
  const Target target{{}, {}, kCourse};
  std::atomic<bool> stop{false};
  std::atomic<int> decisions{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        access.decide(teacher, Operation::kQuestionWrite, target);
        ++decisions;
      }
    });
  }
  while (decisions.load() < 3) std::this_thread::yield();  // the readers are running
  for (int i = 0; i < 20; ++i) {
    access.grant_course(101, kCourse, admin);
    CHECK(access.decide(teacher, Operation::kQuestionWrite, target).allowed);
    access.revoke_course(101, kCourse, admin);
    CHECK_FALSE(access.decide(teacher, Operation::kQuestionWrite, target).allowed);
  }
  stop = true;
  for (auto& r : readers) r.join();
}

}  // namespace
