// TODO(issue 7, A): users, Argon2id passwords, the login log, throttling and sessions.
// Placeholder: every call throws kInternal except find_by_student (nullopt) and
// invalidate_user (0), so that callers in other parts can be built and tested meanwhile.
#include "examstore/accounts.hpp"
#include "examstore/error.hpp"
#include "repo/context.hpp"

namespace examstore::repo {
namespace {

[[noreturn]] void todo(const char* what) {
  throw Error(ErrorCode::kInternal, what, "not implemented yet (issue 7, accounts)");
}

class PendingSessions final : public SessionStore {
 public:
  NewSession create(UserId, const std::string&) override { todo("session create"); }
  std::optional<SessionInfo> lookup(std::string_view) override { todo("session lookup"); }
  bool extend(std::string_view, std::optional<std::chrono::seconds>) override {
    todo("session extend");
  }
  bool invalidate(std::string_view) override { todo("session invalidate"); }
  std::int64_t invalidate_user(UserId) override { return 0; }
  std::vector<SessionInfo> list(UserId) override { todo("session list"); }
};

class PendingAccounts final : public AccountRepo {
 public:
  User create(const NewUser&, const Principal&) override { todo("user create"); }
  std::optional<User> get(UserId) override { todo("user get"); }
  std::optional<User> find_by_name(std::string_view) override { todo("user find"); }
  std::optional<User> find_by_student(StudentId) override { return std::nullopt; }
  NewSession login(std::string_view, std::string_view, const std::string&) override {
    todo("login");
  }
  void change_password(UserId, std::string_view, std::string_view, const Principal&) override {
    todo("change password");
  }
  void reset_password(UserId, std::string_view, const Principal&) override {
    todo("reset password");
  }
  User lock(UserId, const Principal&) override { todo("user lock"); }
  User unlock(UserId, const Principal&) override { todo("user unlock"); }
  User remove(UserId, const Principal&) override { todo("user remove"); }
  std::vector<LoginRecord> login_log(std::optional<UserId>, std::optional<std::string>,
                                     int) override {
    todo("login log");
  }
};

}  // namespace

AccountServices make_account_services(Context&, AuditLog&) {
  AccountServices s;
  s.sessions = std::make_unique<PendingSessions>();
  s.accounts = std::make_unique<PendingAccounts>();
  return s;
}

}  // namespace examstore::repo
