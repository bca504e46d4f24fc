// Users, passwords, the login log and throttling over AccountDb, the hot tier and the audit log;
// sessions in security/sessions.cpp. See include/examstore/accounts.hpp for the contract and
// docs/accounts.md for what is stored where.
#include <sodium.h>

#include <array>
#include <ctime>
#include <mutex>

#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/accounts.hpp"
#include "examstore/audit.hpp"
#include "examstore/error.hpp"
#include "repo/context.hpp"
#include "security/account_db.hpp"
#include "security/login_throttle.hpp"
#include "security/password.hpp"
#include "security/sessions.hpp"

namespace examstore::repo {
namespace {

using security::StoredUser;

constexpr std::size_t kMaxName = 64;
const char* const kWrongCredentials = "wrong user name or password";

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName &&
         name.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "0123456789._@-") == std::string_view::npos;
}

/// The name tried, as the login log keeps it: printable ASCII only, at most 64 characters.
std::string loggable(std::string_view name) {
  std::string out(name.substr(0, kMaxName));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

std::string iso_utc(TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

bool is_admin(const Principal& p) { return p.is_system() || p.role == Role::kAdministrator; }

void require_admin(const std::string& op, const Principal& by) {
  if (!is_admin(by)) {
    throw Error(ErrorCode::kPermissionDenied, op,
                "only an administrator may do this (" + by.name + " is a " +
                    std::string(to_string(by.role)) + ")");
  }
}

std::string target(UserId id) { return "user:" + std::to_string(id); }

std::string summary(const User& u) {
  return "{\"name\":\"" + u.name + "\",\"role\":\"" + std::string(to_string(u.role)) +
         "\",\"status\":\"" + std::string(to_string(u.status)) + "\",\"student_id\":" +
         (u.student_id ? std::to_string(*u.student_id) : std::string("null")) + "}";
}

std::string status_summary(UserStatus s) {
  return "{\"status\":\"" + std::string(to_string(s)) + "\"}";
}

class AccountRepoImpl final : public AccountRepo {
 public:
  AccountRepoImpl(Context& ctx, AuditLog& audit, std::shared_ptr<security::AccountDb> db,
                  security::HotSessions& sessions)
      : o_(ctx.config.security),
        audit_(audit),
        db_(std::move(db)),
        sessions_(sessions),
        throttle_(ctx.cache, ctx.keys, o_.login) {}

  User create(const NewUser& u, const Principal& by) override {
    const std::string op = "user create";
    require_admin(op, by);
    if (!valid_name(u.name)) {
      db::check::invalid(op, "name", "must be 1..64 characters of A-Z a-z 0-9 . _ @ -");
    }
    const int role = static_cast<int>(u.role);
    if (role < 0 || role > static_cast<int>(Role::kAdministrator)) {
      db::check::invalid(op, "role", "unknown role " + std::to_string(role));
    }
    if (u.role == Role::kStudent && !u.student_id) {
      db::check::invalid(op, "student_id", "required for a student");
    }
    if (u.role != Role::kStudent && u.student_id) {
      db::check::invalid(op, "student_id", "only a student is linked to a student record");
    }
    if (u.student_id) db::check::positive_id(op, "student_id", *u.student_id);
    security::check_password(op, "password", u.password, o_.passwords);
    User out = db_->insert(u, security::hash_password(u.password, o_.passwords),
                           std::chrono::system_clock::now());
    audit_.append(by, {"user.create", target(out.id), "", summary(out)});
    return out;
  }

  std::optional<User> get(UserId id) override {
    if (id <= 0) return std::nullopt;
    return user_of(db_->get(id));
  }
  std::optional<User> find_by_name(std::string_view name) override {
    if (!valid_name(name)) return std::nullopt;
    return user_of(db_->by_name(name));
  }
  std::optional<User> find_by_student(StudentId student) override {
    if (student <= 0) return std::nullopt;
    return user_of(db_->by_student(student));
  }

  NewSession login(std::string_view name, std::string_view password,
                   const std::string& ip) override {
    const std::string op = "login";
    keys::ip_part(ip);  // kInvalidArgument unless an address (or empty)
    LoginRecord rec;
    rec.name = loggable(name);
    rec.ip = ip;
    rec.at = std::chrono::system_clock::now();
    const auto found = valid_name(name) ? db_->by_name(name) : std::nullopt;
    if (found) rec.user_id = found->user.id;

    if (const auto r = throttle_.refused(rec.user_id, ip)) {
      rec.reason = r->of_user ? "throttled_user" : "throttled_ip";
      db_->record_login(rec);
      throw Error(ErrorCode::kResourceExhausted, op,
                  (r->of_user ? "user " + found->user.name : "ip " + ip) +
                      ": too many failed logins; refused until " + iso_utc(r->until));
    }
    // An unknown name costs a hash like a known one, so timing does not tell them apart.
    const bool match =
        password.size() <= security::kMaxPasswordBytes &&
        security::verify_password(found ? found->password_hash : dummy_hash(), password) && found;
    if (!match) {
      rec.reason = "bad_credentials";
      db_->record_login(rec);
      throttle_.failed(rec.user_id, ip);
      throw Error(ErrorCode::kPermissionDenied, op, kWrongCredentials);
    }
    const User& user = found->user;
    if (user.status != UserStatus::kActive) {
      rec.reason = std::string(to_string(user.status));
      db_->record_login(rec);
      throw Error(ErrorCode::kPermissionDenied, op, "user " + user.name + " is " + rec.reason);
    }
    if (security::needs_rehash(found->password_hash, o_.passwords)) {
      db_->set_password(user.id, security::hash_password(password, o_.passwords), std::nullopt);
    }
    throttle_.clear(user.id, false);
    NewSession session = sessions_.open(user, ip);
    rec.success = true;
    rec.reason = "ok";
    db_->record_login(rec);
    return session;
  }

  void change_password(UserId id, std::string_view current, std::string_view next,
                       const Principal& by) override {
    const std::string op = "change password";
    if (by.user_id != id && !is_admin(by)) {
      throw Error(ErrorCode::kPermissionDenied, op,
                  "only the user or an administrator may change a password");
    }
    const StoredUser u = live_user(op, id);
    security::check_password(op, "next", next, o_.passwords);
    if (current.size() > security::kMaxPasswordBytes ||
        !security::verify_password(u.password_hash, current)) {
      throw Error(ErrorCode::kPermissionDenied, op, "the current password is wrong");
    }
    set_password(u.user, next, by, "user.password_change");
  }

  void reset_password(UserId id, std::string_view next, const Principal& by) override {
    const std::string op = "reset password";
    require_admin(op, by);
    const StoredUser u = live_user(op, id);
    security::check_password(op, "next", next, o_.passwords);
    set_password(u.user, next, by, "user.password_reset");
  }

  User lock(UserId id, const Principal& by) override {
    const std::string op = "user lock";
    require_admin(op, by);
    const StoredUser u = live_user(op, id);
    if (u.user.status == UserStatus::kLocked) return u.user;
    return change_status(op, u.user, UserStatus::kLocked, by, "user.lock");
  }

  User unlock(UserId id, const Principal& by) override {
    const std::string op = "user unlock";
    require_admin(op, by);
    const StoredUser u = live_user(op, id);
    throttle_.clear(id, true);
    return change_status(op, u.user, UserStatus::kActive, by, "user.unlock");
  }

  User remove(UserId id, const Principal& by) override {
    const std::string op = "user remove";
    require_admin(op, by);
    const auto u = db_->get(id > 0 ? id : 0);
    if (!u) throw Error(ErrorCode::kNotFound, op, "user: there is no user " + std::to_string(id));
    if (u->user.status == UserStatus::kDeleted) return u->user;
    return change_status(op, u->user, UserStatus::kDeleted, by, "user.delete");
  }

  std::vector<LoginRecord> login_log(std::optional<UserId> user, std::optional<std::string> ip,
                                     int limit) override {
    const std::string op = "login log";
    db::check::limit(op, limit);
    if (ip) db::check::text(op, "ip", *ip, 0, 64);
    return db_->logins(user, ip, limit);
  }

 private:
  static std::optional<User> user_of(const std::optional<StoredUser>& s) {
    if (!s) return std::nullopt;
    return s->user;
  }

  /// The user `id`: kNotFound when absent, kConflict when deleted.
  StoredUser live_user(const std::string& op, UserId id) {
    auto u = id > 0 ? db_->get(id) : std::nullopt;
    if (!u) throw Error(ErrorCode::kNotFound, op, "user: there is no user " + std::to_string(id));
    if (u->user.status == UserStatus::kDeleted) {
      throw Error(ErrorCode::kConflict, op, "user " + u->user.name + " is deleted");
    }
    return std::move(*u);
  }

  void set_password(const User& u, std::string_view next, const Principal& by, const char* action) {
    db_->set_password(u.id, security::hash_password(next, o_.passwords),
                      std::chrono::system_clock::now());
    const std::int64_t ended = sessions_.invalidate_user(u.id);
    audit_.append(by,
                  {action, target(u.id), "", "{\"sessions_ended\":" + std::to_string(ended) + "}"});
  }

  User change_status(const std::string& op, const User& before, UserStatus to, const Principal& by,
                     const char* action) {
    const auto after = db_->set_status(before.id, to);
    if (!after) throw Error(ErrorCode::kConflict, op, "user " + before.name + " is deleted");
    std::string summary_after = status_summary(to);
    if (to != UserStatus::kActive) {
      const std::int64_t ended = sessions_.invalidate_user(before.id);
      summary_after.pop_back();
      summary_after += ",\"sessions_ended\":" + std::to_string(ended) + "}";
    }
    audit_.append(by, {action, target(before.id), status_summary(before.status), summary_after});
    return *after;
  }

  /// A hash of a random password with the configured factors, verified against for unknown
  /// names.
  const std::string& dummy_hash() {
    std::call_once(dummy_once_, [this] {
      std::array<unsigned char, 16> random{};
      randombytes_buf(random.data(), random.size());
      std::array<char, 33> text{};
      sodium_bin2hex(text.data(), text.size(), random.data(), random.size());
      dummy_hash_ = security::hash_password(text.data(), o_.passwords);
    });
    return dummy_hash_;
  }

  const SecurityOptions& o_;
  AuditLog& audit_;
  std::shared_ptr<security::AccountDb> db_;
  security::HotSessions& sessions_;
  security::LoginThrottle throttle_;
  std::once_flag dummy_once_;
  std::string dummy_hash_;  // written once under dummy_once_
};

/// The SessionStore handed out: owns the hot sessions and shares the database with the repo.
class OwnedSessions final : public security::HotSessions {
 public:
  OwnedSessions(std::shared_ptr<security::AccountDb> db, std::unique_ptr<HotSessions> inner)
      : db_(std::move(db)), inner_(std::move(inner)) {}
  NewSession open(const User& u, const std::string& ip) override { return inner_->open(u, ip); }
  NewSession create(UserId u, const std::string& ip) override { return inner_->create(u, ip); }
  std::optional<SessionInfo> lookup(std::string_view t) override { return inner_->lookup(t); }
  bool extend(std::string_view t, std::optional<std::chrono::seconds> ttl) override {
    return inner_->extend(t, ttl);
  }
  bool invalidate(std::string_view t) override { return inner_->invalidate(t); }
  std::int64_t invalidate_user(UserId u) override { return inner_->invalidate_user(u); }
  std::vector<SessionInfo> list(UserId u) override { return inner_->list(u); }

 private:
  std::shared_ptr<security::AccountDb> db_;  // outlives inner_, which refers to it
  std::unique_ptr<HotSessions> inner_;
};

}  // namespace

AccountServices make_account_services(Context& ctx, AuditLog& audit) {
  const SecurityOptions& o = ctx.config.security;
  security::check_password_options("config", o.passwords);
  const auto& s = o.sessions;
  if (s.ttl.count() <= 0) db::check::invalid("config", "security.sessions.ttl", "must be > 0");
  if (s.max_ttl < s.ttl) {
    db::check::invalid("config", "security.sessions.max_ttl", "must be >= security.sessions.ttl");
  }
  if (s.max_per_user < 1) {
    db::check::invalid("config", "security.sessions.max_per_user", "must be >= 1");
  }
  std::shared_ptr<security::AccountDb> db =
      ctx.pool != nullptr ? security::make_pg_account_db(*ctx.pool, *ctx.stores.students)
                          : security::make_memory_account_db(*ctx.stores.students);
  auto sessions =
      std::make_unique<OwnedSessions>(db, security::make_hot_sessions(ctx.cache, ctx.keys, s, *db));
  AccountServices out;
  out.accounts = std::make_unique<AccountRepoImpl>(ctx, audit, db, *sessions);
  out.sessions = std::move(sessions);
  return out;
}

}  // namespace examstore::repo
