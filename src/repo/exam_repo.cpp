// ExamRepo: cache-aside reads of immutable, versioned exam snapshots; database-first writes
// followed by a guarded invalidation; an optional in-process near cache dropped by the
// invalidation channel.
#include "examstore/exam_repo.hpp"

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "obs/telemetry.hpp"
#include "repo/codec.hpp"
#include "repo/context.hpp"
#include "repo/keys.hpp"
#include "repo/lazy_subscription.hpp"

namespace examstore::repo {
namespace {

class NearCache {
 public:
  NearCache(Cache& cache, std::string channel, std::chrono::milliseconds ttl)
      : ttl_(ttl),
        invalidations_(cache, std::move(channel), [this](std::string_view, std::string_view key) {
          std::lock_guard<std::mutex> l(mu_);
          entries_.erase(std::string(key));
        }) {}
  bool enabled() const { return ttl_.count() > 0; }
  std::shared_ptr<const Exam> get(const std::string& key) {
    if (!invalidations_.live()) return nullptr;
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    if (std::chrono::steady_clock::now() >= it->second.expires) {
      entries_.erase(it);
      return nullptr;
    }
    return it->second.exam;
  }
  void put(const std::string& key, std::shared_ptr<const Exam> exam) {
    if (!invalidations_.live()) return;
    std::lock_guard<std::mutex> l(mu_);
    entries_[key] = Entry{std::move(exam), std::chrono::steady_clock::now() + ttl_};
  }
  void drop(const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    entries_.erase(key);
  }

 private:
  struct Entry {
    std::shared_ptr<const Exam> exam;
    std::chrono::steady_clock::time_point expires;
  };
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;  // guards entries_
  std::unordered_map<std::string, Entry> entries_;
  LazySubscription invalidations_;  // last: dropped first
};

class ExamRepoImpl final : public ExamRepo {
 public:
  explicit ExamRepoImpl(Context& ctx)
      : ctx_(ctx),
        store_(*ctx.stores.exams),
        near_(ctx.cache, ctx.keys.invalidation_channel(), ctx.config.near_cache_ttl) {}

  Exam create(const NewExam& exam) override {
    Exam e = store_.create(exam);
    invalidate(e.id);  // an "absent" marker for this id may be cached
    // A new id has no hot state; anything under its keys is left from a database that was reset
    // while Redis kept its data.
    try {
      ctx_.cache.del({ctx_.keys.presence_heartbeats(e.id), ctx_.keys.presence_states(e.id),
                      ctx_.keys.presence_counts(e.id), ctx_.keys.violation_counts(e.id),
                      ctx_.keys.violation_counts_by_student(e.id),
                      ctx_.keys.violation_counted(e.id)});
    } catch (const Error&) {  // the exam is created; a hot tier that is down holds nothing new
    }
    return e;
  }

  std::optional<Exam> get(ExamId id) override {
    keys::check_id("exam id", id);
    const std::string key = ctx_.keys.exam(id);
    if (near_.enabled()) {
      auto hit = near_.get(key);
      if (ctx_.telemetry) ctx_.telemetry->exam_near_cache.count(hit != nullptr);
      if (hit) return *hit;
    }
    auto encoded = ctx_.cache_aside.get(key, [&]() -> std::optional<std::string> {
      auto e = store_.get(id);
      if (!e) return std::nullopt;
      return encode(*e);
    });
    if (!encoded) return std::nullopt;
    Exam e;
    try {
      e = decode_exam(*encoded);
    } catch (const Error&) {  // an unreadable cached value: drop it, read the database
      ctx_.cache_aside.invalidate(key);
      auto fresh = store_.get(id);
      if (!fresh) return std::nullopt;
      e = std::move(*fresh);
    }
    if (near_.enabled()) near_.put(key, std::make_shared<const Exam>(e));
    return e;
  }

  std::vector<Exam> list(std::optional<ExamStatus> status, std::optional<TimePoint> from,
                         std::optional<TimePoint> to, int limit) override {
    return store_.list(status, from, to, limit);
  }

  Exam update_config(ExamId id, const std::string& config, const std::string& changed_by,
                     std::optional<std::int64_t> expected_config_version) override {
    keys::check_id("exam id", id);
    Exam e = store_.update_config(id, config, changed_by, expected_config_version);
    invalidate(id);
    return e;
  }

  std::vector<ConfigChange> config_history(ExamId id) override {
    keys::check_id("exam id", id);
    return store_.config_history(id);
  }

  Exam transition(ExamId id, ExamStatus to) override {
    keys::check_id("exam id", id);
    Exam e = store_.transition(id, to);
    invalidate(id);
    return e;
  }

 private:
  void invalidate(ExamId id) {
    const std::string key = ctx_.keys.exam(id);
    near_.drop(key);  // this process at once; others by the published message
    ctx_.cache_aside.invalidate(key);
  }

  Context& ctx_;
  db::ExamStore& store_;
  NearCache near_;
};

}  // namespace

std::unique_ptr<ExamRepo> make_exam_repo(Context& ctx) {
  return std::make_unique<ExamRepoImpl>(ctx);
}

}  // namespace examstore::repo
