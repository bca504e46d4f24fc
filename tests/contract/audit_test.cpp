// The audit log (include/examstore/audit.hpp) on both backend pairs: chaining, filters,
// validation, concurrent appends; on PostgreSQL, tampering (an edited, a deleted and a removed
// newest entry) is detected and named, and the application role cannot UPDATE or DELETE it.
#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"

using examstore::AuditEntry;
using examstore::AuditFilter;
using examstore::ErrorCode;
using examstore::NewAuditEntry;
using examstore::Principal;
using examstore::Role;
using examstore::test::MemoryPair;
using examstore::test::RedisPostgresPair;

namespace {

Principal teacher() {
  Principal p;
  p.user_id = 7;
  p.name = "ada";
  p.role = Role::kTeacher;
  p.ip = "10.0.0.7";
  return p;
}

NewAuditEntry entry(const std::string& action, const std::string& target, int n = 0) {
  return NewAuditEntry{action, target, "{\"v\":" + std::to_string(n) + "}",
                       "{\"v\":" + std::to_string(n + 1) + "}"};
}

/// Appends `n` entries by the teacher (odd ones) and the system principal (even ones).
std::vector<AuditEntry> fill(examstore::Store& store, int n) {
  std::vector<AuditEntry> out;
  for (int i = 1; i <= n; ++i) {
    const Principal by = i % 2 ? teacher() : Principal::system("cli:test");
    out.push_back(store.audit().append(
        by, entry(i % 3 ? "question.edit" : "user.lock", "question:" + std::to_string(i), i)));
  }
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("the audit log chains every entry to the one before it", "[audit]", MemoryPair,
                   RedisPostgresPair) {
  TestType pair;
  auto& audit = pair.store().audit();
  REQUIRE(audit.verify().ok);
  REQUIRE(audit.verify().checked == 0);

  const auto written = fill(pair.store(), 5);
  REQUIRE(written.front().id == 1);
  REQUIRE(written.front().prev_hash == std::string(64, '0'));
  for (std::size_t i = 1; i < written.size(); ++i) {
    REQUIRE(written[i].id == written[i - 1].id + 1);
    REQUIRE(written[i].prev_hash == written[i - 1].hash);
    REQUIRE(written[i].hash.size() == 64);
    REQUIRE(written[i].at >= written[i - 1].at);
  }

  const auto all = audit.list(AuditFilter{});
  REQUIRE(all.size() == 5);
  REQUIRE(all[0].actor_name == "ada");
  REQUIRE(all[0].actor_role == "teacher");
  REQUIRE(all[0].actor_id == 7);
  REQUIRE(all[0].ip == "10.0.0.7");
  REQUIRE(all[0].before == "{\"v\":1}");
  REQUIRE(all[0].after == "{\"v\":2}");
  REQUIRE(all[1].actor_role == "system");
  REQUIRE(all[1].actor_name == "cli:test");
  REQUIRE(all[1].actor_id == 0);
  for (std::size_t i = 0; i < all.size(); ++i) {
    REQUIRE(all[i].hash == written[i].hash);
    REQUIRE(all[i].at == written[i].at);
  }

  const auto v = audit.verify();
  REQUIRE(v.ok);
  REQUIRE(v.checked == 5);
  REQUIRE_FALSE(v.first_broken_id);
  REQUIRE(v.problem.empty());
}

TEMPLATE_TEST_CASE("audit list filters by actor, action and target, and pages by id", "[audit]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  auto& audit = pair.store().audit();
  fill(pair.store(), 9);

  AuditFilter by_actor;
  by_actor.actor_id = 7;
  REQUIRE(audit.list(by_actor).size() == 5);

  AuditFilter by_action;
  by_action.action = "user.lock";
  const auto locks = audit.list(by_action);
  REQUIRE(locks.size() == 3);
  for (const auto& e : locks) REQUIRE(e.action == "user.lock");

  AuditFilter by_target;
  by_target.target = "question:4";
  const auto one = audit.list(by_target);
  REQUIRE(one.size() == 1);
  REQUIRE(one[0].id == 4);

  AuditFilter page;
  page.limit = 4;
  std::vector<std::int64_t> ids;
  for (;;) {
    const auto got = audit.list(page);
    for (const auto& e : got) ids.push_back(e.id);
    if (got.size() < 4) break;
    page.after_id = got.back().id;
  }
  REQUIRE(ids == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9});

  AuditFilter bad;
  bad.limit = 0;
  REQUIRE_THROWS_MATCHES(audit.list(bad), examstore::Error,
                         Catch::Predicate<examstore::Error>([](const examstore::Error& e) {
                           return e.code() == ErrorCode::kInvalidArgument;
                         }));
}

TEMPLATE_TEST_CASE("audit append refuses malformed entries and records nothing", "[audit]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  auto& audit = pair.store().audit();
  const auto refused = [&](const NewAuditEntry& e, const Principal& by, const char* field) {
    try {
      audit.append(by, e);
      FAIL("accepted a malformed entry naming " << field);
    } catch (const examstore::Error& err) {
      REQUIRE(err.code() == ErrorCode::kInvalidArgument);
      REQUIRE_THAT(err.what(), Catch::Contains(field));
    }
  };
  refused(NewAuditEntry{"", "x", "", ""}, teacher(), "action");
  refused(NewAuditEntry{std::string(65, 'a'), "x", "", ""}, teacher(), "action");
  refused(NewAuditEntry{"a.b", std::string("t\0x", 3), "", ""}, teacher(), "target");
  refused(NewAuditEntry{"a.b", "x", "\xff\xfe", ""}, teacher(), "before");
  refused(NewAuditEntry{"a.b", "x", "", std::string(64 * 1024 + 1, 'a')}, teacher(), "after");
  Principal odd = teacher();
  odd.ip = std::string("1.2.3.4\0", 8);
  refused(NewAuditEntry{"a.b", "x", "", ""}, odd, "principal.ip");
  REQUIRE(audit.list(AuditFilter{}).empty());
  REQUIRE(audit.verify().ok);

  // Quotes, SQL and key-like text are data: they round-trip exactly.
  const NewAuditEntry hostile{"question.edit", "'; DROP TABLE audit_log; --", "{e:2}*\"\\",
                              "es:exam:1\n\t"};
  const auto e = audit.append(teacher(), hostile);
  const auto back = audit.list(AuditFilter{});
  REQUIRE(back.size() == 1);
  REQUIRE(back[0].target == hostile.target);
  REQUIRE(back[0].before == hostile.before);
  REQUIRE(back[0].after == hostile.after);
  REQUIRE(back[0].hash == e.hash);
  REQUIRE(audit.verify().ok);
}

TEMPLATE_TEST_CASE("concurrent appends form one unbroken chain", "[audit][concurrency]", MemoryPair,
                   RedisPostgresPair) {
  TestType pair;
  auto& audit = pair.store().audit();
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        try {
          audit.append(teacher(), entry("exam.configure", "exam:" + std::to_string(t), i));
        } catch (...) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures == 0);
  const auto v = audit.verify();
  REQUIRE(v.ok);
  REQUIRE(v.checked == kThreads * kEach);
  AuditFilter f;
  f.limit = 1000;
  const auto all = audit.list(f);
  REQUIRE(all.size() == static_cast<std::size_t>(kThreads * kEach));
  REQUIRE(all.back().id == kThreads * kEach);
}

TEST_CASE("audit verify names the first edited, deleted or missing entry", "[audit]") {
  RedisPostgresPair pair;
  auto& audit = pair.store().audit();
  fill(pair.store(), 6);
  REQUIRE(audit.verify().ok);

  SECTION("an edited entry") {
    pair.query_value("UPDATE audit_log SET after = '{\"v\":99}' WHERE id = 3");
    const auto v = audit.verify();
    REQUIRE_FALSE(v.ok);
    REQUIRE(v.first_broken_id == std::optional<std::int64_t>(3));
    REQUIRE_THAT(v.problem, Catch::Contains("entry 3") && Catch::Contains("edited"));
    REQUIRE(v.checked == 3);
  }
  SECTION("an edited entry whose hash was recomputed breaks the next link") {
    // Whoever edits entry 3 and fixes its own hash still leaves entry 4 pointing at the old one.
    pair.query_value(
        "UPDATE audit_log SET actor_name = 'mallory', hash = repeat('a', 64) "
        "WHERE id = 3");
    const auto v = audit.verify();
    REQUIRE_FALSE(v.ok);
    REQUIRE(v.first_broken_id == std::optional<std::int64_t>(3));
  }
  SECTION("a deleted entry in the middle") {
    pair.query_value("DELETE FROM audit_log WHERE id = 4");
    const auto v = audit.verify();
    REQUIRE_FALSE(v.ok);
    REQUIRE(v.first_broken_id == std::optional<std::int64_t>(5));
    REQUIRE_THAT(v.problem, Catch::Contains("entry 5") && Catch::Contains("deleted"));
  }
  SECTION("the newest entries deleted") {
    pair.query_value("DELETE FROM audit_log WHERE id >= 5");
    const auto v = audit.verify();
    REQUIRE_FALSE(v.ok);
    REQUIRE_FALSE(v.first_broken_id);
    REQUIRE_THAT(v.problem,
                 Catch::Contains("head names entry 6") && Catch::Contains("newest entry is 4"));
  }
  SECTION("appending goes on after verification") {
    const auto e = audit.append(teacher(), entry("user.unlock", "user:1"));
    REQUIRE(e.id == 7);
    REQUIRE(audit.verify().checked == 7);
  }
}

TEST_CASE("the application role may append to the audit log but not change it", "[audit][roles]") {
  RedisPostgresPair pair;  // its store runs as TempDatabase::kAppRole
  pair.store().audit().append(teacher(), entry("user.lock", "user:3"));
  REQUIRE(pair.store().audit().verify().ok);
  const std::string role = examstore::test::TempDatabase::kAppRole;
  const auto denied = [&](const std::string& sql) {
    try {
      pair.query_value_as(role, sql);
      FAIL("the application role was allowed: " << sql);
    } catch (const pqxx::insufficient_privilege&) {
      SUCCEED();
    }
  };
  denied("UPDATE audit_log SET after = 'x'");
  denied("DELETE FROM audit_log");
  denied("TRUNCATE audit_log");
  denied("DELETE FROM audit_head");
  denied("INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')");
  denied("CREATE TABLE sneaky (id int)");
  denied("DROP TABLE exams");
  // Through the library, a missing privilege is kPermissionDenied naming the cause.
  try {
    pair.store().migrate_down(1);
    FAIL("the application role reverted a migration");
  } catch (const examstore::Error& e) {
    REQUIRE(e.code() == ErrorCode::kPermissionDenied);
    REQUIRE_THAT(e.what(), Catch::Contains("examstore db roles"));
  }
  REQUIRE(pair.query_value("SELECT count(*) FROM schema_migrations WHERE version = 6") == "1");
  // ... and reads and writes data as production does.
  REQUIRE(pair.query_value_as(role, "SELECT count(*) FROM audit_log") == "1");
  REQUIRE(pair.query_value_as(role, "SELECT current_user") == role);
  REQUIRE(pair.query_value("SELECT count(*) FROM audit_log") == "1");
}

TEST_CASE("the application role SQL rejects role names that are not plain identifiers",
          "[audit][roles]") {
  for (const char* bad :
       {"", "App", "1app", "pg_app", "app; DROP TABLE exams", "app\"x", "a-b", "robert'); --"}) {
    INFO(bad);
    REQUIRE_THROWS_MATCHES(examstore::Store::application_role_sql(bad), examstore::Error,
                           Catch::Predicate<examstore::Error>([](const examstore::Error& e) {
                             return e.code() == ErrorCode::kInvalidArgument;
                           }));
  }
  const std::string sql = examstore::Store::application_role_sql("exam_app");
  REQUIRE_THAT(sql, Catch::Contains("REVOKE UPDATE, DELETE ON audit_log FROM exam_app"));
  REQUIRE_THAT(sql, Catch::Contains("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES"));

  MemoryPair memory;
  REQUIRE_THROWS_MATCHES(memory.store().apply_application_role("exam_app"), examstore::Error,
                         Catch::Predicate<examstore::Error>([](const examstore::Error& e) {
                           return e.code() == ErrorCode::kInvalidArgument;
                         }));
}

TEST_CASE("examstore audit verify and db roles from the command line", "[audit][roles][cli]") {
  using examstore::test::run_cli;
  RedisPostgresPair pair;
  fill(pair.store(), 4);
  const std::string db = " --database '" + pair.database_url() + "'";

  auto r = run_cli("audit verify" + db);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Catch::Contains("4 entries checked"));

  r = run_cli("audit list --action user.lock --json" + db);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Catch::Contains("\"action\":\"user.lock\"") &&
                             Catch::Contains("\"target\":\"question:3\""));

  pair.query_value("UPDATE audit_log SET target = 'question:999' WHERE id = 2");
  r = run_cli("audit verify --json" + db);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output,
               Catch::Contains("\"ok\":false") && Catch::Contains("\"first_broken_id\":2"));

  r = run_cli("db roles --role exam_app");
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Catch::Contains("CREATE ROLE exam_app LOGIN"));
  r = run_cli("db roles --role 'x; DROP TABLE exams'");
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Catch::Contains("role 'x; DROP TABLE exams'"));

  // --apply with a password from stdin: the role can then log in (trust auth here, so the
  // password is checked in pg_authid rather than by logging in with it).
  r = examstore::test::run_command("echo 's3cret pass' | " + std::string(EXAMSTORE_CLI_PATH) +
                                   " db roles --role es_cli_role --apply --password-stdin" + db +
                                   " 2>&1");
  REQUIRE(r.exit_code == 0);
  REQUIRE(pair.query_value("SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = "
                           "'es_cli_role'") == "t");
  REQUIRE(pair.query_value_as("es_cli_role", "SELECT current_user") == "es_cli_role");
}
