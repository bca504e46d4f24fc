// write_behind/op.hpp: one queued write and its encoding for the journal and the dead letters.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "db/stores.hpp"
#include "examstore/model.hpp"

namespace examstore::wb {

/// One write waiting for PostgreSQL. Violations and events are appends keyed by their
/// pre-assigned id (replays are no-ops); attendance updates are versioned upserts keyed by
/// (exam, student) and coalesce: a newer one absorbs an older one still waiting. Attempt starts
/// (keyed by attempt) apply only to a not_started attempt and answer revisions (keyed by attempt,
/// question and seq) are inserted once, so both replay as no-ops.
struct Op {
  std::variant<Violation, Event, db::AttendanceUpdate, db::AttemptStart, db::AnswerRevision> data;

  enum class Kind { kViolation, kEvent, kAttendance, kAttemptStart, kAnswerRevision };
  Kind kind() const { return static_cast<Kind>(data.index()); }
  /// "violation", "event", "attendance", "attempt_start", "answer_revision" (also the
  /// dead-letter queue name).
  std::string_view kind_name() const;
  /// Unique per pending write: "v:<id>", "e:<id>", "a:<exam>:<student>", "as:<attempt>",
  /// "ar:<attempt>:<question>:<seq>".
  std::string key() const;
};

/// Merges `newer` into `older` (both attendance updates of one key): the result has newer's
/// version, status and (when given) logout_at, last_ip, last_heartbeat_at, and older's login_at
/// when it had one (the first login is kept).
db::AttendanceUpdate merge(const db::AttendanceUpdate& older, const db::AttendanceUpdate& newer);

/// A JSON object for the journal and the dead-letter store. Times are microseconds since the
/// epoch. Round-trips exactly through decode().
std::string encode(const Op& op);
/// Throws Error(kDataIntegrity) naming what is wrong when `text` is not an encoded Op.
Op decode(std::string_view text);

}  // namespace examstore::wb
