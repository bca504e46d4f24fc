// TODO(issue 7, B): encrypted personal fields, blind index, key rotation, GDPR.
#include "examstore/personal_data.hpp"
#include "examstore/error.hpp"
#include "repo/context.hpp"

namespace examstore::repo {
namespace {

[[noreturn]] void todo(const char* what) {
  throw Error(ErrorCode::kInternal, what, "not implemented yet (issue 7, personal data)");
}

class PendingPersonalData final : public PersonalData {
 public:
  std::optional<Student> find_by_email(std::string_view) override { todo("find_by_email"); }
  Student correct_student(StudentId, const StudentCorrection&, const Principal&) override {
    todo("correct_student");
  }
  std::string export_student(StudentId, const Principal&) override { todo("export_student"); }
  ErasureReport erase_student(StudentId, const Principal&) override { todo("erase_student"); }
  KeyRotationReport rotate_keys(const Principal&, int) override { todo("rotate_keys"); }
};

}  // namespace

std::unique_ptr<PersonalData> make_personal_data(Context&, AuditLog&, AccountRepo&, SessionStore&) {
  return std::make_unique<PendingPersonalData>();
}

}  // namespace examstore::repo
