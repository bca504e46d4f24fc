// The names of roles and user statuses, and the principals built from users and sessions.
#include <array>

#include "examstore/accounts.hpp"

namespace examstore {
namespace {

constexpr std::array<std::string_view, 4> kRole = {"student", "teacher", "proctor",
                                                   "administrator"};
constexpr std::array<std::string_view, 3> kUserStatus = {"active", "locked", "deleted"};

template <typename E, std::size_t N>
std::optional<E> parse_name(const std::array<std::string_view, N>& names, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Role r) noexcept { return kRole[static_cast<std::size_t>(r)]; }
std::optional<Role> parse_role(std::string_view s) noexcept { return parse_name<Role>(kRole, s); }

std::string_view to_string(UserStatus s) noexcept {
  return kUserStatus[static_cast<std::size_t>(s)];
}
std::optional<UserStatus> parse_user_status(std::string_view s) noexcept {
  return parse_name<UserStatus>(kUserStatus, s);
}

Principal Principal::system(std::string name, std::string ip) {
  Principal p;
  p.user_id = 0;
  p.name = std::move(name);
  p.role = Role::kAdministrator;
  p.ip = std::move(ip);
  return p;
}

Principal User::principal(std::string request_ip) const {
  return Principal{id, name, role, student_id, std::move(request_ip)};
}

Principal SessionInfo::principal(std::string request_ip) const {
  return Principal{user_id, user_name, role, student_id, std::move(request_ip)};
}

}  // namespace examstore
