// repo/context.hpp: what every repository shares, owned by the Store.
#pragma once

#include <memory>

#include "db/stores.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "repo/cache_aside.hpp"
#include "repo/keys.hpp"
#include "repo/seat_maps.hpp"
#include "write_behind/queue.hpp"

namespace examstore {
class ExamRepo;
class StudentRepo;
class ViolationRepo;
class QuestionBank;
class PaperStore;
class AttemptRepo;
class GradingRepo;
class AccountRepo;
class SessionStore;
class AccessControl;
class AuditLog;
class PersonalData;
}  // namespace examstore

namespace examstore::obs {
struct Telemetry;
}  // namespace examstore::obs

namespace examstore::crypto {
class Keyring;
}  // namespace examstore::crypto

namespace examstore::repo {

struct Context {
  Cache& cache;
  db::Stores& stores;
  wb::WriteBehindQueue& queue;
  const Config& config;
  CacheAside& cache_aside;
  SeatMaps& seats;
  const keys::KeySchema& keys;
  db::PgPool* pool;  ///< the PostgreSQL pool, or nullptr on the in-memory database
  obs::Telemetry* telemetry = nullptr;  ///< counters and logger; nullptr counts nothing
  /// The keys that seal students' email and phone (security/crypto.hpp), owned by the Store.
  const crypto::Keyring* personal = nullptr;

  /// The durability actually used for `d`. On the in-memory database nothing survives the
  /// process, so without a journal kJournaled means kCached there (documented in
  /// write_behind.hpp); on PostgreSQL it stays kJournaled (and fails without a journal).
  Durability effective(Durability d) const {
    if (d == Durability::kJournaled && !queue.has_journal() &&
        config.database_backend == BackendKind::kMemory) {
      return Durability::kCached;
    }
    return d;
  }
  /// The durability of presence transitions: journaled when a journal exists, else cached.
  Durability presence_durability() const {
    return queue.has_journal() ? Durability::kJournaled : Durability::kCached;
  }
};

std::unique_ptr<ExamRepo> make_exam_repo(Context& ctx);
std::unique_ptr<StudentRepo> make_student_repo(Context& ctx);
std::unique_ptr<ViolationRepo> make_violation_repo(Context& ctx);
/// src/questions/question_bank.cpp: PostgreSQL or in-memory questions, chosen by ctx.pool.
std::unique_ptr<QuestionBank> make_question_bank(Context& ctx);
/// src/papers/paper_store.cpp: papers over ctx (Redis/memory hot tier, PostgreSQL/memory order).
std::unique_ptr<PaperStore> make_paper_store(Context& ctx, QuestionBank& bank);
/// src/attempts/attempt_repo.cpp: attempts and answers over ctx and the paper store.
std::unique_ptr<AttemptRepo> make_attempt_repo(Context& ctx, PaperStore& papers);
/// src/grading/grading_repo.cpp: grading records over ctx (ctx.stores.grading) and the papers.
std::unique_ptr<GradingRepo> make_grading_repo(Context& ctx, PaperStore& papers);

/// src/security/audit_log.cpp over ctx.pool (PostgreSQL) or memory.
std::unique_ptr<AuditLog> make_audit_log(Context& ctx);
/// src/security/accounts.cpp: users, the login log and sessions (they need each other).
struct AccountServices {
  std::unique_ptr<SessionStore> sessions;
  std::unique_ptr<AccountRepo> accounts;
};
AccountServices make_account_services(Context& ctx, AuditLog& audit);
/// src/security/access.cpp: the rules and the grants (PostgreSQL by ctx.pool, else memory,
/// where `questions` tells whether a question exists).
std::unique_ptr<AccessControl> make_access_control(Context& ctx, AuditLog& audit,
                                                   QuestionBank& questions);
/// src/security/personal_data.cpp: encrypted personal fields, key rotation and GDPR, over
/// ctx.personal (the keys), ctx.stores (students, attempts, violations) and the account services.
std::unique_ptr<PersonalData> make_personal_data(Context& ctx, AuditLog& audit,
                                                 AccountRepo& accounts, SessionStore& sessions);

}  // namespace examstore::repo
