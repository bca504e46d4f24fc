// The monthly partitions of events and violations (migration 0009, db/partitions.hpp,
// docs/partitioning.md): the migration keeps every row both ways, a write for a month without a
// partition is kept, maintain creates, detaches and drops as told and is idempotent, the
// application role is refused, and a query by exam and time reads only its months' partitions.
#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "db/migrator.hpp"
#include "db/partitions.hpp"
#include "db/pg_pool.hpp"
#include "db/pg_violation_sql.hpp"
#include "db/sql_params.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Durability;
using examstore::Error;
using examstore::ErrorCode;
using examstore::TimePoint;
using examstore::db::ExpireAction;
using examstore::db::maintain_partitions;
using examstore::db::Migrator;
using examstore::db::PartitionOptions;
using examstore::db::PartitionReport;
using examstore::db::PgPool;
using examstore::test::TempDatabase;

// A UTC time from "YYYY-MM-DD HH:MM:SS".
TimePoint utc(const char* text) {
  std::tm tm{};
  REQUIRE(strptime(text, "%Y-%m-%d %H:%M:%S", &tm) != nullptr);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

PartitionOptions at(const char* now, int ahead = 3) {
  PartitionOptions o;
  o.now = utc(now);
  o.months_ahead = ahead;
  return o;
}

std::vector<std::string> changes_of(const PartitionReport& r) {
  std::vector<std::string> out;
  for (const auto& c : r.changes) out.push_back(c.action + " " + c.partition);
  return out;
}

std::string partitions_of(const TempDatabase& db, const std::string& table) {
  return db.query_value(
      "SELECT coalesce(string_agg(c.relname, ',' ORDER BY c.relname), '') FROM pg_inherits i"
      " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '" +
      table + "'::regclass");
}

// Every row of the table as text, in id order: equal before and after means every column of
// every row (ids included) survived.
std::string rows_of(const TempDatabase& db, const std::string& table) {
  return db.query_value(
      "SELECT md5(string_agg(t::text, '|' ORDER BY id)) || ' ' || count(*) FROM " + table + " t");
}

// An exam and a student in the database (ids 1 and 1), made with plain SQL as the owner.
void seed_exam_and_student(const TempDatabase& db) {
  db.query_value(
      "INSERT INTO exams (id, name, starts_at, ends_at) VALUES"
      " (1, 'e', '2026-01-01 00:00+00', '2026-01-01 02:00+00')");
  db.query_value("INSERT INTO students (id, external_no, name) VALUES (1, 's1', 'n')");
}

void insert_violation(const TempDatabase& db, long id, const std::string& at) {
  db.query_value(
      "INSERT INTO violations (id, exam_id, student_id, kind, severity, occurred_at) VALUES (" +
      std::to_string(id) + ", 1, 1, 'tab_switch', 2, '" + at + "')");
}

}  // namespace

TEST_CASE("partition migration 0009 keeps every row and id of several months and down restores",
          "[partition][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  Migrator migrator(pool, examstore::db::shipped_migrations());
  REQUIRE(migrator.up(8).size() == 8);
  seed_exam_and_student(db);
  // months long past, recent, and far ahead; the microseconds and month edges survive
  const std::vector<std::string> times = {"2019-06-30 23:59:59.999999+00", "2019-07-01 00:00:00+00",
                                          "2026-01-15 12:00:00.000001+00",
                                          "2026-01-31 23:30:00-02",  // February in UTC
                                          "2040-12-31 23:59:59+00"};
  long id = 1;
  for (const auto& t : times) {
    insert_violation(db, id, t);
    db.query_value(
        "INSERT INTO events (id, exam_id, student_id, kind, payload, occurred_at) VALUES (" +
        std::to_string(id) + ", 1, 1, 'k', '{\"n\": " + std::to_string(id) + "}', '" + t + "')");
    ++id;
  }
  const std::string violations_before = rows_of(db, "violations");
  const std::string events_before = rows_of(db, "events");

  REQUIRE(migrator.up(1) == std::vector<int>{9});
  CHECK(db.query_value("SELECT relkind FROM pg_class WHERE oid = 'violations'::regclass") == "p");
  CHECK(db.query_value("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass") == "p");
  CHECK(rows_of(db, "violations") == violations_before);
  CHECK(rows_of(db, "events") == events_before);
  for (const std::string table : {"violations", "events"}) {
    INFO(table);
    // each row sits in the partition of its UTC month; none in the default partition
    CHECK(db.query_value("SELECT count(*) FROM " + table + " WHERE tableoid::regclass::text <> '" +
                         table + "_p' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY_MM')") ==
          "0");
    CHECK(db.query_value("SELECT count(*) FROM " + table + "_default") == "0");
    const std::string parts = partitions_of(db, table);
    for (const std::string month : {"2019_06", "2019_07", "2026_01", "2026_02", "2040_12"}) {
      CHECK_THAT(parts, Catch::Contains(table + "_p" + month));
    }
  }
  // the current month and the three after it exist: maintain has nothing to add
  CHECK(maintain_partitions(pool, PartitionOptions{}).changes.empty());
  // the sequences stayed with the tables
  CHECK(db.query_value("SELECT count(*) FROM pg_depend d JOIN pg_class s ON s.oid = d.objid"
                       " WHERE s.relname IN ('violation_id_seq', 'event_id_seq')"
                       " AND d.refobjid IN ('violations'::regclass, 'events'::regclass)") == "2");

  REQUIRE(migrator.down(1) == std::vector<int>{9});
  CHECK(db.query_value("SELECT relkind FROM pg_class WHERE oid = 'violations'::regclass") == "r");
  CHECK(db.query_value("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass") == "r");
  CHECK(rows_of(db, "violations") == violations_before);
  CHECK(rows_of(db, "events") == events_before);
  CHECK(db.query_value("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_p20%'") == "0");
  CHECK(db.query_value("SELECT nextval('violation_id_seq') > 0") == "t");

  REQUIRE(migrator.up(1) == std::vector<int>{9});
  CHECK(rows_of(db, "violations") == violations_before);
}

TEMPLATE_TEST_CASE("partition a violation and an event of a month without a partition are kept",
                   "[partition]", examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  auto& store = pair.store();
  const auto exam = store.exams().create([] {
    examstore::NewExam e;
    e.name = "partitioned";
    e.starts_at = utc("2026-01-01 09:00:00");
    e.ends_at = e.starts_at + std::chrono::hours(2);
    return e;
  }());
  const auto student = store.students().create([] {
    examstore::NewStudent s;
    s.external_no = examstore::test::unique_name("p");
    s.name = "Ada";
    return s;
  }());
  store.students().enroll(exam.id, student.id);
  std::vector<examstore::ViolationId> ids;
  std::vector<examstore::EventId> event_ids;
  for (const char* when : {"1999-03-03 10:00:00", "2077-08-08 08:00:00"}) {
    examstore::NewViolation v;
    v.exam_id = exam.id;
    v.student_id = student.id;
    v.kind = examstore::ViolationKind::kTabSwitch;
    v.severity = 3;
    v.occurred_at = utc(when);
    ids.push_back(store.violations().record(v, Durability::kCommitted));
    examstore::NewEvent e;
    e.exam_id = exam.id;
    e.student_id = student.id;
    e.kind = "focus";
    e.occurred_at = utc(when);
    event_ids.push_back(store.violations().record_event(e, Durability::kCommitted));
  }
  const auto check_kept = [&] {
    for (const auto id : ids) CHECK(store.violations().get(id));
    examstore::ViolationQuery q;
    q.exam_id = exam.id;
    q.from = utc("2077-08-01 00:00:00");
    q.to = utc("2077-09-01 00:00:00");
    const auto found = store.violations().query(q);
    REQUIRE(found.size() == 1);
    CHECK(found[0].id == ids[1]);
    const auto events = store.violations().events(exam.id, student.id);
    REQUIRE(events.size() == 2);
    CHECK(events[0].id == event_ids[0]);
    CHECK(events[1].id == event_ids[1]);
  };
  check_kept();
  if (pair.postgres()) {
    // both months fall outside the partitions (current month + 3): the default partition has them
    CHECK(pair.query_value("SELECT count(*) FROM violations_default") == "2");
    CHECK(pair.query_value("SELECT count(*) FROM events_default") == "2");
    // maintain planned from 2077 moves August's rows into a partition of their own; 1999,
    // older than the retention, stays in the default partition (without retention it would get
    // a partition too)
    PgPool pool(examstore::parse_postgres_url(pair.database_url()));
    PartitionOptions o = at("2077-06-15 00:00:00", 3);
    o.retention_months = 12;
    const auto report = maintain_partitions(pool, o);
    CHECK(report.default_rows == std::vector<std::int64_t>{1, 1});
    CHECK(pair.query_value("SELECT count(*) FROM violations_p2077_08") == "1");
    CHECK(pair.query_value("SELECT count(*) FROM events_p2077_08") == "1");
    CHECK(pair.query_value("SELECT count(*) FROM violations_default") == "1");
  }
  check_kept();
}

TEST_CASE("partition maintain creates ahead, detaches or drops by retention, and is idempotent",
          "[partition]") {
  TempDatabase db;
  (void)db.migrate_and_restrict();
  seed_exam_and_student(db);
  PgPool pool(examstore::parse_postgres_url(db.url()));

  // ahead of a far month: that month and two more, for both tables; then nothing
  auto report = maintain_partitions(pool, at("2030-06-15 12:00:00", 2));
  CHECK(changes_of(report) ==
        std::vector<std::string>{"create events_p2030_06", "create events_p2030_07",
                                 "create events_p2030_08", "create violations_p2030_06",
                                 "create violations_p2030_07", "create violations_p2030_08"});
  CHECK(maintain_partitions(pool, at("2030-06-15 12:00:00", 2)).changes.empty());
  CHECK(db.query_value("SELECT count(*) FROM violations_p2030_07") == "0");

  // rows of January 2030 and of 2001 wait in the default partition; maintain gives January its
  // partition (not 2001: older than the retention) and detaches the partitions the migration
  // made for the real months (years before 2030)
  insert_violation(db, 1, "2030-01-10 00:00:00+00");
  insert_violation(db, 2, "2030-01-20 00:00:00+00");
  insert_violation(db, 3, "2001-01-01 00:00:00+00");
  PartitionOptions keep6 = at("2030-06-15 12:00:00", 2);
  keep6.retention_months = 6;
  keep6.dry_run = true;
  const std::string before = partitions_of(db, "violations");
  const auto check_plan = [](const PartitionReport& r) {
    int creates = 0;
    for (const auto& c : r.changes) {
      INFO(c.action << " " << c.partition);
      if (c.action == "create") {
        ++creates;
        CHECK(c.partition == "violations_p2030_01");
        CHECK(c.rows_moved == 2);
      } else {
        CHECK(c.action == "detach");
        CHECK(c.partition < c.table + "_p2029_12");
      }
    }
    CHECK(creates == 1);
    CHECK(r.changes.size() == 9);  // and the 4 months the migration made, of both tables
    CHECK(r.default_rows == std::vector<std::int64_t>{0, 1});
  };
  check_plan(maintain_partitions(pool, keep6));
  CHECK(partitions_of(db, "violations") == before);  // the dry run changed nothing
  CHECK(db.query_value("SELECT count(*) FROM violations_default") == "3");
  keep6.dry_run = false;
  check_plan(maintain_partitions(pool, keep6));
  CHECK(db.query_value("SELECT count(*) FROM violations_p2030_01") == "2");
  CHECK(db.query_value("SELECT count(*) FROM violations_default") == "1");
  CHECK(db.query_value("SELECT count(*) FROM violations") == "3");
  CHECK(maintain_partitions(pool, keep6).changes.empty());
  // the new partition has the parent's key: an identical replay through the parent is skipped
  CHECK(
      db.query_value("INSERT INTO violations (id, exam_id, student_id, kind, severity, occurred_at)"
                     " VALUES (1, 1, 1, 'tab_switch', 2, '2030-01-10 00:00:00+00')"
                     " ON CONFLICT (id, occurred_at) DO NOTHING RETURNING id") == "");
  CHECK(db.query_value("SELECT count(*) FROM violations") == "3");

  // retention 3 months from June 2030: January 2030 is detached, kept as a table of its own,
  // out of the parent
  PartitionOptions keep3 = at("2030-06-15 12:00:00", 2);
  keep3.retention_months = 3;
  report = maintain_partitions(pool, keep3);
  CHECK(changes_of(report) == std::vector<std::string>{"detach violations_p2030_01"});
  CHECK(db.query_value("SELECT count(*) FROM violations") == "1");  // the 2001 row, in default
  CHECK(db.query_value("SELECT count(*) FROM violations_p2030_01") == "2");
  CHECK(partitions_of(db, "violations") ==
        "violations_default,violations_p2030_06,violations_p2030_07,violations_p2030_08");
  CHECK(maintain_partitions(pool, keep3).changes.empty());

  // half a year on, dropping: June to August 2030 go for good, December and January arrive
  PartitionOptions drop = at("2030-12-01 00:00:00", 1);
  drop.retention_months = 3;
  drop.expire = ExpireAction::kDrop;
  report = maintain_partitions(pool, drop);
  CHECK(changes_of(report) ==
        std::vector<std::string>{"create events_p2030_12", "create events_p2031_01",
                                 "drop events_p2030_06", "drop events_p2030_07",
                                 "drop events_p2030_08", "create violations_p2030_12",
                                 "create violations_p2031_01", "drop violations_p2030_06",
                                 "drop violations_p2030_07", "drop violations_p2030_08"});
  CHECK(db.query_value("SELECT to_regclass('violations_p2030_06') IS NULL") == "t");
  CHECK(db.query_value("SELECT to_regclass('violations_p2030_01') IS NOT NULL") == "t");
  CHECK(maintain_partitions(pool, drop).changes.empty());

  // the application role still reads and writes through the parent, new partitions included
  const std::string app = TempDatabase::kAppRole;
  CHECK(db.query_value_as(app,
                          "INSERT INTO violations (id, exam_id, student_id, kind, severity,"
                          " occurred_at) VALUES (10, 1, 1, 'no_face', 1, '2030-12-24 00:00+00')"
                          " RETURNING tableoid::regclass") == "violations_p2030_12");
  CHECK(db.query_value_as(app, "SELECT count(*) FROM violations") == "2");
}

TEST_CASE("partition maintain refuses the application role and bad options, changing nothing",
          "[partition]") {
  TempDatabase db;
  const std::string app_url = db.migrate_and_restrict();
  PgPool app(examstore::parse_postgres_url(app_url));
  const std::string before = partitions_of(db, "events");
  try {
    maintain_partitions(app, at("2031-01-01 00:00:00"));
    FAIL("maintain ran as the application role");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kPermissionDenied);
    CHECK_THAT(std::string(e.what()),
               Catch::Contains("database owner") && Catch::Contains("application role has no DDL"));
  }
  CHECK(partitions_of(db, "events") == before);

  PgPool owner(examstore::parse_postgres_url(db.url()));
  PartitionOptions bad;
  bad.months_ahead = -1;
  CHECK_THROWS_WITH(maintain_partitions(owner, bad), Catch::Contains("months_ahead"));
  bad = PartitionOptions{};
  bad.retention_months = 1201;
  CHECK_THROWS_WITH(maintain_partitions(owner, bad), Catch::Contains("retention_months"));

  // before migration 0009 there is nothing to maintain
  Migrator migrator(owner, examstore::db::shipped_migrations());
  migrator.down(static_cast<int>(examstore::db::shipped_migrations().size()) - 8);
  try {
    maintain_partitions(owner, PartitionOptions{});
    FAIL("maintain ran on an unpartitioned schema");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kConflict);
    CHECK_THAT(std::string(e.what()), Catch::Contains("migrate up"));
  }
}

TEST_CASE("partition a violation query by exam and time reads only the partitions of its months",
          "[partition]") {
  TempDatabase db;
  (void)db.migrate_and_restrict();
  seed_exam_and_student(db);
  PgPool pool(examstore::parse_postgres_url(db.url()));
  maintain_partitions(pool, at("2031-01-01 00:00:00", 5));  // January to June 2031
  for (int month = 1; month <= 6; ++month) {
    insert_violation(db, month, "2031-0" + std::to_string(month) + "-10 00:00:00+00");
  }
  db.query_value("ANALYZE violations");

  examstore::db::ViolationFilter f;
  f.exam_id = 1;
  f.from = utc("2031-03-01 00:00:00");
  f.to = utc("2031-05-01 00:00:00");
  f.limit = 100;
  examstore::db::SqlParams params;
  const std::string sql = examstore::db::violation_query_sql(f, params);
  std::string plan;
  pool.transact("explain", [&](pqxx::work& tx) {
    plan.clear();
    for (const auto& row : params.exec(tx, "EXPLAIN (COSTS OFF) " + sql)) {
      plan += row[0].c_str();
      plan += "\n";
    }
  });
  INFO(plan);
  CHECK_THAT(plan,
             Catch::Contains("violations_p2031_03") && Catch::Contains("violations_p2031_04"));
  for (const std::string other :
       {"violations_p2031_01", "violations_p2031_02", "violations_p2031_05", "violations_p2031_06",
        "violations_default"}) {
    CHECK_THAT(plan, !Catch::Contains(other));
  }
  // and the query itself finds the two rows of March and April
  std::string ids;
  pool.transact("query", [&](pqxx::work& tx) {
    ids.clear();
    for (const auto& row : params.exec(tx, sql)) ids += std::string(row[0].c_str()) + " ";
  });
  CHECK(ids == "3 4 ");
}

TEST_CASE("partition examstore maintain runs as the owner, refuses the application role",
          "[partition][cli]") {
  TempDatabase db;
  const std::string app_url = db.migrate_and_restrict();
  using examstore::test::run_cli;
  // the migration made this month and the three after it
  auto r = run_cli("--database " + db.url() + " maintain");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "nothing to do: the partitions are up to date\n");
  r = run_cli("--database " + db.url() + " --json maintain --months-ahead 5 --dry-run");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::StartsWith("{\"dry_run\":true,\"changes\":[{\"table\":\"events\"") &&
                           Catch::EndsWith("\"default_rows\":{\"events\":0,\"violations\":0}}\n"));
  CHECK(db.query_value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass") ==
        "5");  // 4 months and the default: the dry run added none
  r = run_cli("--database " + db.url() + " maintain --months-ahead 5");
  CHECK(r.exit_code == 0);
  CHECK(db.query_value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass") ==
        "7");

  r = run_cli("--database " + app_url + " maintain");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("the application role has no DDL"));
  r = run_cli("--database " + db.url() + " maintain --drop");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("--drop and --detach need --retention-months"));
  r = run_cli("--database " + db.url() + " maintain --months-ahead x");
  CHECK(r.exit_code == 2);
  r = run_cli("--database memory:// --json maintain");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("in-memory database keeps no partitions") &&
                           Catch::Contains("\"changes\":[]"));
}
