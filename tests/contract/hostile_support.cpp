#include "contract/hostile_support.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "examstore/config.hpp"
#include "repo/keys.hpp"

namespace examstore::test::hostile {

namespace {

using namespace std::chrono_literals;

std::int64_t micros(TimePoint t) {
  return std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()).count();
}
std::string micros(const std::optional<TimePoint>& t) {
  return t ? std::to_string(micros(*t)) : "-";
}

// ---- Redis, raw: every key under the pair's prefix ----

using ReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

ReplyPtr command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  REQUIRE(r != nullptr);
  return ReplyPtr(r, freeReplyObject);
}

std::string flatten(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::to_string(r->len) + ":" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return "i" + std::to_string(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::string out = "[";
      for (std::size_t i = 0; i < r->elements; ++i) out += flatten(r->element[i]) + ",";
      return out + "]";
    }
    case REDIS_REPLY_NIL:
      return "nil";
    default:
      return "error:" + std::string(r->str ? r->str : "");
  }
}

}  // namespace

struct Probe {
  std::unique_ptr<redisContext, decltype(&redisFree)> redis{nullptr, redisFree};
  std::unique_ptr<pqxx::connection> pg;
};

namespace {

Probe& probe_of(Ctx& ctx) {
  if (!ctx.probe) ctx.probe = std::make_shared<Probe>();
  Probe& p = *ctx.probe;
  if (ctx.pair.postgres() && !p.redis) {
    const RedisOptions o = parse_redis_url(redis_url());
    p.redis.reset(redisConnect(o.host.c_str(), o.port));
    REQUIRE(p.redis);
    REQUIRE(p.redis->err == 0);
    if (o.db != 0) command(p.redis.get(), {"SELECT", std::to_string(o.db)});
    p.pg = std::make_unique<pqxx::connection>(ctx.pair.database_url());
  }
  return p;
}

// Sends every command, then reads every reply: one round trip.
std::vector<ReplyPtr> pipeline(redisContext* c, const std::vector<std::vector<std::string>>& all) {
  for (const auto& args : all) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    REQUIRE(redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()) ==
            REDIS_OK);
  }
  std::vector<ReplyPtr> replies;
  for (std::size_t i = 0; i < all.size(); ++i) {
    void* r = nullptr;
    REQUIRE(redisGetReply(c, &r) == REDIS_OK);
    REQUIRE(r != nullptr);
    replies.emplace_back(static_cast<redisReply*>(r), freeReplyObject);
  }
  return replies;
}

void add_redis(Snapshot& out, redisContext* c, const std::string& prefix) {
  std::set<std::string> found;
  std::string cursor = "0";
  do {
    const auto r = command(c, {"SCAN", cursor, "MATCH", prefix + ":*", "COUNT", "1000"});
    REQUIRE(r->type == REDIS_REPLY_ARRAY);
    cursor = std::string(r->element[0]->str, r->element[0]->len);
    for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
      found.emplace(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
    }
  } while (cursor != "0");
  const std::vector<std::string> keys(found.begin(), found.end());
  std::vector<std::vector<std::string>> commands;
  for (const auto& k : keys) commands.push_back({"TYPE", k});
  std::vector<std::string> types;
  for (const auto& t : pipeline(c, commands)) types.emplace_back(t->str, t->len);
  commands.clear();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string& k = keys[i];
    const std::string& type = types[i];
    if (type == "string")
      commands.push_back({"GET", k});
    else if (type == "hash")
      commands.push_back({"HGETALL", k});
    else if (type == "zset")
      commands.push_back({"ZRANGE", k, "0", "-1", "WITHSCORES"});
    else if (type == "list")
      commands.push_back({"LRANGE", k, "0", "-1"});
    else if (type == "set")
      commands.push_back({"SORT", k, "ALPHA"});
    else
      commands.push_back({"EXISTS", k});  // "none", or a type the suite does not read
  }
  const auto values = pipeline(c, commands);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string& type = types[i];
    const redisReply* v = values[i].get();
    const bool read =
        type == "string" || type == "hash" || type == "zset" || type == "list" || type == "set";
    // A key that expired between SCAN and here (a negative-cache marker's TTL running out on
    // a loaded machine) is gone: Redis answers TYPE "none", GET nil, or an empty collection.
    if (type == "none" || (read && (v->type == REDIS_REPLY_NIL ||
                                    (v->type == REDIS_REPLY_ARRAY && v->elements == 0)))) {
      continue;
    }
    out["redis:" + keys[i]] = type + " " + (read ? flatten(v) : std::string("?"));
  }
}

// ---- PostgreSQL, raw: row count and checksum of every table ----

// The first column of the first row ("" when NULL or none).
std::string value_of(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
}

void add_postgres(Snapshot& out, pqxx::connection& c) {
  static const char* const kTables =
      "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
      "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'";
  std::stringstream names(value_of(c, kTables));
  std::string sql;
  std::vector<std::string> tables;
  for (std::string t; std::getline(names, t, ',');) {
    if (!sql.empty()) sql += " UNION ALL ";
    // names from the catalogue, quoted as identifiers
    sql += "SELECT '" + t +
           "' || ':' || count(*) || ':' || "
           "coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') AS x FROM \"" +
           t + "\" t";
    tables.push_back(t);
  }
  REQUIRE(!tables.empty());
  std::stringstream rows(value_of(c, "SELECT string_agg(x, '|' ORDER BY x) FROM (" + sql + ") s"));
  for (std::string row; std::getline(rows, row, '|');) {
    const auto colon = row.find(':');
    out["pg:" + row.substr(0, colon)] = row.substr(colon + 1);
  }
}

// ---- the public view: what the memory backends hold, read back through the API ----

std::string cache_value(Cache& cache, const std::string& key) {
  try {
    const auto v = cache.get(key);
    return v ? "s" + std::to_string(v->size()) + ":" + *v : "";
  } catch (const Error&) {
  }
  try {
    std::string out = "h";
    for (const auto& [f, v] : cache.hgetall(key)) out += f + "=" + v + ";";
    return out;
  } catch (const Error&) {
  }
  std::string out = "z";
  for (const auto& m : cache.zrange(key, 0, -1)) out += m.member + "=" + printable(m.score) + ";";
  return out;
}

void add_hot(Snapshot& out, Ctx& ctx) {
  const std::string p = ctx.pair.config().key_prefix;
  const keys::KeySchema k(p + ":");
  const Seed& s = ctx.seed;
  std::vector<std::string> names = {
      k.exam(s.exam), keys::generation(k.exam(s.exam)), k.student(s.student),
      keys::generation(k.student(s.student)), k.presence_heartbeats(s.exam),
      k.presence_states(s.exam), k.presence_counts(s.exam), k.violation_counts(s.exam),
      k.violation_counts_by_student(s.exam), k.attempt(s.exam, s.student),
      k.attempt_answers(s.exam, s.student),
      // what a forged id or key would have written to
      p + ":exam:{e:2}", p + ":1:x", p + ":*", "{e:2}", "*", p + ":exam:{e:1}:x"};
  for (const auto& n : ctx.pair.paper_keys(s.paper)) names.push_back(n);
  for (const auto& n : names) {
    std::string v = cache_value(ctx.pair.store().cache(), n);
    if (!v.empty()) out["hot:" + n] = std::move(v);
  }
}

std::string exam_text(const Exam& e) {
  std::ostringstream o;
  o << e.id << "|" << e.name << "|" << to_string(e.status) << "|" << e.config << "|"
    << e.config_version << "|" << e.version << "|" << micros(e.starts_at) << "|"
    << micros(e.ends_at);
  return o.str();
}

std::string violation_text(const Violation& v) {
  std::ostringstream o;
  o << v.id << "|" << v.exam_id << "|" << v.student_id << "|" << to_string(v.kind) << "|"
    << v.severity << "|" << v.reason << "|" << v.screenshot_path << "|" << micros(v.occurred_at)
    << "|" << to_string(v.state) << "|" << v.reviewed_by << "|" << v.review_note;
  return o.str();
}

/// The grading records of the memory database (ids from 1: the suite makes few).
void add_grading_view(Snapshot& out, Store& st) {
  GradingRepo& g = st.grading();
  std::ostringstream o;
  for (ClassId id = 1; id <= 64; ++id) {
    if (const auto c = g.get_class(id)) {
      o << "c" << c->id << "|" << c->name << "|" << c->teacher << "|" << c->subject << "|";
      for (StudentId m : g.members(id)) o << m << ",";
      o << "\n";
    }
  }
  for (AssignmentId id = 1; id <= 64; ++id) {
    if (const auto a = g.get_assignment(id)) {
      o << "a" << a->id << "|" << a->title << "|" << a->description << "|" << a->rubric_text << "|"
        << a->rubric_json << "|" << a->question_count << "|" << printable(a->max_score) << "|"
        << micros(a->deadline) << "\n";
      for (const auto& s : g.submissions(id)) {
        o << "s" << s.id << "|" << s.student_id << "|" << micros(s.submitted_at) << "|"
          << s.grade_level << "|" << s.evaluations << "|" << s.annotations << "|";
        for (const auto& f : s.answer_files) o << f << ",";
        o << "\n";
      }
    }
  }
  TaskFilter all;
  all.limit = 10000;
  for (const auto& t : g.tasks(all)) {
    o << "t" << t.id << "|" << to_string(t.state) << "|" << t.run << "|" << t.tries << "|"
      << t.token << "|" << t.lease_owner << "|" << t.last_error << "\n";
    for (const auto& r : g.result_history(t.id)) {
      o << "r" << r.run << "|" << r.grade.question << "|" << printable(r.grade.score) << "|"
        << r.grade.feedback << "|" << r.grade.strategy << "|" << r.grader.name << "|"
        << r.grader.model << "\n";
    }
    for (const auto& e : g.error_analysis(t.id)) {
      o << "e" << e.question << "|" << e.kind << "|" << e.knowledge_point << "|" << e.note << "\n";
    }
  }
  out["view:grading"] = o.str();
}

void add_view(Snapshot& out, Ctx& ctx) {
  Store& st = ctx.pair.store();
  const Seed& s = ctx.seed;
  std::string t;
  for (const auto& e : st.exams().list(std::nullopt, std::nullopt, std::nullopt, 10000)) {
    t += exam_text(e) + "\n";
  }
  out["view:exams"] = t;
  t.clear();
  for (const auto& c : st.exams().config_history(s.exam)) {
    t += std::to_string(c.version) + "|" + c.changed_by + "|" + c.new_config + "\n";
  }
  out["view:exam_config_changes"] = t;
  t.clear();
  for (StudentId id = 1; id <= s.max_student + 2; ++id) {
    if (const auto x = st.students().get(id)) {
      t += std::to_string(x->id) + "|" + x->external_no + "|" + x->name + "|" + x->class_name +
           "|" + x->email + "|" + x->phone + "\n";
    }
  }
  out["view:students"] = t;
  if (const auto a = st.students().attendance(s.exam, s.student)) {
    out["view:attendance"] = std::string(to_string(a->status)) + "|" + a->last_ip + "|" +
                             micros(a->login_at) + "|" + micros(a->logout_at);
  }
  t.clear();
  ViolationQuery q;
  q.exam_id = s.exam;
  q.limit = 10000;
  for (const auto& v : st.violations().query(q)) t += violation_text(v) + "\n";
  out["view:violations"] = t;
  t.clear();
  for (const auto& e : st.violations().events(s.exam, std::nullopt, 10000)) {
    t += std::to_string(e.id) + "|" + e.kind + "|" + e.payload + "|" +
         std::to_string(micros(e.occurred_at)) + "\n";
  }
  out["view:events"] = t;
  t.clear();
  for (const auto& [k, n] : st.violations().live_counts(s.exam)) {
    t += std::string(to_string(k)) + "=" + std::to_string(n) + ";";
  }
  out["view:live_counts"] = t;
  QuestionSearch all;
  all.limit = 10000;
  out["view:questions"] = st.questions().export_json(all);
  t.clear();
  for (const auto& i : st.papers().items(s.paper)) {
    t += std::to_string(i.question_id) + "@" + std::to_string(i.question_version) + ";";
  }
  out["view:papers"] = t;
  if (const auto a = st.attempts().get(s.exam, s.student)) {
    out["view:attempt"] = std::string(to_string(a->state)) + "|" + a->receipt + "|" +
                          std::to_string(a->extra_time.count());
  }
  t.clear();
  for (const auto& a : st.attempts().answers(s.exam, s.student)) {
    t += std::to_string(a.question_id) + "|" + std::to_string(a.seq) + "|" + a.answer + "\n";
  }
  out["view:answers"] = t;
  if (!ctx.pair.postgres()) add_grading_view(out, st);  // PostgreSQL: its tables are compared
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool may_change(const Ctx& ctx, const std::vector<std::string>& allowed, const std::string& part) {
  const std::string p = ctx.pair.config().key_prefix + ":";
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
    for (const char* kind : {"redis:", "hot:"}) {
      if (starts_with(a, "redis:") && starts_with(part, kind + p + a.substr(6))) return true;
    }
    return starts_with(part, a);
  });
}

}  // namespace

Seed seed(StorePair& pair, TimePoint now) {
  Store& st = pair.store();
  Seed s;
  s.exam = st.exams().create(NewExam{"seeded exam", now - 1h, now + 3h, "{\"a\":1}"}).id;
  st.exams().transition(s.exam, ExamStatus::kRunning);
  s.student = st.students().create(NewStudent{"s-1", "Seeded", "c1", "s@x", "1"}).id;
  s.max_student = s.student;
  st.students().enroll(s.exam, s.student);
  s.single = pair.question(QuestionType::kSingle);
  s.fill = pair.question(QuestionType::kFill);
  s.paper = PaperKey{"hostile", "dept", "major", "course"};
  PaperOp a;
  a.question_id = s.single;
  PaperOp b;
  b.question_id = s.fill;
  st.papers().apply(s.paper, {a, b});
  AttemptPlan plan;
  plan.exam_id = s.exam;
  plan.paper = s.paper;
  plan.duration = 2h;
  plan.students = {s.student};
  st.attempts().precreate(plan);
  st.attempts().start(s.exam, s.student, now, Durability::kCommitted);
  st.students().heartbeat(s.exam, s.student, "10.0.0.1", now);
  s.violation = st.violations().record(
      NewViolation{s.exam, s.student, ViolationKind::kTabSwitch, 2, "seeded", "", now},
      Durability::kCommitted);
  st.flush();
  return s;
}

Snapshot snapshot(Ctx& ctx) {
  ctx.pair.store().flush();
  Snapshot out;
  // The view first: its reads fill the cache, so the raw Redis state after it is settled.
  add_view(out, ctx);
  add_hot(out, ctx);
  if (ctx.pair.postgres()) {
    Probe& p = probe_of(ctx);
    add_redis(out, p.redis.get(), ctx.pair.config().key_prefix);
    add_postgres(out, *p.pg);
  }
  return out;
}

std::vector<std::string> diff(const Snapshot& before, const Snapshot& after) {
  // the "absent" marker of repo/cache_aside.cpp, as add_redis and cache_value print it
  const auto absent = [](const std::string& v) {
    return v == std::string("string 1:\0", 10) || v == std::string("s1:\0", 4);
  };
  std::vector<std::string> out;
  for (const auto& [k, v] : before) {
    const auto it = after.find(k);
    if (it == after.end()) {
      if (!absent(v)) out.push_back(k);
    } else if (it->second != v && !absent(v) && !absent(it->second)) {
      // A cache-aside entry that went from "absent" to a value (or back) was filled or dropped
      // by the snapshot's own reads as the marker's TTL ran out: what readers see is compared
      // by the view parts, and the durable state by the pg parts.
      out.push_back(k);
    }
  }
  for (const auto& [k, v] : after) {
    if (!before.count(k) && !absent(v)) out.push_back(k);
  }
  return out;
}

std::string printable(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 60; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > 60) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}
std::string printable(std::int64_t v) { return std::to_string(v); }
std::string printable(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}
std::string printable(TimePoint t) { return std::to_string(t.time_since_epoch().count()) + " ns"; }

template <typename V>
void run_case(Ctx& ctx, const Entry<V>& entry, const Value<V>& value) {
  INFO(entry.name << " with " << value.label << " (" << printable(value.value) << ")");
  if (entry.prepare) entry.prepare(ctx);
  const Snapshot before = snapshot(ctx);
  bool threw = false;
  std::string verdict;
  try {
    verdict = entry.call(ctx, value.value);
  } catch (const Error& e) {
    threw = true;
    const std::string what = e.what();
    const bool invalid =
        e.code() == ErrorCode::kInvalidArgument && what.find(entry.field) != std::string::npos;
    const bool not_found = entry.not_found_ok && e.code() == ErrorCode::kNotFound;
    const bool documented =
        std::find(entry.also_ok.begin(), entry.also_ok.end(), e.code()) != entry.also_ok.end();
    if (!invalid && !not_found && !documented) {
      FAIL_CHECK("unexpected error " << to_string(e.code()) << ": " << printable(what));
    }
  } catch (const std::exception& e) {
    threw = true;
    FAIL_CHECK("foreign exception: " << printable(std::string(e.what())));
  }
  if (!threw && !verdict.empty()) FAIL_CHECK("no exact round trip: " << verdict);
  const Snapshot after = snapshot(ctx);
  for (const auto& part : diff(before, after)) {
    const bool allowed =
        (!threw || entry.records_refusals) && may_change(ctx, entry.may_change, part);
    if (!allowed) FAIL_CHECK("changed " << part);
  }
}

template void run_case(Ctx&, const Entry<std::string>&, const Value<std::string>&);
template void run_case(Ctx&, const Entry<std::int64_t>&, const Value<std::int64_t>&);
template void run_case(Ctx&, const Entry<double>&, const Value<double>&);
template void run_case(Ctx&, const Entry<TimePoint>&, const Value<TimePoint>&);

}  // namespace examstore::test::hostile
