// AccessControl: the grants API (validated, authorized, audited, idempotent) over a
// GrantBackend, and decisions by the policy table through a short-lived grant cache.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>

#include "db/stores.hpp"
#include "examstore/access.hpp"
#include "examstore/audit.hpp"
#include "examstore/error.hpp"
#include "examstore/paper_store.hpp"
#include "repo/context.hpp"
#include "security/access_db.hpp"
#include "security/access_internal.hpp"
#include "security/policy.hpp"

namespace examstore {
namespace security {
namespace {

using Clock = std::chrono::steady_clock;

/// How long a grant lookup is reused. Changes made through this AccessControl clear the cache at
/// once; changes made by another process are seen after at most this long.
constexpr std::chrono::seconds kGrantCacheTtl{2};
/// The cache is emptied rather than grown past this many entries per kind.
constexpr std::size_t kGrantCacheMaxEntries = 10000;

/// Lookup results keyed by their arguments. A result loaded while a change cleared the cache is
/// not kept (the generation moved on), so a cleared cache never regains a pre-change result.
class GrantCache {
 public:
  template <typename V, typename Load>
  V get(std::map<std::string, std::pair<Clock::time_point, V>> GrantCache::*table,
        const std::string& key, const Load& load) {
    std::uint64_t generation = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto& m = this->*table;
      const auto it = m.find(key);
      if (it != m.end() && it->second.first > Clock::now()) return it->second.second;
      generation = generation_;
    }
    V value = load();
    std::lock_guard<std::mutex> lock(mu_);
    if (generation == generation_) {
      auto& m = this->*table;
      if (m.size() >= kGrantCacheMaxEntries) m.clear();
      m[key] = {Clock::now() + kGrantCacheTtl, value};
    }
    return value;
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    flags_.clear();
    exam_courses_.clear();
    courses_.clear();
  }

  std::map<std::string, std::pair<Clock::time_point, bool>> flags_;
  std::map<std::string, std::pair<Clock::time_point, ExamCourse>> exam_courses_;
  std::map<std::string, std::pair<Clock::time_point, std::optional<std::string>>> courses_;

 private:
  std::mutex mu_;  // guards generation_ and the three tables
  std::uint64_t generation_ = 0;
};

std::string id_text(std::int64_t id) { return std::to_string(id); }

void check_user_id(const std::string& operation, const char* field, UserId id) {
  if (id <= 0) {
    throw Error(ErrorCode::kInvalidArgument, operation,
                std::string(field) + ": a user id must be > 0, got " + id_text(id));
  }
}

/// The course as PaperKey spells it; kInvalidArgument naming the field "course".
std::string checked_course(const std::string& operation, const std::string& course) {
  try {
    return PaperKey::parse(course).str();
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument, operation, "course: " + e.message());
  }
}

class AccessControlImpl final : public AccessControl, private GrantLookup {
 public:
  AccessControlImpl(std::unique_ptr<GrantBackend> backend, AuditLog& audit)
      : backend_(std::move(backend)), audit_(audit) {}

  Decision decide(const Principal& who, Operation op, const Target& target) override {
    return evaluate(who, op, target, *this);
  }

  void check(const Principal& who, Operation op, const Target& target) override {
    const Decision d = decide(who, op, target);
    if (!d.allowed) {
      throw Error(ErrorCode::kPermissionDenied, "authorize " + std::string(to_string(op)),
                  denial_message(who, op, target, d));
    }
  }

  void grant_course(UserId teacher, const std::string& course, const Principal& by) override {
    const std::string c = authorize_teacher_course("grant course", teacher, course, by);
    if (backend_->add_teacher_course(teacher, c)) {
      changed(by, "grant.course", "user:" + id_text(teacher) + "/course:" + c, "-", "granted");
    }
  }
  void revoke_course(UserId teacher, const std::string& course, const Principal& by) override {
    const std::string c = authorize_teacher_course("revoke course", teacher, course, by);
    if (backend_->remove_teacher_course(teacher, c)) {
      changed(by, "grant.course_revoke", "user:" + id_text(teacher) + "/course:" + c, "granted",
              "-");
    }
  }
  void assign_proctor(UserId proctor, ExamId exam, const Principal& by) override {
    authorize_proctor("assign proctor", proctor, exam, by);
    if (backend_->add_proctor(proctor, exam)) {
      changed(by, "grant.proctor", proctor_target(proctor, exam), "-", "assigned");
    }
  }
  void unassign_proctor(UserId proctor, ExamId exam, const Principal& by) override {
    authorize_proctor("unassign proctor", proctor, exam, by);
    if (backend_->remove_proctor(proctor, exam)) {
      changed(by, "grant.proctor_revoke", proctor_target(proctor, exam), "assigned", "-");
    }
  }
  void set_exam_course(ExamId exam, const std::string& course, const Principal& by) override {
    const std::string c = checked_course("set exam course", course);
    check(by, Operation::kGrantManage, Target{std::nullopt, exam, c});
    const auto before = backend_->set_exam_course(exam, c);
    if (before != c) {
      changed(by, "grant.exam_course", "exam:" + id_text(exam), before ? "course:" + *before : "-",
              "course:" + c);
    }
  }
  void set_question_course(QuestionId question, const std::string& course,
                           const Principal& by) override {
    const std::string c = checked_course("set question course", course);
    check(by, Operation::kGrantManage, Target{std::nullopt, std::nullopt, c});
    const auto before = backend_->set_question_course(question, c);
    if (before != c) {
      changed(by, "grant.question_course", "question:" + id_text(question),
              before ? "course:" + *before : "-", "course:" + c);
    }
  }

  std::vector<std::string> courses_of(UserId teacher) override {
    return backend_->courses_of(teacher);
  }
  std::vector<ExamId> exams_of_proctor(UserId proctor) override {
    return backend_->exams_of_proctor(proctor);
  }
  std::optional<std::string> course_of_exam(ExamId exam) override {
    return backend_->course_of_exam(exam);
  }
  std::optional<std::string> course_of_question(QuestionId question) override {
    return backend_->course_of_question(question);
  }

  // ---- for the Actor ----
  std::optional<std::string> cached_question_course(QuestionId question) {
    return cache_.get(&GrantCache::courses_, "q:" + id_text(question),
                      [&] { return backend_->course_of_question(question); });
  }
  void set_new_question_course(QuestionId question, const std::string& course) {
    backend_->set_question_course(question, course);
    cache_.clear();
  }

 private:
  // ---- GrantLookup, through the cache ----
  bool teaches(UserId teacher, const std::string& course) override {
    return cache_.get(&GrantCache::flags_, "t:" + id_text(teacher) + ":" + course,
                      [&] { return backend_->teaches(teacher, course); });
  }
  ExamCourse exam_course(UserId teacher, ExamId exam) override {
    return cache_.get(&GrantCache::exam_courses_, id_text(teacher) + ":" + id_text(exam),
                      [&] { return backend_->exam_course(teacher, exam); });
  }
  bool proctors(UserId proctor, ExamId exam) override {
    return cache_.get(&GrantCache::flags_, "p:" + id_text(proctor) + ":" + id_text(exam),
                      [&] { return backend_->proctors(proctor, exam); });
  }

  std::string authorize_teacher_course(const std::string& operation, UserId teacher,
                                       const std::string& course, const Principal& by) {
    check_user_id(operation, "teacher", teacher);
    std::string c = checked_course(operation, course);
    check(by, Operation::kGrantManage, Target{std::nullopt, std::nullopt, c});
    return c;
  }
  void authorize_proctor(const std::string& operation, UserId proctor, ExamId exam,
                         const Principal& by) {
    check_user_id(operation, "proctor", proctor);
    check(by, Operation::kGrantManage, Target{std::nullopt, exam, std::nullopt});
  }
  static std::string proctor_target(UserId proctor, ExamId exam) {
    return "user:" + id_text(proctor) + "/exam:" + id_text(exam);
  }

  /// After a grant changed: forget cached lookups at once, then record who changed what.
  void changed(const Principal& by, const char* action, std::string target, std::string before,
               std::string after) {
    cache_.clear();
    audit_.append(by,
                  NewAuditEntry{action, std::move(target), std::move(before), std::move(after)});
  }

  std::unique_ptr<GrantBackend> backend_;
  AuditLog& audit_;
  GrantCache cache_;
};

AccessControlImpl& impl_of(AccessControl& access) {
  auto* impl = dynamic_cast<AccessControlImpl*>(&access);
  if (impl == nullptr) {
    throw Error(ErrorCode::kInternal, "access control",
                "the Actor needs the AccessControl made by the Store");
  }
  return *impl;
}

}  // namespace

std::optional<std::string> cached_question_course(AccessControl& access, QuestionId question) {
  return impl_of(access).cached_question_course(question);
}

void set_new_question_course(AccessControl& access, QuestionId question,
                             const std::string& course) {
  impl_of(access).set_new_question_course(question, course);
}

}  // namespace security

namespace repo {
std::unique_ptr<AccessControl> make_access_control(Context& ctx, AuditLog& audit,
                                                   QuestionBank& questions) {
  auto backend = ctx.pool != nullptr
                     ? security::make_pg_grant_backend(*ctx.pool)
                     : security::make_memory_grant_backend(*ctx.stores.exams, questions);
  return std::make_unique<security::AccessControlImpl>(std::move(backend), audit);
}
}  // namespace repo

}  // namespace examstore
