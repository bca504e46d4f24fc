// The durable tier of the question bank: the in-memory store and the PostgreSQL store.
//
// PostgreSQL rules kept here, as in db/pg_stores.cpp: SQL text is built only from constants and
// every value travels as a parameter; times travel as bigint microseconds; every call is one
// PgPool::transact (reads included), whose body may run more than once and therefore keeps its
// results in variables it resets.
#include "questions/question_store.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>

#include <pqxx/pqxx>

#include "common/json.hpp"
#include "db/pg_pool.hpp"
#include "db/sql_params.hpp"
#include "db/store_checks.hpp"
#include "examstore/error.hpp"

namespace examstore::questions {

std::vector<std::string> path_prefixes(const std::string& path) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') out.push_back(path.substr(0, i));
  }
  return out;
}

std::string question_label(QuestionId id) { return "question " + std::to_string(id); }

std::string string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += json::quote(items[i]);
  }
  return out + "]";
}

std::vector<std::string> parse_string_array(const std::string& json_text, const char* what) {
  std::vector<std::string> out;
  try {
    const json::Value v = json::parse(json_text);
    if (v.is_array()) {
      for (const auto& item : v.items) {
        if (!item.is_string()) break;
        out.push_back(item.text);
      }
      if (out.size() == v.items.size()) return out;
    }
  } catch (const Error&) {
  }
  throw Error(ErrorCode::kDataIntegrity, "question read",
              std::string(what) + " is not a JSON array of strings: " + json_text);
}

namespace {

Question make_question(QuestionId id, int version, const CheckedDraft& c, TimePoint at) {
  const QuestionDraft& d = c.draft;
  Question q;
  q.id = id;
  q.version = version;
  q.type = d.type;
  q.stem = d.stem;
  q.options = d.options;
  q.answer = d.answer;
  q.score = static_cast<double>(c.score_cents) / 100.0;
  q.difficulty = d.difficulty;
  q.subject = d.subject;
  q.knowledge_points = d.knowledge_points;
  q.media = d.media;
  q.author = d.author;
  q.created_at = db::check::truncate(at);
  return q;
}

[[noreturn]] void exists_conflict(const std::string& op, QuestionId id) {
  db::check::conflict(op, question_label(id) + " already exists");
}

bool matches_point(const Question& q, const std::string& point) {
  const std::string prefix = point + "/";
  return std::any_of(q.knowledge_points.begin(), q.knowledge_points.end(),
                     [&](const std::string& p) { return p == point || p.rfind(prefix, 0) == 0; });
}

// ---- in memory ----

class MemoryQuestionStore final : public QuestionStore {
 public:
  Question create(const CheckedDraft& d, TimePoint at) override {
    std::lock_guard<std::mutex> l(mu_);
    QuestionId id = 0;
    if (d.draft.id) {
      id = *d.draft.id;
      if (questions_.count(id)) exists_conflict("question create", id);
      move_sequence_past(id);
    } else {
      id = next_++;
      if (questions_.count(id)) exists_conflict("question create", id);
    }
    return store(id, d, at);
  }

  Question edit(QuestionId id, const CheckedDraft& d, TimePoint at) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = questions_.find(id);
    if (it == questions_.end()) db::check::not_found("question edit", question_label(id));
    const int version = static_cast<int>(it->second.size()) + 1;
    add_points(d);
    it->second.push_back(make_question(id, version, d, at));
    return it->second.back();
  }

  std::optional<Question> get(QuestionId id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = questions_.find(id);
    if (it == questions_.end()) return std::nullopt;
    return it->second.back();
  }

  std::optional<Question> get_version(QuestionId id, int version) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = questions_.find(id);
    if (it == questions_.end() || version < 1 || version > static_cast<int>(it->second.size())) {
      return std::nullopt;
    }
    return it->second[static_cast<std::size_t>(version - 1)];
  }

  std::vector<Question> search(const QuestionSearch& f) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Question> out;
    for (auto it = questions_.upper_bound(f.after_id);
         it != questions_.end() && static_cast<int>(out.size()) < f.limit; ++it) {
      const Question& q = it->second.back();
      if (f.subject && q.subject != *f.subject) continue;
      if (f.type && q.type != *f.type) continue;
      if (q.difficulty < f.min_difficulty || q.difficulty > f.max_difficulty) continue;
      if (f.knowledge_point && !matches_point(q, *f.knowledge_point)) continue;
      out.push_back(q);
    }
    return out;
  }

  std::set<QuestionId> existing(const std::vector<QuestionId>& ids) override {
    std::lock_guard<std::mutex> l(mu_);
    std::set<QuestionId> out;
    for (QuestionId id : ids) {
      if (questions_.count(id)) out.insert(id);
    }
    return out;
  }

  std::vector<QuestionId> import(const std::vector<CheckedDraft>& drafts, TimePoint at) override {
    std::lock_guard<std::mutex> l(mu_);
    std::optional<QuestionId> max_given;
    std::set<QuestionId> given;
    for (const auto& d : drafts) {
      if (!d.draft.id) continue;
      const QuestionId id = *d.draft.id;
      if (questions_.count(id) || !given.insert(id).second) exists_conflict("question import", id);
      max_given = std::max(max_given.value_or(id), id);
    }
    // Checked first, so a conflict leaves nothing behind; then written in PostgreSQL's order.
    std::vector<QuestionId> ids(drafts.size(), 0);
    for (std::size_t i = 0; i < drafts.size(); ++i) {
      if (drafts[i].draft.id) ids[i] = store(*drafts[i].draft.id, drafts[i], at).id;
    }
    if (max_given) move_sequence_past(*max_given);
    for (std::size_t i = 0; i < drafts.size(); ++i) {
      if (!drafts[i].draft.id) ids[i] = store(next_++, drafts[i], at).id;
    }
    return ids;
  }

 private:
  // setval('question_id_seq', GREATEST(id, nextval('question_id_seq')))
  void move_sequence_past(QuestionId id) {
    // Checked ids are below the bigint maximum (question_bank.cpp), so +1 cannot overflow.
    next_ = std::max(id, next_) + 1;
  }
  void add_points(const CheckedDraft& d) {
    for (const auto& p : d.draft.knowledge_points) {
      for (auto& prefix : path_prefixes(p)) points_.insert(std::move(prefix));
    }
  }
  const Question& store(QuestionId id, const CheckedDraft& d, TimePoint at) {
    add_points(d);
    auto& versions = questions_[id];
    versions.push_back(make_question(id, 1, d, at));
    return versions.back();
  }

  std::mutex mu_;                                          // guards everything below
  std::map<QuestionId, std::vector<Question>> questions_;  // versions, oldest first
  std::set<std::string> points_;                           // the knowledge-point tree, as paths
  QuestionId next_ = 1;                                    // what nextval would return
};

// ---- PostgreSQL ----

std::string ts(const std::string& expr) {
  return "('epoch'::timestamptz + (" + expr + ")::bigint / 1000000 * interval '1 second' + (" +
         expr + ")::bigint % 1000000 * interval '1 microsecond')";
}

const std::string& version_columns() {
  static const std::string s =
      "v.question_id, v.version, v.type, v.stem, v.options::text, v.answer::text, "
      "(v.score * 100)::bigint, v.difficulty, v.subject, v.media::text, v.author, "
      "(extract(epoch from v.created_at) * 1000000)::bigint, "
      "COALESCE((SELECT json_agg(kp.path)::text FROM question_knowledge_points qk "
      "JOIN knowledge_points kp ON kp.id = qk.point_id "
      "WHERE qk.question_id = v.question_id AND qk.version = v.version), '[]')";
  return s;
}

Question read_question(const pqxx::row& r) {
  Question q;
  q.id = r[0].as<std::int64_t>();
  q.version = r[1].as<int>();
  const auto type = parse_question_type(r[2].c_str());
  if (!type) {
    throw Error(ErrorCode::kDataIntegrity, "question read",
                std::string("unknown question type '") + r[2].c_str() + "' in the database");
  }
  q.type = *type;
  q.stem = r[3].c_str();
  q.options = parse_string_array(r[4].c_str(), "options");
  q.answer = r[5].c_str();
  q.score = static_cast<double>(r[6].as<std::int64_t>()) / 100.0;
  q.difficulty = r[7].as<int>();
  q.subject = r[8].c_str();
  q.media = parse_string_array(r[9].c_str(), "media");
  q.author = r[10].c_str();
  q.created_at = db::check::from_micros(r[11].as<std::int64_t>());
  q.knowledge_points = parse_string_array(r[12].c_str(), "knowledge_points");
  std::sort(q.knowledge_points.begin(), q.knowledge_points.end());  // byte order, any collation
  return q;
}

using Params = db::SqlParams;

/// A LIKE pattern matching the descendants of `path` ('_' is a wildcard of LIKE).
std::string descendants_pattern(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '_' || c == '%' || c == '\\') out += '\\';
    out += c;
  }
  return out + "/%";
}

class PgQuestionStore final : public QuestionStore {
 public:
  explicit PgQuestionStore(db::PgPool& pool) : pool_(pool) {}

  Question create(const CheckedDraft& d, TimePoint at) override {
    const std::string op = "question create";
    const std::int64_t us = db::check::to_micros(at);
    QuestionId id = 0;
    pool_.transact(op, [&](pqxx::work& tx) {
      std::map<std::string, std::int64_t> points;
      id = insert_question(tx, op, d, us);
      if (d.draft.id) move_sequence_past(tx, id);
      insert_version(tx, id, 1, d, us, points);
    });
    return make_question(id, 1, d, at);
  }

  Question edit(QuestionId id, const CheckedDraft& d, TimePoint at) override {
    const std::string op = "question edit";
    const std::int64_t us = db::check::to_micros(at);
    int version = 0;
    pool_.transact(op, [&](pqxx::work& tx) {
      std::map<std::string, std::int64_t> points;
      // the row lock taken here orders concurrent edits of one question
      const auto r = db::exec(
          tx,
          "UPDATE questions SET current_version = current_version + 1, updated_at = " + ts("$2") +
              " WHERE id = $1 RETURNING current_version",
          id, us);
      if (r.empty()) db::check::not_found(op, question_label(id));
      version = r[0][0].as<int>();
      insert_version(tx, id, version, d, us, points);
    });
    return make_question(id, version, d, at);
  }

  std::optional<Question> get(QuestionId id) override {
    std::optional<Question> out;
    pool_.transact("question get", [&](pqxx::work& tx) {
      out.reset();
      const auto r = db::exec(tx,
                              "SELECT " + version_columns() +
                                  " FROM questions q JOIN question_versions v ON "
                                  "v.question_id = q.id AND v.version = q.current_version "
                                  "WHERE q.id = $1",
                              id);
      if (!r.empty()) out = read_question(r[0]);
    });
    return out;
  }

  std::optional<Question> get_version(QuestionId id, int version) override {
    std::optional<Question> out;
    pool_.transact("question get_version", [&](pqxx::work& tx) {
      out.reset();
      const auto r = db::exec(tx,
                              "SELECT " + version_columns() +
                                  " FROM question_versions v "
                                  "WHERE v.question_id = $1 AND v.version = $2",
                              id, version);
      if (!r.empty()) out = read_question(r[0]);
    });
    return out;
  }

  std::vector<Question> search(const QuestionSearch& f) override {
    Params p;
    std::string sql = "SELECT " + version_columns() +
                      " FROM questions q JOIN question_versions v ON v.question_id = q.id AND "
                      "v.version = q.current_version WHERE q.id > " +
                      p.add(f.after_id) + " AND v.difficulty BETWEEN " +
                      p.add(std::int64_t{f.min_difficulty}) + " AND " +
                      p.add(std::int64_t{f.max_difficulty});
    if (f.subject) sql += " AND v.subject = " + p.add(*f.subject);
    if (f.type) sql += " AND v.type = " + p.add(std::string(to_string(*f.type)));
    if (f.knowledge_point) {
      sql +=
          " AND EXISTS (SELECT 1 FROM question_knowledge_points qk JOIN knowledge_points kp ON "
          "kp.id = qk.point_id WHERE qk.question_id = v.question_id AND qk.version = v.version "
          "AND (kp.path = " +
          p.add(*f.knowledge_point) + " OR kp.path LIKE " +
          p.add(descendants_pattern(*f.knowledge_point)) + "))";
    }
    sql += " ORDER BY q.id LIMIT " + p.add(std::int64_t{f.limit});
    std::vector<Question> out;
    pool_.read_lag_tolerant("question search", [&](pqxx::work& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_question(row));
    });
    return out;
  }

  std::set<QuestionId> existing(const std::vector<QuestionId>& ids) override {
    std::string array = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) array += ',';
      array += std::to_string(ids[i]);
    }
    array += "}";
    std::set<QuestionId> out;
    pool_.transact("question import", [&](pqxx::work& tx) {
      out.clear();
      const auto r = db::exec(tx, "SELECT id FROM questions WHERE id = ANY($1::bigint[])", array);
      for (const auto& row : r) out.insert(row[0].as<std::int64_t>());
    });
    return out;
  }

  std::vector<QuestionId> import(const std::vector<CheckedDraft>& drafts, TimePoint at) override {
    const std::string op = "question import";
    const std::int64_t us = db::check::to_micros(at);
    std::vector<QuestionId> ids;
    pool_.transact(op, [&](pqxx::work& tx) {
      std::map<std::string, std::int64_t> points;
      ids.assign(drafts.size(), 0);
      std::optional<QuestionId> max_given;
      for (std::size_t i = 0; i < drafts.size(); ++i) {
        if (!drafts[i].draft.id) continue;
        ids[i] = insert_question(tx, op, drafts[i], us);
        max_given = std::max(max_given.value_or(ids[i]), ids[i]);
      }
      if (max_given) move_sequence_past(tx, *max_given);
      for (std::size_t i = 0; i < drafts.size(); ++i) {
        if (!drafts[i].draft.id) ids[i] = insert_question(tx, op, drafts[i], us);
      }
      for (std::size_t i = 0; i < drafts.size(); ++i) {
        insert_version(tx, ids[i], 1, drafts[i], us, points);
      }
    });
    return ids;
  }

 private:
  static QuestionId insert_question(pqxx::work& tx, const std::string& op, const CheckedDraft& d,
                                    std::int64_t us) {
    if (d.draft.id) {
      const auto r =
          db::exec(tx,
                   "INSERT INTO questions (id, created_at, updated_at) VALUES ($1, " + ts("$2") +
                       ", " + ts("$2") + ") ON CONFLICT (id) DO NOTHING RETURNING id",
                   *d.draft.id, us);
      if (r.empty()) exists_conflict(op, *d.draft.id);
      return *d.draft.id;
    }
    const auto r = db::exec(tx,
                            "INSERT INTO questions (created_at, updated_at) VALUES (" + ts("$1") +
                                ", " + ts("$1") + ") RETURNING id",
                            us);
    return r[0][0].as<std::int64_t>();
  }

  // Race-free: nextval() hands this transaction a value no other one gets, so the sequence only
  // moves forward past every id stored so far, whatever runs concurrently.
  static void move_sequence_past(pqxx::work& tx, QuestionId id) {
    db::exec(tx,
             "SELECT setval('question_id_seq', GREATEST($1::bigint, nextval('question_id_seq')))",
             id);
  }

  static std::int64_t point_id(pqxx::work& tx, const std::string& path,
                               std::map<std::string, std::int64_t>& points) {
    std::int64_t parent = 0;
    for (const std::string& prefix : path_prefixes(path)) {
      auto it = points.find(prefix);
      if (it == points.end()) {
        const std::string name = prefix.substr(prefix.rfind('/') + 1);
        db::exec(tx,
                 "INSERT INTO knowledge_points (parent_id, name, path) "
                 "VALUES (NULLIF($1::bigint, 0), $2, $3) ON CONFLICT (path) DO NOTHING",
                 parent, name, prefix);
        // a statement of its own: it sees a point another transaction committed meanwhile
        const auto r = db::exec(tx, "SELECT id FROM knowledge_points WHERE path = $1", prefix);
        it = points.emplace(prefix, r[0][0].as<std::int64_t>()).first;
      }
      parent = it->second;
    }
    return parent;
  }

  static void insert_version(pqxx::work& tx, QuestionId id, int version, const CheckedDraft& c,
                             std::int64_t us, std::map<std::string, std::int64_t>& points) {
    const QuestionDraft& d = c.draft;
    db::exec(tx,
             "INSERT INTO question_versions (question_id, version, type, stem, options, answer, "
             "score, difficulty, subject, media, author, created_at) VALUES ($1, $2, $3, $4, "
             "$5::json, $6::json, $7::bigint / 100.0, $8, $9, $10::json, $11, " +
                 ts("$12") + ")",
             id, version, std::string(to_string(d.type)), d.stem, string_array(d.options), d.answer,
             c.score_cents, d.difficulty, d.subject, string_array(d.media), d.author, us);
    for (const auto& path : d.knowledge_points) {
      db::exec(tx,
               "INSERT INTO question_knowledge_points (question_id, version, point_id) "
               "VALUES ($1, $2, $3)",
               id, version, point_id(tx, path, points));
    }
  }

  db::PgPool& pool_;
};

}  // namespace

std::unique_ptr<QuestionStore> make_memory_question_store() {
  return std::make_unique<MemoryQuestionStore>();
}
std::unique_ptr<QuestionStore> make_pg_question_store(db::PgPool& pool) {
  return std::make_unique<PgQuestionStore>(pool);
}

}  // namespace examstore::questions
