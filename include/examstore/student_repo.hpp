// examstore/student_repo.hpp: student profiles, enrollment and presence during an exam.
//
// Presence is a noisy signal, kept hot and cheap:
//   - each enrolled student has a seat (a dense index per exam); the hot tier holds, per exam,
//     one packed array of last-heartbeat times (4 bytes a seat) and one of presence states
//     (1 byte a seat), so an online student costs about 5 bytes of Redis memory and a heartbeat
//     is O(1) (docs/keys.md);
//   - heartbeats are timed by the server's clock (`at` is when your server received it, not a
//     time the client claims) and never reach the database;
//   - online -> missing only after `missing_after` of silence (default 90 s, three 30 s
//     intervals: one or two lost heartbeats never flip a student), missing -> offline after
//     `offline_after` (default 5 min), and back to online on the next heartbeat: asymmetric
//     thresholds, i.e. hysteresis. sweep() applies the time-based transitions; call it
//     periodically (every few seconds) from one process per exam, or from each: it is idempotent;
//   - only transitions are persisted (exam_attendance: status, login/logout time, last IP),
//     through the write-behind queue, versioned by the transition time so replays and reordering
//     are harmless;
//   - submitted is terminal: no heartbeat or sweep moves a student out of it.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/model.hpp"

namespace examstore {

/// One student's live presence in one exam.
struct PresenceInfo {
  StudentId student_id = 0;
  Presence status = Presence::kEnrolled;
  std::optional<TimePoint> last_heartbeat;  ///< second precision
};

/// A change of presence made by heartbeat() or sweep().
struct PresenceTransition {
  StudentId student_id = 0;
  Presence from = Presence::kEnrolled;
  Presence to = Presence::kOnline;
};

class StudentRepo {
 public:
  virtual ~StudentRepo() = default;

  // ---- profiles (cache-aside reads, database-first writes) ----
  /// Stores a new student. kInvalidArgument naming the field; kConflict for a duplicate
  /// external number.
  virtual Student create(const NewStudent& student) = 0;
  virtual std::optional<Student> get(StudentId id) = 0;
  virtual std::optional<Student> find_by_external_no(const std::string& external_no) = 0;

  // ---- enrollment ----
  /// Enrolls the student in the exam (idempotent). kNotFound when either does not exist.
  virtual void enroll(ExamId exam, StudentId student) = 0;

  // ---- presence ----
  /// Records one heartbeat received at `at`. Returns the transition it caused, if any.
  /// kNotFound when the student is not enrolled in the exam; kInvalidArgument naming "at" when
  /// `at` is outside 2020-01-01..2156-02-07 (the hot tier keeps 32-bit seconds since 2020).
  virtual std::optional<PresenceTransition> heartbeat(ExamId exam, StudentId student,
                                                      const std::string& ip, TimePoint at) = 0;
  /// Many heartbeats received at `at`, in one round trip. Returns the transitions caused.
  /// kNotFound (recording none) when one student is not enrolled.
  virtual std::vector<PresenceTransition> heartbeat_batch(ExamId exam,
                                                          const std::vector<Heartbeat>& beats,
                                                          TimePoint at) = 0;
  /// Applies the time-based transitions as of `now` (online -> missing -> offline) and returns
  /// them. Idempotent.
  virtual std::vector<PresenceTransition> sweep(ExamId exam, TimePoint now) = 0;
  /// Marks the student submitted: terminal, presence never changes it again.
  virtual void mark_submitted(ExamId exam, StudentId student, TimePoint at) = 0;

  /// Students currently online.
  virtual std::int64_t online_count(ExamId exam) = 0;
  /// Online students, by student id.
  virtual std::vector<StudentId> online(ExamId exam) = 0;
  /// Online or missing students whose last heartbeat is older than `older_than` at `now` (or
  /// who never sent one but are marked online), by student id. Read-only.
  virtual std::vector<StudentId> missing(ExamId exam, std::chrono::seconds older_than,
                                         TimePoint now) = 0;
  /// Live presence of one student. kNotFound when not enrolled.
  virtual PresenceInfo presence(ExamId exam, StudentId student) = 0;
  /// Counts of every presence state in the exam, live.
  virtual std::vector<std::pair<Presence, std::int64_t>> presence_counts(ExamId exam) = 0;
  /// The persisted attendance row (reflecting transitions still queued: read-your-writes).
  virtual std::optional<Attendance> attendance(ExamId exam, StudentId student) = 0;
};

}  // namespace examstore
