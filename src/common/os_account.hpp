// common/os_account.hpp: the effective user's account, from the password database (not from the
// environment, which a service manager may leave without HOME or USER).
//
// Thread-safety: reentrant (getpwuid_r).
#pragma once

#include <string>

namespace examstore {

struct OsAccount {
  std::string name;  ///< "" when unknown
  std::string home;  ///< "" when unknown
};

/// The account of geteuid().
OsAccount os_account();

}  // namespace examstore
