#include "repo/keys.hpp"

#include <arpa/inet.h>

#include <array>

#include "examstore/error.hpp"

namespace examstore::keys {

void check_id(const char* field, std::int64_t id) {
  if (id <= 0) {
    throw Error(ErrorCode::kInvalidArgument, field, "id must be > 0, got " + std::to_string(id));
  }
}

std::string ip_part(std::string_view ip) {
  if (ip.empty()) return "none";
  // inet_pton needs a NUL-terminated string: longer text cannot be an address anyway
  constexpr std::size_t kMaxText = 45;  // INET6_ADDRSTRLEN - 1
  std::array<unsigned char, 16> bin{};
  int len = 0;
  if (ip.size() <= kMaxText) {
    const std::string text(ip);
    if (text.find('\0') == std::string::npos) {
      if (inet_pton(AF_INET, text.c_str(), bin.data()) == 1) {
        len = 4;
      } else if (inet_pton(AF_INET6, text.c_str(), bin.data()) == 1) {
        len = 16;
      }
    }
  }
  if (len == 0) {
    throw Error(ErrorCode::kInvalidArgument, "client address",
                "ip: not a numeric IPv4 or IPv6 address");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < len; ++i) {
    out += kHex[bin[static_cast<std::size_t>(i)] >> 4u];
    out += kHex[bin[static_cast<std::size_t>(i)] & 0xfu];
  }
  return out;
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
std::string KeySchema::violation_counted(ExamId id) const {
  return tagged("violations", "e", id, ":counted");
}

std::string KeySchema::attempt(ExamId exam, StudentId student) const {
  check_id("exam id", exam);
  check_id("student id", student);
  return tagged("attempt", "e", exam, ":") + std::to_string(student);
}
std::string KeySchema::attempt_answers(ExamId exam, StudentId student) const {
  return attempt(exam, student) + ":ans";
}

std::string KeySchema::session(std::string_view token_hash_hex) const {
  const bool ok = token_hash_hex.size() == 64 &&
                  token_hash_hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  if (!ok) {
    throw Error(ErrorCode::kInternal, "session key", "not a 64-digit lowercase hex token hash");
  }
  return p_ + "session:{t:" + std::string(token_hash_hex) + "}";
}
std::string KeySchema::user_sessions(UserId user) const {
  check_id("user id", user);
  return tagged("sessions", "u", user, "");
}
std::string KeySchema::login_failures_of_user(UserId user) const {
  check_id("user id", user);
  return tagged("login", "lu", user, ":fails");
}
std::string KeySchema::login_block_of_user(UserId user) const {
  check_id("user id", user);
  return tagged("login", "lu", user, ":until");
}
std::string KeySchema::login_failures_of_ip(std::string_view ip) const {
  return p_ + "login:{li:" + ip_part(ip) + "}:fails";
}
std::string KeySchema::login_block_of_ip(std::string_view ip) const {
  return p_ + "login:{li:" + ip_part(ip) + "}:until";
}

}  // namespace examstore::keys
