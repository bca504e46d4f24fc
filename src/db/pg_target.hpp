// db/pg_target.hpp: which PostgreSQL server and database a connection string names, as libpq
// would pick them (its PGHOST, PGHOSTADDR, PGPORT, PGDATABASE and PGUSER defaults filled in).
// The write-behind journal's identity is made of it (write_behind/journal_slots.hpp), so that a
// journal is never replayed into another database. Never a user name or a password.
//
// Thread-safety: reentrant.
#pragma once

#include <string>

namespace examstore::db {

struct PgTarget {
  std::string service;   ///< a pg_service.conf entry, as given ("" without one)
  std::string host;      ///< "local-socket" when neither host, hostaddr nor service is given
  std::string hostaddr;  ///< as given ("" without one)
  std::string port;      ///< "5432" when neither port nor service is given
  std::string dbname;    ///< libpq's default: the user name (PGUSER, else the OS account's)
};

/// The target of `conninfo` (a postgresql:// URL or key=value string; an unparseable one is
/// read as empty, so the defaults apply).
PgTarget pg_target(const std::string& conninfo);

}  // namespace examstore::db
