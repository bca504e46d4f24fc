#include "repo/codec.hpp"

#include "common/json.hpp"
#include "examstore/error.hpp"

namespace examstore::repo {
namespace {

[[noreturn]] void corrupt(const char* what, std::string_view field) {
  throw Error(ErrorCode::kDataIntegrity, std::string("decode ") + what,
              "cached value has no valid '" + std::string(field) + "'");
}

std::int64_t int_field(const json::Value& v, const char* what, std::string_view name) {
  const json::Value* f = v.find(name);
  if (f == nullptr || !f->as_int64()) corrupt(what, name);
  return *f->as_int64();
}

std::string str_field(const json::Value& v, const char* what, std::string_view name) {
  const json::Value* f = v.find(name);
  if (f == nullptr || !f->is_string()) corrupt(what, name);
  return f->text;
}

}  // namespace

std::string encode(const Exam& e) {
  return json::ObjectWriter()
      .add("id", e.id)
      .add("name", e.name)
      .add("starts_at", to_micros(e.starts_at))
      .add("ends_at", to_micros(e.ends_at))
      .add("status", to_string(e.status))
      .add("config", e.config)
      .add("config_version", e.config_version)
      .add("version", e.version)
      .add("created_at", to_micros(e.created_at))
      .add("updated_at", to_micros(e.updated_at))
      .str();
}

Exam decode_exam(std::string_view text) {
  const json::Value v = json::parse(text);
  Exam e;
  e.id = int_field(v, "exam", "id");
  e.name = str_field(v, "exam", "name");
  e.starts_at = from_micros(int_field(v, "exam", "starts_at"));
  e.ends_at = from_micros(int_field(v, "exam", "ends_at"));
  const auto status = parse_exam_status(str_field(v, "exam", "status"));
  if (!status) corrupt("exam", "status");
  e.status = *status;
  e.config = str_field(v, "exam", "config");
  e.config_version = int_field(v, "exam", "config_version");
  e.version = int_field(v, "exam", "version");
  e.created_at = from_micros(int_field(v, "exam", "created_at"));
  e.updated_at = from_micros(int_field(v, "exam", "updated_at"));
  return e;
}

std::string encode(const Student& s) {
  return json::ObjectWriter()
      .add("id", s.id)
      .add("external_no", s.external_no)
      .add("name", s.name)
      .add("class_name", s.class_name)
      .add("email", s.email)
      .add("phone", s.phone)
      .str();
}

Student decode_student(std::string_view text) {
  const json::Value v = json::parse(text);
  Student s;
  s.id = int_field(v, "student", "id");
  s.external_no = str_field(v, "student", "external_no");
  s.name = str_field(v, "student", "name");
  s.class_name = str_field(v, "student", "class_name");
  s.email = str_field(v, "student", "email");
  s.phone = str_field(v, "student", "phone");
  return s;
}

}  // namespace examstore::repo
