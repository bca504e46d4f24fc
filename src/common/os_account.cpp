#include "common/os_account.hpp"

#include <pwd.h>
#include <unistd.h>

#include <array>

namespace examstore {

OsAccount os_account() {
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  OsAccount a;
  if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    if (found->pw_name != nullptr) a.name = found->pw_name;
    if (found->pw_dir != nullptr) a.home = found->pw_dir;
  }
  return a;
}

}  // namespace examstore
