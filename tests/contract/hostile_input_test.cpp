// tests/contract/hostile_input_test.cpp: every public entry point fed hostile values, on both
// backend pairs (issue 7, "Hostile input"; docs/hostile-input.md).
//
// Each table below is a list of entry points for one value type; each test case runs every
// hostile value of that type through every entry of its table (hostile_support.hpp says what a
// case checks). A new entry point is one more row.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "contract/hostile_support.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using namespace examstore;
using examstore::test::hostile::Ctx;
using examstore::test::hostile::Entry;
using examstore::test::hostile::Value;
using Str = std::string;
using I64 = std::int64_t;

const TimePoint kNow =
    std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
constexpr I64 kMin = std::numeric_limits<I64>::min();
constexpr I64 kMax = std::numeric_limits<I64>::max();
const Durability kDurable = Durability::kCommitted;

std::string mismatch(const std::string& what, const std::string& got, const std::string& want) {
  if (got == want) return "";
  return what + " read back as \"" + test::hostile::printable(got) + "\" (" +
         std::to_string(got.size()) + " bytes), wanted " + std::to_string(want.size()) + " bytes";
}

TimePoint micros(TimePoint t) {
  return TimePoint(std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()));
}

// ---- hostile values ----

/// 64 levels of 64 characters: a well-formed knowledge-point path too long for an index.
std::string deep_path() {
  std::string p;
  for (int i = 0; i < 64; ++i)
    p += (i ? "/" : "") + std::string(64, static_cast<char>('a' + i % 26));
  return p;
}

std::vector<Value<Str>> hostile_strings() {
  return {
      {"sql drop", "'; DROP TABLE exams; --"},
      {"sql tautology", "' OR '1'='1"},
      {"sql placeholder", "$1"},
      {"backslashes", "\\\\ \\' \\0 \\x00 \\"},
      {"quotes", "\"double\" 'single' `back`"},
      {"json breaker", "\"},{\"x\":1,\"y\":\""},
      {"embedded NUL", Str("a\0b", 3)},
      {"lone NUL", Str(1, '\0')},
      {"lone continuation byte", "x\x80y"},
      {"overlong slash", "\xC0\xAF"},
      {"overlong 3-byte NUL", "\xE0\x80\x80"},
      {"UTF-8 encoded surrogate", "\xED\xA0\x80"},
      {"beyond U+10FFFF", "\xF4\x90\x80\x80"},
      {"truncated sequence", "abc\xE2\x82"},
      {"key forge colon", "1:x"},
      {"key forge hash tag", "{e:2}"},
      {"key forge star", "*"},
      {"key forge full key", "es:exam:{e:1}"},
      {"newline", "a\nb"},
      {"CRLF command", "a\r\nSET x 1\r\n"},
      {"spaces", "   "},
      {"empty", ""},
      {"valid multilingual",
       "Pr\xC3\xBC"
       "fung \xE8\x80\x83\xE8\xAF\x95 \xF0\x9F\x98\x80"},
      {"oversized 1 MiB", Str((1u << 20) + 17, 'x')},
      {"deep path of 4 KiB", deep_path()},
  };
}

std::vector<Value<I64>> hostile_ids() {
  return {{"zero", 0},
          {"minus one", -1},
          {"INT64_MIN", kMin},
          {"INT64_MAX", kMax},
          {"unknown", 987654321}};
}

std::vector<Value<I64>> hostile_ints() {
  return {{"zero", 0},
          {"minus one", -1},
          {"six", 6},
          {"INT_MIN", std::numeric_limits<int>::min()},
          {"INT_MAX", std::numeric_limits<int>::max()},
          {"INT64_MIN", kMin},
          {"INT64_MAX", kMax}};
}

std::vector<Value<double>> hostile_doubles() {
  const double inf = std::numeric_limits<double>::infinity();
  return {{"NaN", std::nan("")},   {"+inf", inf},        {"-inf", -inf},
          {"zero", 0.0},           {"negative", -0.01},  {"three decimals", 0.001},
          {"huge", 1e300},         {"denormal", 5e-324}, {"max score", 999999.99},
          {"above max", 1000000.0}};
}

std::vector<Value<TimePoint>> hostile_times() {
  return {{"TimePoint min", TimePoint::min()},
          {"TimePoint max", TimePoint::max()},
          {"epoch", TimePoint{}},
          {"before the epoch", TimePoint{} - 1s},
          {"year 1700", TimePoint{} - std::chrono::hours(24 * 365 * 270)},
          {"year 2250", TimePoint{} + std::chrono::hours(24 * 365 * 280)},
          {"ten years ago", kNow - std::chrono::hours(24 * 3650)}};
}

// ---- entry points taking text ----

const std::vector<std::string> kExamWrite = {"pg:exams", "view:exams", "redis:exam:"};

QuestionDraft base_draft() {
  QuestionDraft d;
  d.type = QuestionType::kSingle;
  d.stem = "hostile stem";
  d.options = {"one", "two"};
  d.answer = "\"A\"";
  d.subject = "math";
  d.knowledge_points = {"math/algebra"};
  return d;
}

std::string question_matches(Ctx& c, const QuestionDraft& d) {
  const QuestionId id = c.pair.store().questions().create(d).id;
  const auto q = c.pair.store().questions().get(id);
  if (!q) return "created question is missing";
  std::string m = mismatch("stem", q->stem, d.stem) + mismatch("subject", q->subject, d.subject) +
                  mismatch("answer", q->answer, d.answer) + mismatch("author", q->author, d.author);
  if (q->options != d.options) m += "options differ; ";
  if (q->media != d.media) m += "media differ; ";
  if (q->knowledge_points != d.knowledge_points) m += "knowledge_points differ; ";
  return m;
}

Entry<Str> question_text(const std::string& name, const std::string& field,
                         void (*set)(QuestionDraft&, const Str&)) {
  return {"questions.create " + name,
          field,
          {"pg:questions", "pg:question_versions", "pg:question_knowledge_points",
           "pg:knowledge_points", "view:questions", "redis:question"},
          [set](Ctx& c, const Str& v) -> std::string {
            QuestionDraft d = base_draft();
            set(d, v);
            return question_matches(c, d);
          }};
}

Entry<Str> student_text(const std::string& field, Str NewStudent::*member,
                        Str Student::*read_back) {
  return {"students.create " + field,
          field,
          {"pg:students", "view:students", "redis:student:"},
          [field, member, read_back](Ctx& c, const Str& v) -> std::string {
            static int made = 0;
            NewStudent s{"hx-" + std::to_string(++made), "name", "class", "e@x", "1"};
            s.*member = v;
            const Student got = c.pair.store().students().create(s);
            c.seed.max_student = std::max(c.seed.max_student, got.id);
            const auto back = c.pair.store().students().get(got.id);
            if (!back) return std::string("created student is missing");
            return mismatch(field, (*back).*read_back, v);
          }};
}

Entry<Str> violation_text(const std::string& field, Str NewViolation::*member) {
  return {"violations.record " + field,
          field,
          {"pg:violations", "view:violations", "view:live_counts", "redis:violations:"},
          [field, member](Ctx& c, const Str& v) -> std::string {
            NewViolation nv{c.seed.exam, c.seed.student, ViolationKind::kFocusLost, 3, "r", "",
                            kNow};
            nv.*member = v;
            const ViolationId id = c.pair.store().violations().record(nv, kDurable);
            const auto back = c.pair.store().violations().get(id);
            if (!back) return std::string("recorded violation is missing");
            return mismatch(field, field == "reason" ? back->reason : back->screenshot_path, v);
          }};
}

Entry<Str> event_text(const std::string& field, Str NewEvent::*member, Str Event::*read_back) {
  return {"violations.record_event " + field,
          field,
          {"pg:events", "view:events"},
          [field, member, read_back](Ctx& c, const Str& v) -> std::string {
            NewEvent e{c.seed.exam, c.seed.student, "kind", "{}", kNow};
            e.*member = v;
            const EventId id = c.pair.store().violations().record_event(e, kDurable);
            for (const auto& got :
                 c.pair.store().violations().events(c.seed.exam, c.seed.student, 10000)) {
              if (got.id == id) return mismatch(field, got.*read_back, v);
            }
            return std::string("recorded event is missing");
          }};
}

std::vector<Entry<Str>> string_entries() {
  std::vector<Entry<Str>> t = {
      {"exams.create name", "name", kExamWrite,
       [](Ctx& c, const Str& v) -> std::string {
         const Exam e = c.pair.store().exams().create(NewExam{v, kNow, kNow + 1h, "{}"});
         const auto back = c.pair.store().exams().get(e.id);
         return back ? mismatch("name", back->name, v) : "created exam is missing";
       }},
      {"exams.create config", "config", kExamWrite,
       [](Ctx& c, const Str& v) -> std::string {
         const Exam e = c.pair.store().exams().create(NewExam{"cfg", kNow, kNow + 1h, v});
         const auto back = c.pair.store().exams().get(e.id);
         return back ? mismatch("config", back->config, v) : "created exam is missing";
       }},
      {"exams.update_config config",
       "config",
       {"pg:exams", "pg:exam_config_changes", "view:exams", "view:exam_config_changes",
        "redis:exam:"},
       [](Ctx& c, const Str& v) -> std::string {
         c.pair.store().exams().update_config(c.seed.exam, v, "tester");
         return mismatch("config", c.pair.store().exams().get(c.seed.exam)->config, v);
       }},
      {"exams.update_config changed_by",
       "changed_by",
       {"pg:exams", "pg:exam_config_changes", "view:exams", "view:exam_config_changes",
        "redis:exam:"},
       [](Ctx& c, const Str& v) -> std::string {
         c.pair.store().exams().update_config(c.seed.exam, "{}", v);
         return mismatch("changed_by",
                         c.pair.store().exams().config_history(c.seed.exam).back().changed_by, v);
       }},
      student_text("external_no", &NewStudent::external_no, &Student::external_no),
      student_text("name", &NewStudent::name, &Student::name),
      student_text("class_name", &NewStudent::class_name, &Student::class_name),
      student_text("email", &NewStudent::email, &Student::email),
      student_text("phone", &NewStudent::phone, &Student::phone),
      {"students.find_by_external_no",
       "external_no",
       {"redis:student:"},
       [](Ctx& c, const Str& v) -> std::string {
         const auto s = c.pair.store().students().find_by_external_no(v);
         return s ? mismatch("external_no", s->external_no, v) : "";
       }},
      {"students.heartbeat ip",
       "ip",
       {"pg:exam_attendance", "view:attendance", "redis:presence:"},
       [](Ctx& c, const Str& v) -> std::string {
         auto& st = c.pair.store().students();
         st.heartbeat(c.seed.exam, c.seed.student, v, kNow + std::chrono::hours(c.seed.tick));
         c.pair.store().flush();
         // an empty IP keeps the last known one (docs/schema.md, exam_attendance.last_ip)
         if (v.empty()) return "";
         return mismatch("last_ip", st.attendance(c.seed.exam, c.seed.student)->last_ip, v);
       },
       false,
       {},
       // a sweep far enough on makes the student offline, so the heartbeat is a transition
       // and its IP is persisted
       [](Ctx& c) {
         c.pair.store().students().sweep(c.seed.exam,
                                         kNow + std::chrono::hours(++c.seed.tick) - 1s);
       }},
      violation_text("reason", &NewViolation::reason),
      violation_text("screenshot_path", &NewViolation::screenshot_path),
      event_text("kind", &NewEvent::kind, &Event::kind),
      event_text("payload", &NewEvent::payload, &Event::payload),
      {"violations.review reviewer",
       "reviewer",
       {"pg:violations", "view:violations"},
       [](Ctx& c, const Str& v) -> std::string {
         c.pair.store().violations().review(c.seed.violation, ReviewState::kConfirmed, v, "n");
         return mismatch("reviewed_by",
                         c.pair.store().violations().get(c.seed.violation)->reviewed_by, v);
       }},
      {"violations.review note",
       "note",
       {"pg:violations", "view:violations"},
       [](Ctx& c, const Str& v) -> std::string {
         c.pair.store().violations().review(c.seed.violation, ReviewState::kDismissed, "r", v);
         return mismatch("review_note",
                         c.pair.store().violations().get(c.seed.violation)->review_note, v);
       }},
      question_text("stem", "stem", [](QuestionDraft& d, const Str& v) { d.stem = v; }),
      question_text("option", "options", [](QuestionDraft& d, const Str& v) { d.options[1] = v; }),
      question_text("subject", "subject", [](QuestionDraft& d, const Str& v) { d.subject = v; }),
      question_text("knowledge point", "knowledge_points",
                    [](QuestionDraft& d, const Str& v) { d.knowledge_points = {v}; }),
      question_text("media", "media", [](QuestionDraft& d, const Str& v) { d.media = {v}; }),
      question_text("author", "author", [](QuestionDraft& d, const Str& v) { d.author = v; }),
      question_text("answer raw", "answer", [](QuestionDraft& d, const Str& v) { d.answer = v; }),
      question_text("answer of a fill question", "answer",
                    [](QuestionDraft& d, const Str& v) {
                      d.type = QuestionType::kFill;
                      d.options.clear();
                      d.answer = json::quote(v);
                    }),
      {"questions.search subject",
       "subject",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         QuestionSearch f;
         f.subject = v;
         for (const auto& q : c.pair.store().questions().search(f)) {
           if (q.subject != v) return "search returned subject " + q.subject;
         }
         return std::string();
       }},
      {"questions.search knowledge_point",
       "knowledge_point",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         QuestionSearch f;
         f.knowledge_point = v;
         c.pair.store().questions().search(f);
         return std::string();
       }},
      {"questions.import_json document",
       "JSON",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         const auto ids = c.pair.store().questions().import_json(v);
         return ids.empty() ? "" : "a hostile document imported questions";
       }},
      // invalid UTF-8 makes the document itself invalid JSON: "line 1, column C"
      {"questions.import_json stem",
       "line 1",
       {"pg:questions", "pg:question_versions", "pg:question_knowledge_points",
        "pg:knowledge_points", "view:questions", "redis:question"},
       [](Ctx& c, const Str& v) -> std::string {
         const std::string doc = "[{\"type\":\"fill\",\"stem\":" + json::quote(v) +
                                 ",\"answer\":\"x\",\"score\":1,\"difficulty\":2,"
                                 "\"subject\":\"math\",\"knowledge_points\":[\"math/x\"]}]";
         const auto ids = c.pair.store().questions().import_json(doc);
         return mismatch("stem", c.pair.store().questions().get(ids.at(0))->stem, v);
       }},
      {"PaperKey::parse",
       "",
       {},
       [](Ctx&, const Str& v) -> std::string {
         return mismatch("paper key", PaperKey::parse(v).str(), v);
       }},
      {"papers.apply school",
       "school",
       {"pg:papers", "pg:paper_items", "redis:paper:"},
       [](Ctx& c, const Str& v) -> std::string {
         PaperOp op;
         op.question_id = c.seed.single;
         const PaperKey k{v, "d", "m", "c"};
         c.pair.store().papers().apply(k, {op});
         const auto items = c.pair.store().papers().items(k);
         return items.size() == 1 && items[0].question_id == c.seed.single ? "" : "paper read back";
       }},
      {"papers.items course",
       "course",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         return c.pair.store().papers().items(PaperKey{"s", "d", "m", v}).empty()
                    ? ""
                    : "items of an unknown paper";
       }},
      {"papers.variant_at major",
       "major",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         return c.pair.store().papers().variant_at(PaperKey{"s", "d", v, "c"}, 1, 0)
                    ? "variant of an unknown paper"
                    : "";
       }},
      {"attempts.autosave answer",
       "answer",
       {"pg:answer", "view:answers", "redis:attempt:"},
       [](Ctx& c, const Str& v) -> std::string {
         AnswerSave s{c.seed.exam, c.seed.student,
                      c.seed.fill, ++c.seed.seq,
                      v,           kNow + std::chrono::milliseconds(c.seed.seq)};
         c.pair.store().attempts().autosave(s, kDurable);
         for (const auto& a : c.pair.store().attempts().answers(c.seed.exam, c.seed.student)) {
           if (a.question_id == c.seed.fill) return mismatch("answer", a.answer, v);
         }
         return std::string("saved answer is missing");
       }},
  };
  return t;
}

// ---- entry points taking an id ----

std::vector<Entry<I64>> id_entries() {
  const std::vector<std::string> negative_cache = {
      "redis:exam:{e:", "redis:student:{s:", "redis:question"};
  return {
      {"exams.get", "id", negative_cache,
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().exams().get(id) ? "an exam that does not exist" : "";
       }},
      {"exams.update_config",
       "id",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().exams().update_config(id, "{}", "t");
         return std::string("updated an exam that does not exist");
       },
       true},
      {"exams.transition",
       "id",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().exams().transition(id, ExamStatus::kCancelled);
         return std::string("moved an exam that does not exist");
       },
       true},
      {"exams.config_history",
       "id",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().exams().config_history(id).empty() ? "" : "history of nothing";
       },
       true},
      {"students.get", "id", negative_cache,
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().students().get(id) ? "a student that does not exist" : "";
       }},
      {"students.enroll student",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().students().enroll(c.seed.exam, id);
         return std::string("enrolled a student that does not exist");
       },
       true},
      {"students.enroll exam",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().students().enroll(id, c.seed.student);
         return std::string("enrolled in an exam that does not exist");
       },
       true},
      {"students.heartbeat exam",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().students().heartbeat(id, c.seed.student, "1.2.3.4", kNow);
         return std::string("heartbeat in an exam that does not exist");
       },
       true},
      {"students.heartbeat student",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().students().heartbeat(c.seed.exam, id, "1.2.3.4", kNow);
         return std::string("heartbeat of a student that is not enrolled");
       },
       true},
      {"students.presence",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().students().presence(c.seed.exam, id);
         return std::string("presence of a student that is not enrolled");
       },
       true},
      {"students.online_count",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().students().online_count(id) == 0 ? "" : "online in nothing";
       }},
      {"violations.record exam_id",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().violations().record(
             NewViolation{id, c.seed.student, ViolationKind::kNoFace, 1, "", "", kNow}, kDurable);
         return std::string("recorded against an exam that does not exist");
       },
       true},
      {"violations.record student_id",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().violations().record(
             NewViolation{c.seed.exam, id, ViolationKind::kNoFace, 1, "", "", kNow}, kDurable);
         return std::string("recorded against a student who is not enrolled");
       },
       true},
      {"violations.get",
       "id",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().violations().get(id) ? "a violation that does not exist" : "";
       }},
      {"violations.review",
       "id",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().violations().review(id, ReviewState::kConfirmed, "r", "n");
         return std::string("reviewed a violation that does not exist");
       },
       true},
      {"violations.live_counts",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().violations().live_counts(id).empty() ? "" : "counts of nothing";
       }},
      {"violations.stats",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().violations().stats(id).total == 0 ? "" : "stats of nothing";
       }},
      {"questions.get", "id", negative_cache,
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().questions().get(id) ? "a question that does not exist" : "";
       }},
      {"questions.edit",
       "id",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().questions().edit(id, base_draft());
         return std::string("edited a question that does not exist");
       },
       true},
      {"papers.apply question_id",
       "op 1",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         PaperOp op;
         op.question_id = id;
         c.pair.store().papers().apply(c.seed.paper, {op});
         return std::string("appended a question that does not exist");
       }},
      {"papers.variant student",
       "student",
       {"redis:question"},
       [](Ctx& c, const I64& id) -> std::string {
         // a variant is computed, never stored: any positive id has one
         const auto v = c.pair.store().papers().variant(c.seed.paper, id);
         return v.items.size() == 2 ? "" : "variant of the seeded paper";
       }},
      {"attempts.get student",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         return c.pair.store().attempts().get(c.seed.exam, id) ? "an attempt of nobody" : "";
       }},
      {"attempts.start exam",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().attempts().start(id, c.seed.student, kNow, kDurable);
         return std::string("started an attempt that does not exist");
       },
       true},
      {"attempts.autosave question_id",
       "question",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().attempts().autosave(
             AnswerSave{c.seed.exam, c.seed.student, id, ++c.seed.seq, "\"a\"", kNow}, kDurable);
         return std::string("saved an answer to a question not on the paper");
       }},
      {"attempts.autosave seq",
       "seq",
       {"pg:answer", "view:answers", "redis:attempt:"},
       [](Ctx& c, const I64& id) -> std::string {
         const SaveAck ack = c.pair.store().attempts().autosave(
             AnswerSave{c.seed.exam, c.seed.student, c.seed.single, id, "\"B\"", kNow}, kDurable);
         return ack.current_seq >= id ? "" : "current_seq below an applied seq";
       }},
      {"attempts.set_extra_time student",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().attempts().set_extra_time(c.seed.exam, id, 60s);
         return std::string("extra time for nobody");
       },
       true},
      {"attempts.submit exam",
       "exam",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().attempts().submit(id, c.seed.student, kNow);
         return std::string("submitted an attempt that does not exist");
       },
       true},
      {"attempts.precreate student",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         AttemptPlan p;
         p.exam_id = c.seed.exam;
         p.paper = c.seed.paper;
         p.duration = 1h;
         p.students = {id};
         c.pair.store().attempts().precreate(p);
         return std::string("an attempt for nobody");
       },
       true},
      // last: it makes the unknown id known
      {"questions.create with id",
       "id",
       {"pg:questions", "pg:question_versions", "pg:question_knowledge_points",
        "pg:knowledge_points", "view:questions", "redis:question"},
       [](Ctx& c, const I64& id) -> std::string {
         QuestionDraft d = base_draft();
         d.id = id;
         const Question q = c.pair.store().questions().create(d);
         const auto back = c.pair.store().questions().get(id);
         return q.id == id && back && back->id == id ? "" : "the given id was not kept";
       }},
  };
}

// ---- entry points taking a small integer (levels, limits, positions) ----

std::vector<Entry<I64>> int_entries() {
  const auto as_int = [](I64 v) {
    return static_cast<int>(std::clamp<I64>(v, INT32_MIN, INT32_MAX));
  };
  return {
      {"questions.create difficulty",
       "difficulty",
       {"pg:questions", "pg:question_versions", "pg:question_knowledge_points",
        "pg:knowledge_points", "view:questions", "redis:question"},
       [as_int](Ctx& c, const I64& v) -> std::string {
         QuestionDraft d = base_draft();
         d.difficulty = as_int(v);
         return c.pair.store().questions().create(d).difficulty == d.difficulty
                    ? ""
                    : "difficulty changed";
       }},
      {"violations.record severity",
       "severity",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         c.pair.store().violations().record(
             NewViolation{c.seed.exam, c.seed.student, ViolationKind::kCopyPaste, as_int(v), "", "",
                          kNow},
             kDurable);
         return std::string("a severity out of 1..5 was recorded");
       }},
      {"violations.record kind",
       "kind",
       {"pg:violations", "view:violations", "view:live_counts", "redis:violations:"},
       [as_int](Ctx& c, const I64& v) -> std::string {
         const ViolationId id = c.pair.store().violations().record(
             NewViolation{c.seed.exam, c.seed.student, static_cast<ViolationKind>(as_int(v)), 1, "",
                          "", kNow},
             kDurable);
         if (v < 0 || v > static_cast<int>(ViolationKind::kCustom)) return "an unknown kind";
         return c.pair.store().violations().get(id)->kind == static_cast<ViolationKind>(v)
                    ? ""
                    : "kind changed";
       }},
      {"exams.list limit",
       "limit",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         c.pair.store().exams().list(std::nullopt, std::nullopt, std::nullopt, as_int(v));
         return v >= 1 && v <= 10000 ? "" : "a limit out of 1..10000 was accepted";
       }},
      {"violations.events limit",
       "limit",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         c.pair.store().violations().events(c.seed.exam, std::nullopt, as_int(v));
         return v >= 1 && v <= 10000 ? "" : "a limit out of 1..10000 was accepted";
       }},
      {"questions.search min_difficulty",
       "difficulty",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         QuestionSearch f;
         f.min_difficulty = as_int(v);
         c.pair.store().questions().search(f);
         return std::string("a difficulty out of 1..5 was accepted");
       }},
      {"questions.get_version version",
       "version",
       {"redis:question"},
       [as_int](Ctx& c, const I64& v) -> std::string {
         return c.pair.store().questions().get_version(c.seed.single, as_int(v))
                    ? "a version that does not exist"
                    : "";
       }},
      {"papers.at position",
       "position",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         const bool inside = v == 0 || v == 1;  // the seeded paper holds two questions
         return c.pair.store().papers().at(c.seed.paper, as_int(v)).has_value() == inside
                    ? ""
                    : "at() disagrees with the paper's size";
       }},
      {"papers.range",
       "start",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         // clamped by contract: never more than the whole paper
         return c.pair.store().papers().range(c.seed.paper, as_int(v), as_int(v)).size() <= 2
                    ? ""
                    : "range beyond the paper";
       }},
      {"papers.variant_at position",
       "position",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         const bool inside = v == 0 || v == 1;
         return c.pair.store()
                            .papers()
                            .variant_at(c.seed.paper, c.seed.student, as_int(v))
                            .has_value() == inside
                    ? ""
                    : "variant_at() disagrees with the paper's size";
       }},
      {"papers.apply remove position",
       "op 1",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         PaperOp op;
         op.kind = PaperOp::Kind::kRemove;
         op.position = as_int(v) == 0 ? 2 : as_int(v);  // 0 is a real position
         c.pair.store().papers().apply(c.seed.paper, {op});
         return std::string("removed out of range");
       }},
      {"papers.apply move to",
       "op 1",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         PaperOp op;
         op.kind = PaperOp::Kind::kMove;
         op.position = 0;
         op.to = as_int(v) == 0 ? 5 : as_int(v);
         c.pair.store().papers().apply(c.seed.paper, {op});
         return std::string("moved out of range");
       }},
      {"attempts.set_extra_time seconds",
       "extra",
       {"pg:attempts", "view:attempt", "redis:attempt:"},
       [](Ctx& c, const I64& v) -> std::string {
         if (v == 0 || v == 6) {  // legal allowances: round trip, then back to zero
           const Attempt a = c.pair.store().attempts().set_extra_time(c.seed.exam, c.seed.student,
                                                                      std::chrono::seconds(v));
           c.pair.store().attempts().set_extra_time(c.seed.exam, c.seed.student, 0s);
           return a.extra_time.count() == v ? "" : "extra_time changed";
         }
         c.pair.store().attempts().set_extra_time(c.seed.exam, c.seed.student,
                                                  std::chrono::seconds(v));
         return std::string("an extra time of ") + std::to_string(v) + " s was accepted";
       }},
      {"attempts.questions_used_in_recent_exams",
       "n",
       {},
       [as_int](Ctx& c, const I64& v) -> std::string {
         c.pair.store().attempts().questions_used_in_recent_exams(as_int(v));
         return std::string();
       }},
  };
}

// ---- entry points taking a floating-point number ----

const std::vector<std::string> kPaperWrite = {"pg:papers", "pg:paper_items", "redis:paper:"};

/// A fresh paper key for an assembly.
PaperKey next_paper(Ctx& c) {
  return PaperKey{"as", "d", "m", "c" + std::to_string(++c.seed.tick)};
}

std::vector<Entry<double>> double_entries() {
  return {
      {"questions.create score",
       "score",
       {"pg:questions", "pg:question_versions", "pg:question_knowledge_points",
        "pg:knowledge_points", "view:questions", "redis:question"},
       [](Ctx& c, const double& v) -> std::string {
         QuestionDraft d = base_draft();
         d.score = v;
         const QuestionId id = c.pair.store().questions().create(d).id;
         return c.pair.store().questions().get(id)->score == v ? "" : "score changed";
       }},
      {"papers.assemble target_mean_difficulty", "target_mean_difficulty", kPaperWrite,
       [](Ctx& c, const double& v) -> std::string {
         AssemblyRules r;
         r.count_by_type[QuestionType::kSingle] = 1;
         r.target_mean_difficulty = v;
         const auto p = c.pair.store().papers().assemble(next_paper(c), r);
         return std::fabs(p.mean_difficulty - v) <= r.mean_tolerance ? "" : "mean out of target";
       }},
      {"papers.assemble mean_tolerance", "mean_tolerance", kPaperWrite,
       [](Ctx& c, const double& v) -> std::string {
         AssemblyRules r;
         r.count_by_type[QuestionType::kSingle] = 1;
         r.target_mean_difficulty = 3;
         r.mean_tolerance = v;
         const auto p = c.pair.store().papers().assemble(next_paper(c), r);
         return std::fabs(p.mean_difficulty - 3) <= v ? "" : "mean out of tolerance";
       }},
  };
}

// ---- entry points taking a time ----

std::vector<Entry<TimePoint>> time_entries() {
  return {
      {"exams.create starts_at", "starts_at", kExamWrite,
       [](Ctx& c, const TimePoint& t) -> std::string {
         const Exam e = c.pair.store().exams().create(NewExam{"t", t, TimePoint::max(), "{}"});
         const auto back = c.pair.store().exams().get(e.id);
         return back && back->starts_at == micros(t) ? "" : "starts_at changed";
       }},
      {"exams.create ends_at", "ends_at", kExamWrite,
       [](Ctx& c, const TimePoint& t) -> std::string {
         const TimePoint start = TimePoint{} - std::chrono::hours(24 * 365 * 250);
         const Exam e = c.pair.store().exams().create(NewExam{"t", start, t, "{}"});
         const auto back = c.pair.store().exams().get(e.id);
         return back && back->ends_at == micros(t) ? "" : "ends_at changed";
       }},
      {"exams.list from",
       "from",
       {},
       [](Ctx& c, const TimePoint& t) -> std::string {
         c.pair.store().exams().list(std::nullopt, t, std::nullopt, 10);
         return std::string();
       }},
      {"violations.record occurred_at",
       "occurred_at",
       {"pg:violations", "view:violations", "view:live_counts", "redis:violations:"},
       [](Ctx& c, const TimePoint& t) -> std::string {
         const ViolationId id = c.pair.store().violations().record(
             NewViolation{c.seed.exam, c.seed.student, ViolationKind::kCustom, 1, "", "", t},
             kDurable);
         return c.pair.store().violations().get(id)->occurred_at == micros(t)
                    ? ""
                    : "occurred_at changed";
       }},
      {"violations.record_event occurred_at",
       "occurred_at",
       {"pg:events", "view:events"},
       [](Ctx& c, const TimePoint& t) -> std::string {
         const EventId id = c.pair.store().violations().record_event(
             NewEvent{c.seed.exam, c.seed.student, "k", "{}", t}, kDurable);
         for (const auto& e :
              c.pair.store().violations().events(c.seed.exam, std::nullopt, 10000)) {
           if (e.id == id) return e.occurred_at == micros(t) ? "" : "occurred_at changed";
         }
         return "recorded event is missing";
       }},
      {"students.heartbeat at",
       "at",
       {"pg:exam_attendance", "view:attendance", "redis:presence:"},
       [](Ctx& c, const TimePoint& t) -> std::string {
         c.pair.store().students().heartbeat(c.seed.exam, c.seed.student, "1.1.1.1", t);
         const auto p = c.pair.store().students().presence(c.seed.exam, c.seed.student);
         if (!p.last_heartbeat) return std::string("no heartbeat time");
         // second precision by contract; an older heartbeat never moves the time back
         const TimePoint s = std::chrono::floor<std::chrono::seconds>(t);
         return *p.last_heartbeat >= s ? "" : "heartbeat time changed";
       }},
      {"students.sweep now",
       "now",
       {"pg:exam_attendance", "view:attendance", "redis:presence:"},
       [](Ctx& c, const TimePoint& t) -> std::string {
         c.pair.store().students().sweep(c.seed.exam, t);
         return std::string();
       }},
      {"attempts.autosave at",
       "at",
       {"pg:answer", "view:answers", "redis:attempt:"},
       [](Ctx& c, const TimePoint& t) -> std::string {
         c.pair.store().attempts().autosave(
             AnswerSave{c.seed.exam, c.seed.student, c.seed.fill, ++c.seed.seq, "\"t\"", t},
             kDurable);
         return t <= kNow + 3h ? "" : "saved past the deadline";
       },
       false,
       {ErrorCode::kConflict}},  // documented: past the deadline, or the attempt is overdue
      // last: a far "now" rightly makes the seeded attempt overdue, and later autosaves conflict
      {"attempts.mark_overdue now",
       "now",
       {"pg:attempts", "view:attempt", "redis:attempt:"},
       [](Ctx& c, const TimePoint& t) -> std::string {
         c.pair.store().attempts().mark_overdue(c.seed.exam, t);
         const auto a = c.pair.store().attempts().get(c.seed.exam, c.seed.student);
         const bool overdue = a->state == AttemptState::kOverdue;
         // once overdue it stays so (an earlier, later "now" did it)
         const bool due = t > *a->deadline + c.pair.config().attempts.submit_grace;
         return !due || overdue ? "" : "past the deadline but not overdue";
       }},
  };
}

// ---- entry points taking a list or payload of a given size ----

std::vector<Value<I64>> hostile_sizes() { return {{"100k elements", 100000}}; }

std::vector<Entry<I64>> size_entries() {
  return {
      {"attempts.autosave answer over max_answer_bytes",
       "answer",
       {},
       [](Ctx& c, const I64&) -> std::string {
         const std::size_t max = c.pair.config().attempts.max_answer_bytes;
         c.pair.store().attempts().autosave(
             AnswerSave{c.seed.exam, c.seed.student, c.seed.fill, ++c.seed.seq,
                        json::quote(std::string(max, 'a')), kNow},
             kDurable);
         return std::string("an answer over max_answer_bytes was saved");
       }},
      {"questions.create options",
       "options",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         QuestionDraft d = base_draft();
         for (I64 i = 0; i < n; ++i) d.options.push_back("o" + std::to_string(i));
         c.pair.store().questions().create(d);
         return std::string("a question with too many options");
       }},
      {"questions.create media",
       "media",
       {"pg:questions", "pg:question_versions", "pg:question_knowledge_points",
        "pg:knowledge_points", "view:questions", "redis:question"},
       [](Ctx& c, const I64& n) -> std::string {
         QuestionDraft d = base_draft();
         for (I64 i = 0; i < n; ++i) d.media.push_back("img/" + std::to_string(i) + ".png");
         return question_matches(c, d);
       }},
      {"students.heartbeat_batch unenrolled",
       "student",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         std::vector<Heartbeat> beats;
         for (I64 i = 0; i < n; ++i) beats.push_back({c.seed.student + 1 + i, "1.2.3.4"});
         c.pair.store().students().heartbeat_batch(c.seed.exam, beats, kNow);
         return std::string("heartbeats of students who are not enrolled");
       },
       true},
      {"violations.record_batch last bad",
       "violations[99999]",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         std::vector<NewViolation> vs(
             static_cast<std::size_t>(n),
             NewViolation{c.seed.exam, c.seed.student, ViolationKind::kTabSwitch, 1, "", "", kNow});
         vs.back().severity = 0;
         c.pair.store().violations().record_batch(vs, kDurable);
         return std::string("a batch with a bad row was recorded");
       },
       false,
       {ErrorCode::kResourceExhausted}},
      {"questions.import_json last bad",
       "line",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         std::string doc = "[";
         for (I64 i = 0; i < n; ++i) {
           doc += std::string(i ? ",\n" : "") +
                  "{\"type\":\"fill\",\"stem\":\"s\",\"answer\":\"x\",\"score\":1,"
                  "\"difficulty\":" +
                  (i + 1 == n ? "9" : "2") + ",\"subject\":\"m\",\"knowledge_points\":[\"m/x\"]}";
         }
         c.pair.store().questions().import_json(doc + "]");
         return std::string("a bad import was stored");
       }},
      {"papers.apply many ops",
       "op 1",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         PaperOp op;
         op.question_id = c.seed.single;  // already on the paper
         c.pair.store().papers().apply(c.seed.paper,
                                       std::vector<PaperOp>(static_cast<std::size_t>(n), op));
         return std::string("a question was added twice");
       }},
      {"attempts.precreate many students",
       "student",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         AttemptPlan p;
         p.exam_id = c.seed.exam;
         p.paper = c.seed.paper;
         p.duration = 1h;
         for (I64 i = 0; i < n; ++i) p.students.push_back(c.seed.student + 1 + i);
         c.pair.store().attempts().precreate(p);
         return std::string("attempts for students who do not exist");
       },
       true},
      {"papers.assemble cover_knowledge_points",
       "cover_knowledge_points",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         AssemblyRules r;
         r.count_by_type[QuestionType::kSingle] = 1;
         for (I64 i = 0; i < n; ++i) r.cover_knowledge_points.push_back("k/" + std::to_string(i));
         c.pair.store().papers().assemble(PaperKey{"as", "d", "m", "c"}, r);
         return std::string("assembled while covering 100k points with one question");
       }},
  };
}

template <typename Pair>
struct Fixture {
  Pair pair;
  Ctx ctx{pair, test::hostile::seed(pair, kNow)};
};

}  // namespace

// ---- the security entry points (accounts, sessions, audit, personal data, grants) ----

const std::vector<std::string> kAuditWrite = {"pg:audit_log", "pg:audit_head"};

std::vector<Entry<Str>> security_entries() {
  const Principal admin = Principal::system("hostile-test");
  return {
      {"accounts.create name",
       "name",
       {"pg:users", "pg:audit_log", "pg:audit_head"},
       [admin](Ctx& c, const Str& v) -> std::string {
         NewUser u;
         u.name = v;
         u.role = Role::kTeacher;
         u.password = "a long enough password";
         c.pair.store().accounts().create(u, admin);
         const auto back = c.pair.store().accounts().find_by_name(v);
         return back ? mismatch("name", back->name, v) : "created user is missing";
       }},
      {"accounts.create password",
       "password",
       {"pg:users", "pg:audit_log", "pg:audit_head", "pg:login_log", "redis:session"},
       [admin](Ctx& c, const Str& v) -> std::string {
         NewUser u;
         u.name = "pw" + std::to_string(++c.seed.tick);
         u.role = Role::kProctor;
         u.password = v;
         c.pair.store().accounts().create(u, admin);
         // the password round-trips when it signs in
         c.pair.store().accounts().login(u.name, v, "10.9.9.9");
         return std::string();
       },
       false,
       {}},
      {"accounts.login name",
       "name",
       {"pg:login_log", "redis:login:"},
       [](Ctx& c, const Str& v) -> std::string {
         c.pair.store().accounts().login(v, "not the password", "10.0.0.1");
         return "a hostile name signed in";
       },
       false,
       {ErrorCode::kPermissionDenied, ErrorCode::kResourceExhausted},
       {},
       true},
      {"accounts.login ip",
       "ip",
       {"pg:login_log", "redis:login:"},
       [](Ctx& c, const Str& v) -> std::string {
         c.pair.store().accounts().login("nobody-at-all", "not the password", v);
         return "an unknown user signed in";
       },
       false,
       {ErrorCode::kPermissionDenied, ErrorCode::kResourceExhausted},
       {},
       true},
      {"sessions.lookup token",
       "token",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         return c.pair.store().sessions().lookup(v) ? "a hostile token is a session" : "";
       }},
      {"audit.append target", "target", kAuditWrite,
       [admin](Ctx& c, const Str& v) -> std::string {
         c.pair.store().audit().append(admin, {"hostile.test", v, "", ""});
         AuditFilter f;
         f.target = v;
         const auto back = c.pair.store().audit().list(f);
         return back.size() == 1 ? mismatch("target", back[0].target, v) : "entry not found";
       }},
      {"personal_data.find_by_email",
       "email",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         const auto s = c.pair.store().personal_data().find_by_email(v);
         return s && s->id != c.seed.student ? "a hostile email found a student" : "";
       }},
      {"access.grant_course course",
       "course",
       {"pg:teacher_courses", "pg:audit_log", "pg:audit_head"},
       [admin](Ctx& c, const Str& v) -> std::string {
         c.pair.store().access().grant_course(7001, v, admin);
         for (const auto& course : c.pair.store().access().courses_of(7001)) {
           if (course == v) return std::string();
         }
         return "granted course is missing";
       }},
  };
}

TEMPLATE_TEST_CASE("Hostile strings through every text entry point change nothing else",
                   "[hostile]", test::MemoryPair, test::RedisPostgresPair) {
  Fixture<TestType> f;
  test::hostile::run_table(f.ctx, hostile_strings(), string_entries());
}

TEMPLATE_TEST_CASE("Hostile strings through the security entry points change nothing else",
                   "[hostile][security]", test::MemoryPair, test::RedisPostgresPair) {
  Fixture<TestType> f;
  test::hostile::run_table(f.ctx, hostile_strings(), security_entries());
}

TEMPLATE_TEST_CASE("Hostile ids through every id entry point change nothing else", "[hostile]",
                   test::MemoryPair, test::RedisPostgresPair) {
  Fixture<TestType> f;
  test::hostile::run_table(f.ctx, hostile_ids(), id_entries());
}

TEMPLATE_TEST_CASE("Out of range numbers are refused or round trip", "[hostile]", test::MemoryPair,
                   test::RedisPostgresPair) {
  Fixture<TestType> f;
  test::hostile::run_table(f.ctx, hostile_ints(), int_entries());
  test::hostile::run_table(f.ctx, hostile_doubles(), double_entries());
}

TEMPLATE_TEST_CASE("Times far in the past or future are refused or round trip", "[hostile]",
                   test::MemoryPair, test::RedisPostgresPair) {
  Fixture<TestType> f;
  test::hostile::run_table(f.ctx, hostile_times(), time_entries());
}

TEMPLATE_TEST_CASE("Oversized payloads and 100k element lists are refused or round trip",
                   "[hostile]", test::MemoryPair, test::RedisPostgresPair) {
  Fixture<TestType> f;
  test::hostile::run_table(f.ctx, hostile_sizes(), size_entries());
}

// ---- grading records (grading.hpp) ----

namespace {

const std::vector<std::string> kGradingWrite = {
    "pg:classes",     "pg:class_members", "pg:assignments", "pg:submissions",
    "pg:grading_",    "view:grading",     "redis:class:",   "redis:assignment:",
    "redis:grading:", "redis:analytics:", "redis:ranking:"};

/// The grading entities of one fixture: a class with the seeded student, a 3-question
/// assignment worth 30.
struct GradingSeed {
  ClassId klass = 0;
  AssignmentId assignment = 0;
  std::int64_t made = 0;
  std::optional<Lease> lease;  ///< set by fresh_lease() in an entry's prepare
  StudentId member = 0;        ///< set by fresh_member() in an entry's prepare
};

std::map<const Ctx*, GradingSeed>& grading_seeds() {
  static std::map<const Ctx*, GradingSeed> seeds;
  return seeds;
}

GradingSeed& gseed(Ctx& c) {
  GradingSeed& g = grading_seeds()[&c];
  if (g.klass == 0) {
    GradingRepo& gr = c.pair.store().grading();
    g.klass = gr.create_class({"hostile class", "teacher-1", "math"}).id;
    gr.add_members(g.klass, {c.seed.student});
    NewAssignment a;
    a.class_id = g.klass;
    a.teacher = "teacher-1";
    a.subject = "math";
    a.title = "hostile assignment";
    a.question_count = 3;
    a.max_score = 30;
    a.deadline = kNow + 24h;
    g.assignment = gr.create_assignment(a).id;
  }
  return g;
}

NewAssignment base_assignment(Ctx& c) {
  NewAssignment a;
  a.class_id = gseed(c).klass;
  a.teacher = "teacher-1";
  a.subject = "math";
  a.title = "an assignment";
  a.question_count = 3;
  a.max_score = 30;
  a.deadline = kNow + 24h;
  return a;
}

/// A new member of the class.
StudentId new_member(Ctx& c) {
  GradingSeed& g = gseed(c);
  const StudentId s =
      c.pair.store()
          .students()
          .create(NewStudent{"g-" + std::to_string(++g.made), "Graded", "c1", "", ""})
          .id;
  c.seed.max_student = std::max(c.seed.max_student, s);
  c.pair.store().grading().add_members(g.klass, {s});
  return s;
}

/// An entry's prepare: a new member for the call to use (made before the first snapshot).
void fresh_member(Ctx& c) { gseed(c).member = new_member(c); }

/// An entry's prepare: a new pending submission for the call to claim.
void fresh_submission(Ctx& c) {
  c.pair.store().grading().submit({gseed(c).assignment, new_member(c), {"s3://b/k"}, kNow});
}

/// A new submission, claimed: its lease is kept in the seed for the entry's call.
void fresh_lease(Ctx& c) {
  GradingSeed& g = gseed(c);
  GradingRepo& gr = c.pair.store().grading();
  gr.submit({g.assignment, new_member(c), {"s3://bucket/answer.pdf"}, kNow});
  ClaimRequest r;
  r.grader.name = "grader-1";
  r.now = kNow;
  r.assignment_id = g.assignment;
  g.lease = gr.claim(r);
  REQUIRE(g.lease);
}

GradingOutcome one_grade(double score = 5) {
  GradingOutcome o;
  o.grades.push_back({1, score, 10, "ok", "rubric"});
  return o;
}

/// complete() of the seed's lease with `outcome`.
CompletionReceipt complete_seeded(Ctx& c, const GradingOutcome& outcome) {
  return c.pair.store().grading().complete(*gseed(c).lease, outcome, kNow);
}

Entry<Str> outcome_text(const char* name, const char* field,
                        std::function<void(GradingOutcome&, const Str&)> set,
                        std::function<std::string(Ctx&, const Str&)> check) {
  return {name,
          field,
          kGradingWrite,
          [set, check](Ctx& c, const Str& v) -> std::string {
            GradingOutcome o = one_grade();
            set(o, v);
            complete_seeded(c, o);
            return check(c, v);
          },
          false,
          {},
          fresh_lease};
}

Entry<Str> class_text(const char* field, std::function<void(NewClass&, const Str&)> set,
                      std::function<std::string(const SchoolClass&)> get) {
  return {std::string("grading.create_class ") + field, field, kGradingWrite,
          [set, get, field](Ctx& c, const Str& v) -> std::string {
            NewClass n{"a class", "teacher-1", "math"};
            set(n, v);
            const ClassId id = c.pair.store().grading().create_class(n).id;
            return mismatch(field, get(*c.pair.store().grading().get_class(id)), v);
          }};
}

Entry<Str> assignment_text(const char* field, std::function<void(NewAssignment&, const Str&)> set,
                           std::function<std::string(const Assignment&)> get) {
  return {std::string("grading.create_assignment ") + field, field, kGradingWrite,
          [set, get, field](Ctx& c, const Str& v) -> std::string {
            NewAssignment a = base_assignment(c);
            set(a, v);
            const AssignmentId id = c.pair.store().grading().create_assignment(a).id;
            return mismatch(field, get(*c.pair.store().grading().get_assignment(id)), v);
          }};
}

std::vector<Entry<Str>> grading_string_entries() {
  return {
      class_text(
          "name", [](NewClass& n, const Str& v) { n.name = v; },
          [](const SchoolClass& k) { return k.name; }),
      class_text(
          "teacher", [](NewClass& n, const Str& v) { n.teacher = v; },
          [](const SchoolClass& k) { return k.teacher; }),
      class_text(
          "subject", [](NewClass& n, const Str& v) { n.subject = v; },
          [](const SchoolClass& k) { return k.subject; }),
      assignment_text(
          "title", [](NewAssignment& a, const Str& v) { a.title = v; },
          [](const Assignment& a) { return a.title; }),
      assignment_text(
          "description", [](NewAssignment& a, const Str& v) { a.description = v; },
          [](const Assignment& a) { return a.description; }),
      assignment_text(
          "rubric_text", [](NewAssignment& a, const Str& v) { a.rubric_text = v; },
          [](const Assignment& a) { return a.rubric_text; }),
      assignment_text(
          "rubric_json", [](NewAssignment& a, const Str& v) { a.rubric_json = v; },
          [](const Assignment& a) { return a.rubric_json; }),
      {"grading.submit answer_files",
       "answer_files",
       kGradingWrite,
       [](Ctx& c, const Str& v) -> std::string {
         const Submission s =
             c.pair.store().grading().submit({gseed(c).assignment, gseed(c).member, {v}, kNow});
         const auto back = c.pair.store().grading().get_submission(s.id);
         return mismatch("answer file", back->answer_files.at(0), v);
       },
       false,
       {},
       fresh_member},
      {"grading.claim grader name",
       "name",
       kGradingWrite,
       [](Ctx& c, const Str& v) -> std::string {
         GradingRepo& gr = c.pair.store().grading();
         ClaimRequest r;
         r.grader.name = v;
         r.now = kNow;
         r.assignment_id = gseed(c).assignment;
         const auto lease = gr.claim(r);
         if (!lease) return "nothing claimed";
         return mismatch("lease owner", gr.get_task(lease->task.id)->lease_owner, v);
       },
       false,
       {},
       fresh_submission},
      {"grading.claim grader model",
       "model",
       kGradingWrite,
       [](Ctx& c, const Str& v) -> std::string {
         GradingRepo& gr = c.pair.store().grading();
         ClaimRequest r;
         r.grader.name = "grader-m";
         r.grader.model = v;
         r.now = kNow;
         r.assignment_id = gseed(c).assignment;
         const auto lease = gr.claim(r);
         if (!lease) return "nothing claimed";
         gr.complete(*lease, one_grade(), kNow);
         return mismatch("model", gr.results(lease->task.id).at(0).grader.model, v);
       },
       false,
       {},
       fresh_submission},
      {"grading.claim grader prompt_sha256",
       "prompt_sha256",
       kGradingWrite,
       [](Ctx& c, const Str& v) -> std::string {
         GradingRepo& gr = c.pair.store().grading();
         ClaimRequest r;
         r.grader.name = "grader-p";
         r.grader.prompt_sha256 = v;
         r.now = kNow;
         r.assignment_id = gseed(c).assignment;
         const auto lease = gr.claim(r);
         if (!lease) return "nothing claimed";
         gr.complete(*lease, one_grade(), kNow);
         return mismatch("prompt hash", gr.results(lease->task.id).at(0).grader.prompt_sha256, v);
       },
       false,
       {},
       fresh_submission},
      outcome_text(
          "grading.complete feedback", "feedback",
          [](GradingOutcome& o, const Str& v) { o.grades[0].feedback = v; },
          [](Ctx& c, const Str& v) {
            return mismatch(
                "feedback",
                c.pair.store().grading().results(gseed(c).lease->task.id).at(0).grade.feedback, v);
          }),
      outcome_text(
          "grading.complete strategy", "strategy",
          [](GradingOutcome& o, const Str& v) { o.grades[0].strategy = v; },
          [](Ctx& c, const Str& v) {
            return mismatch(
                "strategy",
                c.pair.store().grading().results(gseed(c).lease->task.id).at(0).grade.strategy, v);
          }),
      outcome_text(
          "grading.complete errors kind", "kind",
          [](GradingOutcome& o, const Str& v) {
            o.errors.push_back({1, v, "math/x", "n"});
          },
          [](Ctx& c, const Str& v) {
            return mismatch(
                "kind", c.pair.store().grading().error_analysis(gseed(c).lease->task.id).at(0).kind,
                v);
          }),
      outcome_text(
          "grading.complete errors knowledge_point", "knowledge_point",
          [](GradingOutcome& o, const Str& v) {
            o.errors.push_back({1, "concept", v, "n"});
          },
          [](Ctx& c, const Str& v) {
            return mismatch("knowledge point",
                            c.pair.store()
                                .grading()
                                .error_analysis(gseed(c).lease->task.id)
                                .at(0)
                                .knowledge_point,
                            v);
          }),
      outcome_text(
          "grading.complete grade_level", "grade_level",
          [](GradingOutcome& o, const Str& v) { o.grade_level = v; },
          [](Ctx& c, const Str& v) {
            const auto t = c.pair.store().grading().get_task(gseed(c).lease->task.id);
            // "" asks for the level derived from the percentage: 5 of 10 is an F
            return mismatch("grade level",
                            c.pair.store().grading().get_submission(*t->submission_id)->grade_level,
                            v.empty() ? "F" : v);
          }),
      outcome_text(
          "grading.complete evaluations", "evaluations",
          [](GradingOutcome& o, const Str& v) { o.evaluations = v; },
          [](Ctx& c, const Str& v) {
            const auto t = c.pair.store().grading().get_task(gseed(c).lease->task.id);
            return mismatch("evaluations",
                            c.pair.store().grading().get_submission(*t->submission_id)->evaluations,
                            v);
          }),
      {"grading.fail reason",
       "reason",
       kGradingWrite,
       [](Ctx& c, const Str& v) -> std::string {
         const GradingTask t = c.pair.store().grading().fail(*gseed(c).lease, v, kNow);
         return mismatch("last_error", c.pair.store().grading().get_task(t.id)->last_error, v);
       },
       false,
       {},
       fresh_lease},
      {"grading.regrade reason",
       "reason",
       kGradingWrite,
       [](Ctx& c, const Str& v) -> std::string {
         const GradingTask t = c.pair.store().grading().regrade(gseed(c).lease->task.id, v, kNow);
         return mismatch("last_error", c.pair.store().grading().get_task(t.id)->last_error, v);
       },
       false,
       {},
       [](Ctx& c) {
         fresh_lease(c);
         complete_seeded(c, one_grade());
       }},
  };
}

std::vector<Entry<I64>> grading_id_entries() {
  const auto read_only = [](const char* name, const char* field,
                            std::function<void(Ctx&, I64)> call) {
    // a read may fill the grading cache and build a ranking
    return Entry<I64>{name,
                      field,
                      {"redis:ranking:", "redis:analytics:", "redis:class:", "redis:assignment:",
                       "redis:grading:"},
                      [call](Ctx& c, const I64& id) -> std::string {
                        call(c, id);
                        return std::string();
                      },
                      true};
  };
  return {
      read_only("grading.get_class", "id",
                [](Ctx& c, I64 id) { c.pair.store().grading().get_class(id); }),
      read_only("grading.members", "id",
                [](Ctx& c, I64 id) { c.pair.store().grading().members(id); }),
      read_only("grading.get_assignment", "id",
                [](Ctx& c, I64 id) { c.pair.store().grading().get_assignment(id); }),
      read_only("grading.get_task", "id",
                [](Ctx& c, I64 id) { c.pair.store().grading().get_task(id); }),
      read_only("grading.results", "id",
                [](Ctx& c, I64 id) { c.pair.store().grading().results(id); }),
      read_only("grading.statistics assignment", "id",
                [](Ctx& c, I64 id) {
                  c.pair.store().grading().statistics({ScopeKind::kAssignment, id});
                }),
      read_only(
          "grading.rank_of student", "student",
          [](Ctx& c, I64 id) {
            c.pair.store().grading().rank_of({ScopeKind::kAssignment, gseed(c).assignment}, id);
          }),
      {"grading.add_members student",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().grading().add_members(gseed(c).klass, {id});
         return "an unknown student became a member";
       },
       true},
      {"grading.submit student_id",
       "student",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().grading().submit({gseed(c).assignment, id, {"s3://b/k"}, kNow});
         return "an unknown student submitted";
       },
       true,
       {ErrorCode::kConflict}},
      {"grading.create_assignment class_id",
       "class",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         NewAssignment a = base_assignment(c);
         a.class_id = id;
         c.pair.store().grading().create_assignment(a);
         return "an assignment of an unknown class";
       },
       true},
      {"grading.regrade id",
       "id",
       {},
       [](Ctx& c, const I64& id) -> std::string {
         c.pair.store().grading().regrade(id, "again", kNow);
         return "an unknown task was regraded";
       },
       true},
  };
}

std::vector<Entry<double>> grading_double_entries() {
  return {
      {"grading.complete score",
       "score",
       kGradingWrite,
       [](Ctx& c, const double& v) -> std::string {
         complete_seeded(c, one_grade(v));
         const double back =
             c.pair.store().grading().results(gseed(c).lease->task.id).at(0).grade.score;
         return back == v ? "" : "score read back as " + test::hostile::printable(back);
       },
       false,
       {},
       fresh_lease},
      {"grading.complete max_score",
       "max_score",
       kGradingWrite,
       [](Ctx& c, const double& v) -> std::string {
         GradingOutcome o = one_grade(0);
         o.grades[0].max_score = v;
         complete_seeded(c, o);
         const double back =
             c.pair.store().grading().results(gseed(c).lease->task.id).at(0).grade.max_score;
         return back == v ? "" : "max_score read back as " + test::hostile::printable(back);
       },
       false,
       {},
       fresh_lease},
      {"grading.create_assignment max_score", "max_score", kGradingWrite,
       [](Ctx& c, const double& v) -> std::string {
         NewAssignment a = base_assignment(c);
         a.max_score = v;
         const AssignmentId id = c.pair.store().grading().create_assignment(a).id;
         const double back = c.pair.store().grading().get_assignment(id)->max_score;
         return back == v ? "" : "max_score read back as " + test::hostile::printable(back);
       }},
  };
}

std::vector<Entry<I64>> grading_int_entries() {
  return {
      {"grading.create_assignment question_count", "question_count", kGradingWrite,
       [](Ctx& c, const I64& n) -> std::string {
         NewAssignment a = base_assignment(c);
         if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
           return std::string();  // not representable in the field: nothing to send
         }
         a.question_count = static_cast<int>(n);
         const AssignmentId id = c.pair.store().grading().create_assignment(a).id;
         const int back = c.pair.store().grading().get_assignment(id)->question_count;
         return back == n ? "" : "question_count read back as " + std::to_string(back);
       }},
      {"grading.complete question",
       "question",
       kGradingWrite,
       [](Ctx& c, const I64& n) -> std::string {
         GradingOutcome o = one_grade();
         o.grades[0].question = n;
         complete_seeded(c, o);
         const auto back = c.pair.store().grading().results(gseed(c).lease->task.id).at(0);
         return back.grade.question == n ? "" : "question read back wrong";
       },
       false,
       {},
       fresh_lease},
      {"grading.claim lease seconds",
       "lease",
       kGradingWrite,
       [](Ctx& c, const I64& n) -> std::string {
         GradingRepo& gr = c.pair.store().grading();
         ClaimRequest r;
         r.grader.name = "grader-l";
         r.lease = std::chrono::seconds(n);
         r.now = kNow;
         r.assignment_id = gseed(c).assignment;
         const auto lease = gr.claim(r);
         if (!lease) return "nothing claimed";
         return lease->expires_at == kNow + std::chrono::seconds(n) ? "" : "wrong expiry";
       },
       false,
       {},
       fresh_submission},
      {"grading.top n",
       "n",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
           return std::string();
         }
         c.pair.store().grading().top({ScopeKind::kAssignment, gseed(c).assignment},
                                      static_cast<int>(n));
         return std::string();
       }},
  };
}

std::vector<Entry<TimePoint>> grading_time_entries() {
  return {
      {"grading.create_assignment deadline", "deadline", kGradingWrite,
       [](Ctx& c, const TimePoint& t) -> std::string {
         NewAssignment a = base_assignment(c);
         a.deadline = t;
         const AssignmentId id = c.pair.store().grading().create_assignment(a).id;
         return c.pair.store().grading().get_assignment(id)->deadline == micros(t)
                    ? ""
                    : "deadline read back differently";
       }},
      {"grading.submit submitted_at",
       "submitted_at",
       kGradingWrite,
       [](Ctx& c, const TimePoint& t) -> std::string {
         const Submission s = c.pair.store().grading().submit(
             {gseed(c).assignment, gseed(c).member, {"s3://b/k"}, t});
         return c.pair.store().grading().get_submission(s.id)->submitted_at == micros(t)
                    ? ""
                    : "submitted_at read back differently";
       },
       false,
       {},
       fresh_member},
      {"grading.claim now", "now", kGradingWrite,
       [](Ctx& c, const TimePoint& t) -> std::string {
         GradingRepo& gr = c.pair.store().grading();
         ClaimRequest r;
         r.grader.name = "grader-t";
         r.now = t;
         r.assignment_id = gseed(c).assignment;
         gr.claim(r);
         return std::string();
       }},
  };
}

std::vector<Entry<I64>> grading_size_entries() {
  return {
      {"grading.add_members 100k unknown students",
       "student",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         std::vector<StudentId> ids;
         for (I64 i = 0; i < n; ++i) ids.push_back(c.seed.max_student + 1000 + i);
         c.pair.store().grading().add_members(gseed(c).klass, ids);
         return "100k unknown students became members";
       },
       true},
      {"grading.submit answer_files",
       "answer_files",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         NewSubmission s{gseed(c).assignment, c.seed.student, {}, kNow};
         for (I64 i = 0; i < n; ++i) s.answer_files.push_back("s3://b/" + std::to_string(i));
         c.pair.store().grading().submit(s);
         return "a submission of 100k files";
       }},
      {"grading.complete grades",
       "grades",
       {},
       [](Ctx& c, const I64& n) -> std::string {
         GradingOutcome o;
         for (I64 i = 1; i <= n; ++i) o.grades.push_back({i, 1, 1, "", ""});
         complete_seeded(c, o);
         return "100k grades accepted";
       },
       false,
       {},
       fresh_lease},
  };
}

}  // namespace

TEMPLATE_TEST_CASE("Hostile values through the grading entry points change nothing else",
                   "[hostile][grading]", test::MemoryPair, test::RedisPostgresPair) {
  Fixture<TestType> f;
  gseed(f.ctx);  // the class and assignment exist before the first snapshot
  test::hostile::run_table(f.ctx, hostile_strings(), grading_string_entries());
  test::hostile::run_table(f.ctx, hostile_ids(), grading_id_entries());
  test::hostile::run_table(f.ctx, hostile_doubles(), grading_double_entries());
  test::hostile::run_table(f.ctx, hostile_ints(), grading_int_entries());
  test::hostile::run_table(f.ctx, hostile_times(), grading_time_entries());
  test::hostile::run_table(f.ctx, hostile_sizes(), grading_size_entries());
  grading_seeds().erase(&f.ctx);
}

// ---- the examstore tool: hostile arguments and files ----

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

/// Runs the tool on the pair's backends; exit 2 (bad usage or input) becomes the
/// kInvalidArgument a library call would have thrown, naming "cli".
std::string cli(Ctx& c, const std::string& args) {
  // No EXAMSTORE_JOURNAL_DIR: one folder shared by the pairs would hold several databases' and
  // key prefixes' journals, which a Store refuses. The tool's Store places its journal itself,
  // under the test binary's own XDG_STATE_HOME (tests/support/test_env.cpp).
  const bool pg = c.pair.postgres();
  const std::string env =
      "env -u EXAMSTORE_JOURNAL_DIR EXAMSTORE_KEY_PREFIX=" + c.pair.config().key_prefix + " ";
  const std::string backends = pg ? " --redis " + shell_quote(test::redis_url()) + " --database " +
                                        shell_quote(c.pair.database_url())
                                  : " --redis memory:// --database memory://";
  const auto r = test::run_command(env + EXAMSTORE_CLI_PATH + backends + " " + args + " 2>&1");
  if (r.output.find("unexpected error") != std::string::npos) {
    return "unexpected error: " + test::hostile::printable(r.output);
  }
  // 2: bad usage; 1: a clear failure, e.g. a bad input file ("examstore: FILE: line 1: ...")
  if ((r.exit_code == 1 || r.exit_code == 2) && r.output.rfind("examstore: ", 0) == 0) {
    throw Error(ErrorCode::kInvalidArgument, "cli", r.output);
  }
  if (r.exit_code != 0) {
    return "exit " + std::to_string(r.exit_code) + ": " + test::hostile::printable(r.output);
  }
  return "";
}

std::string file_with(const std::string& content) {
  static const test::TempDir dir("hostile-files");
  const std::string path = dir / "input";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

std::vector<Entry<Str>> cli_entries() {
  const std::vector<std::string> paper_write = {"pg:papers", "pg:paper_items", "redis:paper:"};
  return {
      {"cli paper list --paper",
       "cli",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         // argv cannot carry a NUL (the shell would cut the word there) nor a word over
         // 128 KiB (MAX_ARG_STRLEN): those cannot reach the tool at all
         if (has_nul(v) || v.size() > 100000) return "";
         return cli(c, "paper list --paper " + shell_quote(v));
       }},
      {"cli questions import file",
       "cli",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         return cli(c, "questions import " + file_with(v));
       }},
      // an empty ops file creates the (empty) paper: apply() creates a paper if needed
      {"cli paper apply ops file", "cli", paper_write,
       [](Ctx& c, const Str& v) -> std::string {
         return cli(c, "paper apply --paper cli/d/m/c --ops " + file_with(v));
       }},
      {"cli paper assemble rules file",
       "cli",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         return cli(c, "paper assemble --paper cli/d/m/c --rules " + file_with(v));
       }},
      {"cli paper assemble rules subject", "cli", paper_write,
       [](Ctx& c, const Str& v) -> std::string {
         return cli(c, "paper assemble --paper cli/d/m/c2 --rules " +
                           file_with("{\"subject\":" + json::quote(v) +
                                     ",\"count_by_type\":{\"single\":1}}"));
       }},
      {"cli --database",
       "cli",
       {},
       [](Ctx& c, const Str& v) -> std::string {
         if (has_nul(v) || v.empty() || v.size() > 100000) return std::string();
         return cli(c, "--database " + shell_quote(v) + " migrate status");
       }},
  };
}

}  // namespace

TEMPLATE_TEST_CASE("Hostile arguments and files given to the examstore tool change nothing",
                   "[hostile][cli]", test::MemoryPair, test::RedisPostgresPair) {
  Fixture<TestType> f;
  test::hostile::run_table(f.ctx, hostile_strings(), cli_entries());
}

// ---- configuration: URLs, the key prefix and the environment (no backend) ----

TEST_CASE("Hostile URLs, key prefixes and environment values are refused or parsed", "[hostile]") {
  const auto clear_error = [](const std::string& field, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK(std::string(e.what()).find(field) != std::string::npos);
    } catch (const std::exception& e) {
      FAIL_CHECK("foreign exception: " << e.what());
    }
  };
  for (const auto& v : hostile_strings()) {
    INFO(v.label);
    clear_error("redis_url", [&] {
      const RedisOptions o = parse_redis_url(v.value);
      // what parsed must be a plain host: no key- or command-forging characters
      CHECK(o.host.find_first_of("\r\n {}*") == std::string::npos);
    });
    clear_error("database_url", [&] { parse_postgres_url(v.value); });
    clear_error("key_prefix", [&] {
      Config c;
      c.key_prefix = v.value;
      Store::open(c);
      CHECK(c.key_prefix.find_first_of(":{}* \r\n") == std::string::npos);
    });
    if (!has_nul(v.value)) {
      for (const char* var :
           {"EXAMSTORE_REDIS_URL", "EXAMSTORE_DATABASE_URL", "EXAMSTORE_REDIS_POOL_SIZE",
            "EXAMSTORE_CACHE_TTL_S", "EXAMSTORE_KEY_PREFIX", "EXAMSTORE_CONNECT_TIMEOUT_MS"}) {
        INFO(var);
        const char* old = std::getenv(var);
        const std::string saved = old ? old : "";
        ::setenv(var, v.value.c_str(), 1);
        clear_error(var, [] { Store::open(Config::from_env()); });
        if (old) {
          ::setenv(var, saved.c_str(), 1);
        } else {
          ::unsetenv(var);
        }
      }
    }
  }
  for (const auto& n : hostile_ints()) {
    INFO(n.label);
    ::setenv("EXAMSTORE_REDIS_POOL_SIZE", std::to_string(n.value).c_str(), 1);
    clear_error("EXAMSTORE_REDIS_POOL_SIZE", [] { Config::from_env(); });
    ::unsetenv("EXAMSTORE_REDIS_POOL_SIZE");
  }
}
