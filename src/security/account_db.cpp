#include "security/account_db.hpp"

#include <map>
#include <mutex>

#include "db/pg_pool.hpp"
#include "db/pg_text.hpp"
#include "db/sql_params.hpp"
#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/error.hpp"

namespace examstore::security {
namespace {

const std::string kOpCreate = "user create";

[[noreturn]] void name_taken(std::string_view name) {
  throw Error(ErrorCode::kConflict, kOpCreate,
              "name: the user name '" + std::string(name) + "' is already taken");
}
[[noreturn]] void student_taken(StudentId s) {
  throw Error(ErrorCode::kConflict, kOpCreate,
              "student_id: student " + std::to_string(s) + " already has a user");
}
void require_student(db::StudentStore& students, const std::optional<StudentId>& s) {
  if (s && !students.get(*s)) {
    throw Error(ErrorCode::kNotFound, kOpCreate,
                "student_id: there is no student " + std::to_string(*s));
  }
}

// ---- PostgreSQL ----

const std::string kUserColumns = "id, name, role, status, student_id, password_hash, " +
                                 db::us("created_at") + " AS created_us, " +
                                 db::us("password_changed_at") + " AS changed_us";

StoredUser read_user(const pqxx::row& r) {
  StoredUser s;
  s.user.id = r["id"].as<std::int64_t>();
  s.user.name = r["name"].as<std::string>();
  s.user.role = parse_role(r["role"].as<std::string>()).value_or(Role::kStudent);
  s.user.status = parse_user_status(r["status"].as<std::string>()).value_or(UserStatus::kLocked);
  if (!r["student_id"].is_null()) s.user.student_id = r["student_id"].as<std::int64_t>();
  s.user.created_at = db::check::from_micros(r["created_us"].as<std::int64_t>());
  s.user.password_changed_at = db::check::from_micros(r["changed_us"].as<std::int64_t>());
  s.password_hash = r["password_hash"].as<std::string>();
  return s;
}

LoginRecord read_login(const pqxx::row& r) {
  LoginRecord l;
  l.id = r["id"].as<std::int64_t>();
  if (!r["user_id"].is_null()) l.user_id = r["user_id"].as<std::int64_t>();
  l.name = r["name"].as<std::string>();
  l.ip = r["ip"].as<std::string>();
  l.at = db::check::from_micros(r["at_us"].as<std::int64_t>());
  l.success = r["success"].as<bool>();
  l.reason = r["reason"].as<std::string>();
  return l;
}

class PgAccountDb final : public AccountDb {
 public:
  PgAccountDb(db::PgPool& pool, db::StudentStore& students) : pool_(pool), students_(students) {}

  User insert(const NewUser& u, const std::string& hash, TimePoint at) override {
    require_student(students_, u.student_id);
    std::optional<User> out;
    pool_.transact(kOpCreate, [&](pqxx::work& tx) {
      const auto r =
          db::exec_prepared(tx, "es_user_insert",
                            "INSERT INTO users (name, role, student_id, password_hash, created_at, "
                            "password_changed_at) VALUES ($1, $2, NULLIF($3::bigint, 0), $4, " +
                                db::ts("$5") + ", " + db::ts("$5") +
                                ") ON CONFLICT DO NOTHING RETURNING " + kUserColumns,
                            u.name, std::string(to_string(u.role)), u.student_id.value_or(0), hash,
                            db::check::to_micros(at));
      if (!r.empty()) out = read_user(r[0]).user;
    });
    if (out) return *out;
    if (by_name(u.name)) name_taken(u.name);
    student_taken(u.student_id.value_or(0));
  }

  std::optional<StoredUser> get(UserId id) override {
    return one("user get", "es_user_get", "SELECT " + kUserColumns + " FROM users WHERE id = $1",
               std::to_string(id));
  }
  std::optional<StoredUser> by_name(std::string_view name) override {
    return one("user find", "es_user_by_name",
               "SELECT " + kUserColumns + " FROM users WHERE name = $1", std::string(name));
  }
  std::optional<StoredUser> by_student(StudentId student) override {
    return one("user find", "es_user_by_student",
               "SELECT " + kUserColumns + " FROM users WHERE student_id = $1",
               std::to_string(student));
  }

  void set_password(UserId id, const std::string& hash,
                    std::optional<TimePoint> changed_at) override {
    pool_.transact("user password", [&](pqxx::work& tx) {
      if (changed_at) {
        db::exec_prepared(tx, "es_user_password",
                          "UPDATE users SET password_hash = $2, password_changed_at = " +
                              db::ts("$3") + " WHERE id = $1",
                          id, hash, db::check::to_micros(*changed_at));
      } else {
        db::exec_prepared(tx, "es_user_rehash", "UPDATE users SET password_hash = $2 WHERE id = $1",
                          id, hash);
      }
    });
  }

  std::optional<User> set_status(UserId id, UserStatus status) override {
    std::optional<User> out;
    pool_.transact("user status", [&](pqxx::work& tx) {
      const auto r = db::exec_prepared(
          tx, "es_user_status",
          "UPDATE users SET status = $2 WHERE id = $1 AND status <> 'deleted' RETURNING " +
              kUserColumns,
          id, std::string(to_string(status)));
      out.reset();
      if (!r.empty()) out = read_user(r[0]).user;
    });
    return out;
  }

  void record_login(const LoginRecord& l) override {
    pool_.transact("login log", [&](pqxx::work& tx) {
      db::exec_prepared(tx, "es_login_insert",
                        "INSERT INTO login_log (user_id, name, ip, at, success, reason) VALUES "
                        "(NULLIF($1::bigint, 0), $2, $3, " +
                            db::ts("$4") + ", $5, $6)",
                        l.user_id.value_or(0), l.name, l.ip, db::check::to_micros(l.at), l.success,
                        l.reason);
    });
  }

  std::vector<LoginRecord> logins(std::optional<UserId> user, const std::optional<std::string>& ip,
                                  int limit) override {
    db::SqlParams p;
    std::string sql = "SELECT id, user_id, name, ip, " + db::us("at") +
                      " AS at_us, success, reason FROM login_log WHERE true";
    if (user) sql += " AND user_id = " + p.add(*user);
    if (ip) sql += " AND ip = " + p.add(*ip);
    sql += " ORDER BY id DESC LIMIT " + p.add(std::int64_t{limit});
    std::vector<LoginRecord> out;
    pool_.read("login log", [&](pqxx::nontransaction& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_login(row));
    });
    return out;
  }

 private:
  std::optional<StoredUser> one(const std::string& op, const std::string& name,
                                const std::string& sql, const std::string& arg) {
    std::optional<StoredUser> out;
    pool_.read(op, [&](pqxx::nontransaction& tx) {
      const auto r = db::exec_prepared(tx, name, sql, arg);
      out.reset();
      if (!r.empty()) out = read_user(r[0]);
    });
    return out;
  }

  db::PgPool& pool_;
  db::StudentStore& students_;
};

// ---- memory ----

class MemoryAccountDb final : public AccountDb {
 public:
  explicit MemoryAccountDb(db::StudentStore& students) : students_(students) {}

  User insert(const NewUser& u, const std::string& hash, TimePoint at) override {
    require_student(students_, u.student_id);
    std::lock_guard<std::mutex> lock(mu_);
    if (by_name_.count(u.name) != 0) name_taken(u.name);
    if (u.student_id && by_student_.count(*u.student_id) != 0) student_taken(*u.student_id);
    StoredUser s;
    s.user.id = static_cast<UserId>(users_.size()) + 1;
    s.user.name = u.name;
    s.user.role = u.role;
    s.user.student_id = u.student_id;
    s.user.created_at = db::check::truncate(at);
    s.user.password_changed_at = s.user.created_at;
    s.password_hash = hash;
    users_.emplace(s.user.id, s);
    by_name_.emplace(u.name, s.user.id);
    if (u.student_id) by_student_.emplace(*u.student_id, s.user.id);
    return s.user;
  }

  std::optional<StoredUser> get(UserId id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return find(id);
  }
  std::optional<StoredUser> by_name(std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? std::nullopt : find(it->second);
  }
  std::optional<StoredUser> by_student(StudentId student) override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = by_student_.find(student);
    return it == by_student_.end() ? std::nullopt : find(it->second);
  }

  void set_password(UserId id, const std::string& hash,
                    std::optional<TimePoint> changed_at) override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = users_.find(id);
    if (it == users_.end()) return;
    it->second.password_hash = hash;
    if (changed_at) it->second.user.password_changed_at = db::check::truncate(*changed_at);
  }

  std::optional<User> set_status(UserId id, UserStatus status) override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = users_.find(id);
    if (it == users_.end() || it->second.user.status == UserStatus::kDeleted) return std::nullopt;
    it->second.user.status = status;
    return it->second.user;
  }

  void record_login(const LoginRecord& l) override {
    std::lock_guard<std::mutex> lock(mu_);
    logins_.push_back(l);
    logins_.back().id = static_cast<std::int64_t>(logins_.size());
    logins_.back().at = db::check::truncate(l.at);
  }

  std::vector<LoginRecord> logins(std::optional<UserId> user, const std::optional<std::string>& ip,
                                  int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<LoginRecord> out;
    for (auto it = logins_.rbegin(); it != logins_.rend(); ++it) {
      if (static_cast<int>(out.size()) >= limit) break;
      if (user && it->user_id != user) continue;
      if (ip && it->ip != *ip) continue;
      out.push_back(*it);
    }
    return out;
  }

 private:
  std::optional<StoredUser> find(UserId id) const {
    const auto it = users_.find(id);
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }

  db::StudentStore& students_;
  std::mutex mu_;  // guards users_, by_name_, by_student_ and logins_
  std::map<UserId, StoredUser> users_;
  std::map<std::string, UserId> by_name_;
  std::map<StudentId, UserId> by_student_;
  std::vector<LoginRecord> logins_;
};

}  // namespace

std::unique_ptr<AccountDb> make_pg_account_db(db::PgPool& pool, db::StudentStore& students) {
  return std::make_unique<PgAccountDb>(pool, students);
}
std::unique_ptr<AccountDb> make_memory_account_db(db::StudentStore& students) {
  return std::make_unique<MemoryAccountDb>(students);
}

}  // namespace examstore::security
