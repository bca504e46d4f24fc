// examstore/personal_data.hpp: personal data at rest, and the GDPR rights of access, correction
// and erasure.
//
// Encryption at rest
//   - a student's email and phone are stored encrypted (XChaCha20-Poly1305, libsodium) in
//     PostgreSQL and in every cached copy in the hot tier, under the active data key of
//     Config::security.personal_data; each value carries the id of the key that sealed it, so
//     keys can be rotated: rotate_keys() re-encrypts every value sealed under another key with
//     the active one (`examstore keys rotate`), after which old keys may be removed from the
//     configuration;
//   - the ciphertext is bound to its row and field (the additional data names the student and
//     the field), so a ciphertext copied to another row or field does not decrypt;
//   - lookups by email use a keyed blind index (BLAKE2b keyed with the blind-index key, over the
//     lower-cased, trimmed address): find_by_email() is an index lookup, and the index reveals
//     neither the address nor, without the key, whether two databases hold the same one;
//   - on the in-memory database, when no key is configured, a random key is made for the life of
//     the process (nothing is at rest). On PostgreSQL, with no key configured, a student with an
//     email or phone is refused with kInvalidArgument naming config.security.personal_data.keys.
//
// GDPR
//   - export_student(): everything held about a student (profile, user account without secrets,
//     enrollments and attendance, attempts, answers and revisions, violations, events, login
//     records, audit entries naming them, classes, submissions, grading tasks with every run's
//     results and the current error findings) as one JSON document;
//   - correct_student(): changes the personal fields (name, class, email, phone);
//   - erase_student(): anonymises the personal fields (name "erased-<id>", email and phone
//     removed, external number replaced), deletes the linked user account and ends its sessions,
//     removes the student's cache keys, blanks the free text of their grading records (answer
//     file references, evaluations, annotations, feedback, finding notes), keeps attempts,
//     answers, scores, grades and violations for the aggregate statistics under the now
//     anonymous id, and records the erasure in the audit log. Idempotent.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "examstore/accounts.hpp"
#include "examstore/model.hpp"

namespace examstore {

/// The personal fields a correction may change; absent fields stay as they are.
struct StudentCorrection {
  std::optional<std::string> name;
  std::optional<std::string> class_name;
  std::optional<std::string> email;  ///< "" removes it
  std::optional<std::string> phone;  ///< "" removes it
};

/// What erase_student() did.
struct ErasureReport {
  StudentId student_id = 0;
  bool already_erased = false;  ///< true when an earlier erasure had done it all
  std::int64_t cache_keys_removed = 0;
  std::int64_t sessions_ended = 0;
  std::optional<UserId> user_deleted;
  /// Grading rows whose free text was blanked: submissions (answer files, evaluations,
  /// annotations), result rows (feedback) and error findings (notes).
  std::int64_t grading_texts_erased = 0;
};

/// What rotate_keys() did.
struct KeyRotationReport {
  std::string active_key_id;
  std::int64_t values_reencrypted = 0;  ///< email and phone values sealed under another key
  std::int64_t values_checked = 0;
};

class PersonalData {
 public:
  virtual ~PersonalData() = default;
  /// The student whose email (compared lower-cased and trimmed) is `email`, through the blind
  /// index. nullopt when none.
  virtual std::optional<Student> find_by_email(std::string_view email) = 0;
  /// Changes personal fields; validates like StudentRepo::create; audited as "student.correct"
  /// (the summary names the fields changed, never their values). kNotFound when absent,
  /// kConflict when the student was erased.
  virtual Student correct_student(StudentId id, const StudentCorrection& c,
                                  const Principal& by) = 0;
  /// Everything held about the student, as a JSON document (see above; docs/personal-data.md
  /// lists its sections). Flushes the write-behind queue first. Audited as "gdpr.export".
  /// kNotFound when absent.
  virtual std::string export_student(StudentId id, const Principal& by) = 0;
  /// Anonymises the student (see above; the class is kept for per-class statistics). Flushes
  /// the write-behind queue first. kNotFound when absent.
  virtual ErasureReport erase_student(StudentId id, const Principal& by) = 0;
  /// Re-encrypts every personal value not sealed under the active key, in batches of
  /// `batch_size` rows (1..10000, else kInvalidArgument), each batch its own transaction (safe
  /// to interrupt and repeat), and rebuilds the blind index where its key changed. Values stored
  /// before encryption (plaintext) are sealed too. Audited as "keys.rotate".
  virtual KeyRotationReport rotate_keys(const Principal& by, int batch_size = 1000) = 0;
};

}  // namespace examstore
