// tests/contract/accounts_test.cpp: users, passwords, the login log, throttling and sessions
// (include/examstore/accounts.hpp), on both backend pairs: memory cache + memory database, and
// Redis + PostgreSQL. Passwords use the fast test factors that StorePair sets.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "examstore/accounts.hpp"
#include "examstore/audit.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "examstore/student_repo.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Error;
using examstore::ErrorCode;
using examstore::NewUser;
using examstore::Principal;
using examstore::Role;
using examstore::Store;
using examstore::User;
using examstore::UserStatus;

const std::string kPassword = "correct horse battery";
const Principal kAdmin = Principal::system("test-admin");

/// The error `fn` throws; fails the test when it throws none.
Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error was thrown");
  return Error(ErrorCode::kInternal, "", "");
}

User add(Store& s, const std::string& name, Role role = Role::kTeacher,
         std::optional<examstore::StudentId> student = std::nullopt) {
  NewUser u;
  u.name = name;
  u.role = role;
  u.password = kPassword;
  u.student_id = student;
  return s.accounts().create(u, kAdmin);
}

examstore::StudentId student(Store& s, const std::string& no) {
  examstore::NewStudent n;
  n.external_no = no;
  n.name = "Student " + no;
  return s.students().create(n).id;
}

std::vector<std::string> actions(Store& s, const std::string& target) {
  examstore::AuditFilter f;
  f.target = target;
  std::vector<std::string> out;
  for (const auto& e : s.audit().list(f)) out.push_back(e.action);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("users are created with validated fields, unique names and student links",
                   "[accounts]", examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.store();
  const User t = add(s, "t.eacher@school-1");
  CHECK(t.id > 0);
  CHECK(t.role == Role::kTeacher);
  CHECK(t.status == UserStatus::kActive);
  CHECK_FALSE(t.student_id);
  CHECK(t.password_changed_at == t.created_at);
  CHECK(s.accounts().get(t.id)->name == "t.eacher@school-1");
  CHECK(s.accounts().find_by_name("t.eacher@school-1")->id == t.id);
  CHECK_FALSE(s.accounts().find_by_name("nobody"));
  CHECK_FALSE(s.accounts().find_by_name("bad name'; --"));
  CHECK_FALSE(s.accounts().get(0));
  CHECK(actions(s, "user:" + std::to_string(t.id)) == std::vector<std::string>{"user.create"});

  NewUser bad;
  bad.name = "with space";
  bad.role = Role::kTeacher;
  bad.password = kPassword;
  for (const std::string& name :
       std::vector<std::string>{"", "with space", "x{e:1}", std::string(65, 'a'), "a\xff"}) {
    bad.name = name;
    const Error e = error_of([&] { s.accounts().create(bad, kAdmin); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK(e.message().rfind("name:", 0) == 0);
  }
  bad.name = "shortpw";
  for (const std::string& pw :
       {std::string("short"), std::string("long enough\0nul", 15), std::string(1025, 'p')}) {
    bad.password = pw;
    const Error e = error_of([&] { s.accounts().create(bad, kAdmin); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK(e.message().rfind("password:", 0) == 0);
    CHECK(e.message().find(pw) == std::string::npos);
  }
  bad.password = kPassword;
  bad.role = Role::kStudent;
  Error e = error_of([&] { s.accounts().create(bad, kAdmin); });
  CHECK(e.code() == ErrorCode::kInvalidArgument);
  CHECK(e.message().rfind("student_id:", 0) == 0);
  bad.role = Role::kProctor;
  bad.student_id = 1;
  e = error_of([&] { s.accounts().create(bad, kAdmin); });
  CHECK(e.code() == ErrorCode::kInvalidArgument);
  CHECK(e.message().rfind("student_id:", 0) == 0);
  bad.role = Role::kStudent;
  bad.student_id = 999999;
  e = error_of([&] { s.accounts().create(bad, kAdmin); });
  CHECK(e.code() == ErrorCode::kNotFound);
  CHECK(e.message().rfind("student_id:", 0) == 0);

  const auto sid = student(s, "S-1");
  const User st = add(s, "stud1", Role::kStudent, sid);
  CHECK(st.student_id == sid);
  CHECK(s.accounts().find_by_student(sid)->id == st.id);
  CHECK_FALSE(s.accounts().find_by_student(sid + 1));
  e = error_of([&] { add(s, "stud2", Role::kStudent, sid); });
  CHECK(e.code() == ErrorCode::kConflict);
  CHECK(e.message().rfind("student_id:", 0) == 0);
  e = error_of([&] { add(s, "stud1"); });
  CHECK(e.code() == ErrorCode::kConflict);
  CHECK(e.message().rfind("name:", 0) == 0);

  // only an administrator (or the system) creates users
  NewUser u;
  u.name = "by-teacher";
  u.role = Role::kTeacher;
  u.password = kPassword;
  CHECK(error_of([&] { s.accounts().create(u, t.principal()); }).code() ==
        ErrorCode::kPermissionDenied);
  const User admin = add(s, "admin1", Role::kAdministrator);
  CHECK(s.accounts().create(u, admin.principal("10.1.2.3")).role == Role::kTeacher);
  examstore::AuditFilter f;
  f.action = "user.create";
  f.actor_id = admin.id;
  const auto entries = s.audit().list(f);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].ip == "10.1.2.3");
  CHECK(entries[0].after.find(kPassword) == std::string::npos);
}

TEMPLATE_TEST_CASE("login opens a session and every attempt is in the login log", "[accounts]",
                   examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.store();
  const User u = add(s, "alice");
  const auto session = s.accounts().login("alice", kPassword, "192.0.2.1");
  CHECK(session.token.size() == 43);
  CHECK(session.info.user_id == u.id);
  CHECK(session.info.handle.size() == 16);
  CHECK(session.info.ip == "192.0.2.1");
  const auto found = s.sessions().lookup(session.token);
  REQUIRE(found);
  CHECK(found->user_name == "alice");
  CHECK(found->role == Role::kTeacher);
  CHECK(found->handle == session.info.handle);
  CHECK(found->principal("2001:db8::1").ip == "2001:db8::1");

  const Error wrong =
      error_of([&] { s.accounts().login("alice", "not the password", "192.0.2.1"); });
  const Error unknown = error_of([&] { s.accounts().login("mallory", kPassword, "192.0.2.1"); });
  CHECK(wrong.code() == ErrorCode::kPermissionDenied);
  CHECK(unknown.code() == ErrorCode::kPermissionDenied);
  CHECK(wrong.message() == unknown.message());
  CHECK(wrong.message() == "wrong user name or password");
  CHECK(error_of([&] { s.accounts().login("bad name\n", kPassword, ""); }).message() ==
        wrong.message());
  CHECK(error_of([&] { s.accounts().login("alice", kPassword, "not-an-ip"); }).code() ==
        ErrorCode::kInvalidArgument);

  s.accounts().lock(u.id, kAdmin);
  Error locked = error_of([&] { s.accounts().login("alice", kPassword, "192.0.2.1"); });
  CHECK(locked.code() == ErrorCode::kPermissionDenied);
  CHECK(locked.message() == "user alice is locked");
  CHECK_FALSE(s.sessions().lookup(session.token));  // lock ends the sessions
  s.accounts().unlock(u.id, kAdmin);
  CHECK(s.accounts().login("alice", kPassword, "").token.size() == 43);
  s.accounts().remove(u.id, kAdmin);
  CHECK(s.accounts().get(u.id)->status == UserStatus::kDeleted);
  Error deleted = error_of([&] { s.accounts().login("alice", kPassword, "192.0.2.1"); });
  CHECK(deleted.code() == ErrorCode::kPermissionDenied);
  CHECK(deleted.message() == "user alice is deleted");
  CHECK(error_of([&] { s.accounts().unlock(u.id, kAdmin); }).code() == ErrorCode::kConflict);
  CHECK(error_of([&] { add(s, "alice"); }).code() == ErrorCode::kConflict);  // name reserved

  const auto log = s.accounts().login_log(std::nullopt, std::nullopt, 100);
  std::vector<std::string> reasons;
  for (const auto& r : log) reasons.push_back(r.reason);
  CHECK(reasons == std::vector<std::string>{"deleted", "ok", "locked", "bad_credentials",
                                            "bad_credentials", "bad_credentials", "ok"});
  REQUIRE(log.size() == 7);
  CHECK(log[6].success);
  CHECK(log[6].user_id == u.id);
  CHECK(log[6].ip == "192.0.2.1");
  CHECK(log[6].name == "alice");
  CHECK(log[4].name == "mallory");
  CHECK_FALSE(log[4].user_id);
  CHECK(log[3].name == "bad name?");
  CHECK(log[0].id > log[1].id);
  CHECK(log[0].at >= log[6].at);
  CHECK(s.accounts().login_log(u.id, std::nullopt, 2).size() == 2);
  CHECK(s.accounts().login_log(std::nullopt, std::string("192.0.2.1"), 100).size() == 5);
  CHECK(error_of([&] { s.accounts().login_log(std::nullopt, std::nullopt, 0); }).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(actions(s, "user:" + std::to_string(u.id)) ==
        std::vector<std::string>{"user.create", "user.lock", "user.unlock", "user.delete"});
}

TEMPLATE_TEST_CASE("failed logins throttle the user and the IP until the lockout has passed",
                   "[accounts]", examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.reopen([](examstore::Config& c) {
    c.security.login.max_failures_per_user = 3;
    c.security.login.max_failures_per_ip = 5;
    c.security.login.window = 60s;
    c.security.login.lockout = 1s;
  });
  const User u = add(s, "bob");
  auto fail = [&](const std::string& name, const std::string& ip) {
    return error_of([&] { s.accounts().login(name, "wrong password", ip); });
  };
  // a success clears the user's count: 2 + 2 failures never reach 3
  CHECK(fail("bob", "10.0.0.1").code() == ErrorCode::kPermissionDenied);
  CHECK(fail("bob", "10.0.0.2").code() == ErrorCode::kPermissionDenied);
  s.accounts().login("bob", kPassword, "10.0.0.3");
  CHECK(fail("bob", "10.0.0.4").code() == ErrorCode::kPermissionDenied);
  CHECK(fail("bob", "10.0.0.5").code() == ErrorCode::kPermissionDenied);
  CHECK(fail("bob", "10.0.0.6").code() == ErrorCode::kPermissionDenied);  // the third
  // now refused even with the right password, from any IP
  const Error refused = error_of([&] { s.accounts().login("bob", kPassword, "10.0.0.7"); });
  CHECK(refused.code() == ErrorCode::kResourceExhausted);
  CHECK_THAT(refused.message(), Catch::StartsWith("user bob: too many failed logins; refused "
                                                  "until 20") &&
                                    Catch::EndsWith("Z"));
  CHECK(s.accounts().login_log(u.id, std::nullopt, 1).front().reason == "throttled_user");
  std::this_thread::sleep_for(1200ms);
  CHECK(s.accounts().login("bob", kPassword, "10.0.0.7").info.user_id == u.id);

  // unlock lifts a refusal at once
  for (int i = 0; i < 3; ++i) fail("bob", "10.0.1." + std::to_string(i));
  CHECK(error_of([&] { s.accounts().login("bob", kPassword, "10.0.1.9"); }).code() ==
        ErrorCode::kResourceExhausted);
  s.accounts().unlock(u.id, kAdmin);
  CHECK(s.accounts().login("bob", kPassword, "10.0.1.9").info.user_id == u.id);

  // per IP: unknown names count too; other IPs are not affected
  for (int i = 0; i < 5; ++i) {
    CHECK(fail("ghost" + std::to_string(i), "2001:db8::9").code() == ErrorCode::kPermissionDenied);
  }
  const Error ip_refused = error_of([&] { s.accounts().login("bob", kPassword, "2001:db8::9"); });
  CHECK(ip_refused.code() == ErrorCode::kResourceExhausted);
  CHECK_THAT(ip_refused.message(), Catch::StartsWith("ip 2001:db8::9: too many failed logins"));
  CHECK(s.accounts().login_log(std::nullopt, std::string("2001:db8::9"), 1).front().reason ==
        "throttled_ip");
  CHECK(s.accounts().login("bob", kPassword, "10.0.2.1").info.user_id == u.id);
}

TEMPLATE_TEST_CASE("changing or resetting a password ends every session of the user", "[accounts]",
                   examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.store();
  const User u = add(s, "carol");
  const User other = add(s, "dave");
  const auto a = s.accounts().login("carol", kPassword, "");
  const auto b = s.accounts().login("carol", kPassword, "");
  const auto d = s.accounts().login("dave", kPassword, "");
  const std::string next = "a new password here";

  CHECK(error_of([&] {
          s.accounts().change_password(u.id, kPassword, next, other.principal());
        }).code() == ErrorCode::kPermissionDenied);
  CHECK(error_of([&] {
          s.accounts().change_password(u.id, "wrong current", next, u.principal());
        }).code() == ErrorCode::kPermissionDenied);
  CHECK(error_of([&] {
          s.accounts().change_password(u.id, kPassword, "short", u.principal());
        }).code() == ErrorCode::kInvalidArgument);
  CHECK(s.sessions().lookup(a.token));

  s.accounts().change_password(u.id, kPassword, next, u.principal());
  CHECK_FALSE(s.sessions().lookup(a.token));
  CHECK_FALSE(s.sessions().lookup(b.token));
  CHECK(s.sessions().lookup(d.token));  // another user's session lives on
  CHECK(s.accounts().get(u.id)->password_changed_at >= u.password_changed_at);
  CHECK(error_of([&] { s.accounts().login("carol", kPassword, ""); }).code() ==
        ErrorCode::kPermissionDenied);
  const auto c = s.accounts().login("carol", next, "");

  CHECK(error_of([&] { s.accounts().reset_password(u.id, kPassword, u.principal()); }).code() ==
        ErrorCode::kPermissionDenied);
  s.accounts().reset_password(u.id, kPassword, kAdmin);
  CHECK_FALSE(s.sessions().lookup(c.token));
  CHECK(s.accounts().login("carol", kPassword, "").info.user_id == u.id);
  CHECK(error_of([&] { s.accounts().reset_password(999999, kPassword, kAdmin); }).code() ==
        ErrorCode::kNotFound);
  CHECK(actions(s, "user:" + std::to_string(u.id)) ==
        std::vector<std::string>{"user.create", "user.password_change", "user.password_reset"});
}

TEMPLATE_TEST_CASE("a session expires after its ttl without activity", "[accounts][sessions]",
                   examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.reopen([](examstore::Config& c) {
    c.security.sessions.ttl = 1s;
    c.security.sessions.sliding = false;
  });
  const User u = add(s, "erin");
  const auto n = s.sessions().create(u.id, "198.51.100.7");
  CHECK(n.info.expires_at - n.info.created_at == 1s);
  CHECK(s.sessions().lookup(n.token));
  std::this_thread::sleep_for(1300ms);
  CHECK_FALSE(s.sessions().lookup(n.token));
  CHECK_FALSE(s.sessions().extend(n.token));
  CHECK(s.sessions().list(u.id).empty());
}

TEMPLATE_TEST_CASE("a sliding lookup renews a session and extend renews it on request",
                   "[accounts][sessions]", examstore::test::MemoryPair,
                   examstore::test::RedisPostgresPair) {
  TestType pair;
  for (const bool sliding : {true, false}) {
    INFO("sliding " << sliding);
    Store& s = pair.reopen([&](examstore::Config& c) {
      c.security.sessions.ttl = 100s;
      c.security.sessions.max_ttl = 1000s;
      c.security.sessions.sliding = sliding;
    });
    const User u = add(s, sliding ? "slider" : "fixed");
    const auto n = s.sessions().create(u.id, "");
    const auto first = s.sessions().lookup(n.token);
    REQUIRE(first);
    std::this_thread::sleep_for(150ms);
    const auto second = s.sessions().lookup(n.token);
    REQUIRE(second);
    // renewed: the expiry moved on by the time slept; fixed: it stayed (within clock jitter)
    CHECK((second->expires_at >= first->expires_at + 100ms) == sliding);

    CHECK(s.sessions().extend(n.token, 1000s));
    const auto extended = s.sessions().lookup(n.token);
    REQUIRE(extended);
    CHECK(extended->expires_at > second->expires_at + 800s);  // a lookup never shortens it
    CHECK(error_of([&] { s.sessions().extend(n.token, 1001s); }).code() ==
          ErrorCode::kInvalidArgument);
    CHECK(error_of([&] { s.sessions().extend(n.token, 0s); }).code() ==
          ErrorCode::kInvalidArgument);
    CHECK(s.sessions().extend(n.token));  // back to the configured ttl
    CHECK(s.sessions().lookup(n.token)->expires_at < extended->expires_at - 800s);
  }
}

TEMPLATE_TEST_CASE("sessions are capped per user, invalidated one by one or all together",
                   "[accounts][sessions]", examstore::test::MemoryPair,
                   examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.reopen([](examstore::Config& c) { c.security.sessions.max_per_user = 2; });
  const User u = add(s, "frank");
  const User v = add(s, "grace");
  const auto s1 = s.sessions().create(u.id, "");
  const auto s2 = s.sessions().create(u.id, "");
  const auto s3 = s.sessions().create(u.id, "");
  const auto other = s.sessions().create(v.id, "");
  CHECK_FALSE(s.sessions().lookup(s1.token));  // the oldest was dropped
  CHECK(s.sessions().lookup(s2.token));
  const auto listed = s.sessions().list(u.id);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].handle == s2.info.handle);
  CHECK(listed[1].handle == s3.info.handle);

  CHECK(s.sessions().invalidate(s2.token));
  CHECK_FALSE(s.sessions().invalidate(s2.token));
  CHECK_FALSE(s.sessions().lookup(s2.token));
  CHECK(s.sessions().list(u.id).size() == 1);
  const auto s4 = s.sessions().create(u.id, "");
  CHECK(s.sessions().lookup(s3.token));  // s2's slot was free: nothing dropped
  CHECK(s.sessions().invalidate_user(u.id) == 2);
  CHECK_FALSE(s.sessions().lookup(s3.token));
  CHECK_FALSE(s.sessions().lookup(s4.token));
  CHECK(s.sessions().invalidate_user(u.id) == 0);
  CHECK(s.sessions().lookup(other.token));

  // malformed or forged tokens are simply no session
  std::string flipped = other.token;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  for (const std::string& t :
       {std::string(), std::string("x"), std::string(43, '!'), other.token + "A",
        other.token.substr(0, 42), flipped, std::string(43, '\0'), other.info.handle}) {
    CHECK_FALSE(s.sessions().lookup(t));
    CHECK_FALSE(s.sessions().extend(t));
    CHECK_FALSE(s.sessions().invalidate(t));
  }
  CHECK(s.sessions().lookup(other.token));

  // only active users get sessions
  s.accounts().lock(v.id, kAdmin);
  CHECK_FALSE(s.sessions().lookup(other.token));
  CHECK(error_of([&] { s.sessions().create(v.id, ""); }).code() == ErrorCode::kPermissionDenied);
  CHECK(error_of([&] { s.sessions().create(999999, ""); }).code() == ErrorCode::kNotFound);
  CHECK(error_of([&] { s.sessions().create(u.id, "1.2.3.4:80"); }).code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("the hot tier holds no raw session token", "[accounts][sessions][redis]") {
  examstore::test::RedisPostgresPair pair;
  Store& s = pair.store();
  const User u = add(s, "heidi");
  const auto a = s.accounts().login("heidi", kPassword, "203.0.113.5");
  const auto b = s.sessions().create(u.id, "");
  REQUIRE(s.sessions().lookup(a.token));

  const std::string url = examstore::test::redis_url();  // redis://host:port[/db]
  const auto host_at = url.find("://") + 3;
  const auto colon = url.find(':', host_at);
  const auto end = url.find('/', colon);
  redisContext* c = redisConnect(url.substr(host_at, colon - host_at).c_str(),
                                 std::stoi(url.substr(colon + 1, end - colon - 1)));
  REQUIRE(c != nullptr);
  REQUIRE(c->err == 0);
  std::string dump;
  auto* keys = static_cast<redisReply*>(
      redisCommand(c, "KEYS %s", (pair.config().key_prefix + ":*").c_str()));
  REQUIRE(keys != nullptr);
  for (std::size_t i = 0; i < keys->elements; ++i) {
    const std::string key(keys->element[i]->str, keys->element[i]->len);
    dump += key + "\n";
    auto* type = static_cast<redisReply*>(redisCommand(c, "TYPE %b", key.data(), key.size()));
    REQUIRE(type != nullptr);
    const std::string t(type->str, type->len);
    freeReplyObject(type);
    const char* read = t == "string" ? "GET %b" : t == "zset" ? "ZRANGE %b 0 -1" : "HGETALL %b";
    auto* v = static_cast<redisReply*>(redisCommand(c, read, key.data(), key.size()));
    REQUIRE(v != nullptr);
    if (v->type == REDIS_REPLY_STRING) dump += std::string(v->str, v->len) + "\n";
    for (std::size_t j = 0; j < v->elements; ++j) {
      dump += std::string(v->element[j]->str, v->element[j]->len) + "\n";
    }
    freeReplyObject(v);
  }
  freeReplyObject(keys);
  redisFree(c);
  CHECK(dump.find("session:{t:") != std::string::npos);
  CHECK(dump.find("heidi") != std::string::npos);  // the values were read
  CHECK(dump.find(a.token) == std::string::npos);
  CHECK(dump.find(b.token) == std::string::npos);
  CHECK(dump.find(a.token.substr(0, 20)) == std::string::npos);
}

TEST_CASE("a password hashed with weaker factors is rehashed on the next login",
          "[accounts][postgres]") {
  examstore::test::RedisPostgresPair pair;
  const User u = add(pair.store(), "ivan");
  const std::string sql = "SELECT password_hash FROM users WHERE id = " + std::to_string(u.id);
  const std::string weak = pair.query_value(sql);
  CHECK_THAT(weak, Catch::StartsWith("$argon2id$v=19$m=8,t=1,p=1$"));

  auto strong = pair.open_second([](examstore::Config& c) {
    c.security.passwords.opslimit = 2;
    c.security.passwords.memlimit = 16384;
  });
  strong->accounts().login("ivan", kPassword, "");
  const std::string rehashed = pair.query_value(sql);
  CHECK_THAT(rehashed, Catch::StartsWith("$argon2id$v=19$m=16,t=2,p=1$"));
  CHECK(strong->accounts().get(u.id)->password_changed_at == u.password_changed_at);
  // a store with weaker factors (an older release during a rolling upgrade) never downgrades it
  pair.store().accounts().login("ivan", kPassword, "");
  CHECK(pair.query_value(sql) == rehashed);
  strong->accounts().login("ivan", kPassword, "");
  CHECK(pair.query_value(sql) == rehashed);
}

TEMPLATE_TEST_CASE("concurrent failed logins are all counted", "[accounts][concurrency]",
                   examstore::test::MemoryPair, examstore::test::RedisPostgresPair) {
  TestType pair;
  Store& s = pair.reopen([](examstore::Config& c) {
    c.security.login.max_failures_per_user = 20;
    c.security.login.max_failures_per_ip = 1000;
  });
  add(s, "judy");
  std::vector<std::thread> threads;
  std::vector<int> denied(4, 0);
  for (std::size_t t = 0; t < denied.size(); ++t) {
    threads.emplace_back([&s, &denied, t] {
      for (int i = 0; i < 5; ++i) {
        try {
          s.accounts().login("judy", "wrong password", "10.9.0." + std::to_string(t));
        } catch (const Error& e) {
          if (e.code() == ErrorCode::kPermissionDenied) ++denied[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(denied == std::vector<int>{5, 5, 5, 5});
  // exactly the 20th failure set the refusal
  CHECK(error_of([&] { s.accounts().login("judy", kPassword, ""); }).code() ==
        ErrorCode::kResourceExhausted);
  const auto user = s.accounts().find_by_name("judy");
  REQUIRE(user);
  CHECK(s.accounts().login_log(user->id, std::nullopt, 100).size() == 21);
}
