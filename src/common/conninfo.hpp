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

/// Which server and database a connection string names, as libpq would pick them (its PGHOST,
/// PGHOSTADDR, PGPORT, PGDATABASE and PGUSER defaults filled in). The write-behind journal's
/// identity is made of it (write_behind/journal_slots.hpp), so that a journal is never replayed
/// into another database. Never a user name or a password.
struct ConninfoTarget {
  std::string service;   ///< a pg_service.conf entry, as given ("" without one)
  std::string host;      ///< "local-socket" when neither host, hostaddr nor service is given
  std::string hostaddr;  ///< as given ("" without one)
  std::string port;      ///< "5432" when neither port nor service is given
  std::string dbname;    ///< libpq's default: the user name (PGUSER, else the OS account's)
};

/// The target of `conninfo` (an unparseable one is read as empty, so the defaults apply).
ConninfoTarget conninfo_target(const std::string& conninfo);

}  // namespace examstore
