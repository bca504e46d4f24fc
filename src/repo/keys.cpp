#include "repo/keys.hpp"

#include "examstore/error.hpp"

namespace examstore::keys {

void check_id(const char* field, std::int64_t id) {
  if (id <= 0) {
    throw Error(ErrorCode::kInvalidArgument, field, "id must be > 0, got " + std::to_string(id));
  }
}

std::string generation(const std::string& key) { return key + ":gen"; }

std::string KeySchema::tagged(const char* kind, const char* tag, std::int64_t id,
                              const char* suffix) const {
  return p_ + kind + ":{" + tag + ":" + std::to_string(id) + "}" + suffix;
}

std::string KeySchema::exam(ExamId id) const { return tagged("exam", "e", id, ""); }
std::string KeySchema::student(StudentId id) const { return tagged("student", "s", id, ""); }
std::string KeySchema::presence_heartbeats(ExamId id) const {
  return tagged("presence", "e", id, ":hb");
}
std::string KeySchema::presence_states(ExamId id) const {
  return tagged("presence", "e", id, ":st");
}
std::string KeySchema::presence_counts(ExamId id) const {
  return tagged("presence", "e", id, ":n");
}
std::string KeySchema::violation_counts(ExamId id) const {
  return tagged("violations", "e", id, ":kind");
}
std::string KeySchema::violation_counts_by_student(ExamId id) const {
  return tagged("violations", "e", id, ":student");
}

std::string KeySchema::attempt(ExamId exam, StudentId student) const {
  check_id("exam id", exam);
  check_id("student id", student);
  return tagged("attempt", "e", exam, ":") + std::to_string(student);
}
std::string KeySchema::attempt_answers(ExamId exam, StudentId student) const {
  return attempt(exam, student) + ":ans";
}

}  // namespace examstore::keys
