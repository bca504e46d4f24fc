// security/account_db.hpp: where users and the login log are kept: PostgreSQL (tables users and
// login_log, migration 0005) or memory. Both enforce the same rules with the same errors (unique
// names, one user per student record, the student record must exist), so AccountRepo behaves
// identically on either. Callers validate input first; these only store.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/accounts.hpp"

namespace examstore::db {
class PgPool;
class StudentStore;
}  // namespace examstore::db

namespace examstore::security {

/// A user with the password hash, which never leaves the security code.
struct StoredUser {
  User user;
  std::string password_hash;
};

class AccountDb {
 public:
  virtual ~AccountDb() = default;
  /// Inserts an active user created `at`. kConflict "name: ... already taken" or "student_id:
  /// ... already has a user"; kNotFound "student_id: ..." when the student record is absent.
  virtual User insert(const NewUser& user, const std::string& password_hash, TimePoint at) = 0;
  virtual std::optional<StoredUser> get(UserId id) = 0;
  /// `name` must already be a valid user name.
  virtual std::optional<StoredUser> by_name(std::string_view name) = 0;
  virtual std::optional<StoredUser> by_student(StudentId student) = 0;
  /// Replaces the hash; `changed_at` (a password change) also sets password_changed_at, a
  /// rehash of the same password leaves it.
  virtual void set_password(UserId id, const std::string& password_hash,
                            std::optional<TimePoint> changed_at) = 0;
  /// Sets the status of a user that is not deleted; nullopt when absent or deleted.
  virtual std::optional<User> set_status(UserId id, UserStatus status) = 0;
  /// Appends one attempt (its id is assigned here).
  virtual void record_login(const LoginRecord& record) = 0;
  /// Attempts newest first.
  virtual std::vector<LoginRecord> logins(std::optional<UserId> user,
                                          const std::optional<std::string>& ip, int limit) = 0;
};

std::unique_ptr<AccountDb> make_pg_account_db(db::PgPool& pool, db::StudentStore& students);
std::unique_ptr<AccountDb> make_memory_account_db(db::StudentStore& students);

}  // namespace examstore::security
