// common/conninfo.hpp: what a PostgreSQL connection string (postgresql:// URI or libpq
// key=value) holds, for the parser and the pool.
//
// Secrets are the URI's password and the values of password, sslpassword and sslkey (a key's
// path is kept out of messages and logs like a password). Finding them is lenient, so it also
// works on text libpq has not accepted.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace examstore {

/// `text` (the connection string itself, or a message such as libpq's that may quote it or a
/// part of it) with every secret of `conninfo` replaced by ***.
std::string mask_conninfo_secrets(std::string_view text, std::string_view conninfo);

/// True when `conninfo` (valid for libpq) sets `keyword`, in any of its forms.
bool conninfo_sets(const std::string& conninfo, std::string_view keyword);

}  // namespace examstore
