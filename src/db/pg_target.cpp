#include "db/pg_target.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <map>

#include "common/os_account.hpp"

namespace examstore::db {
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

PgTarget pg_target(const std::string& conninfo) {
  std::map<std::string, std::string> given;
  if (PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), nullptr)) {
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && *o->val != '\0') given[o->keyword] = o->val;
    }
    PQconninfoFree(opts);
  }
  const auto pick = [&](const char* keyword, const char* env_name) {
    const auto it = given.find(keyword);
    return it != given.end() ? it->second : env_or_empty(env_name);
  };
  PgTarget t;
  t.service = pick("service", "PGSERVICE");
  t.host = pick("host", "PGHOST");
  t.hostaddr = pick("hostaddr", "PGHOSTADDR");
  t.port = pick("port", "PGPORT");
  t.dbname = pick("dbname", "PGDATABASE");
  if (t.dbname.empty()) {
    // libpq's default database is the user's name.
    const std::string user = pick("user", "PGUSER");
    t.dbname = user.empty() ? os_account().name : user;
  }
  if (t.host.empty() && t.hostaddr.empty() && t.service.empty()) t.host = "local-socket";
  if (t.port.empty() && t.service.empty()) t.port = "5432";
  return t;
}

}  // namespace examstore::db
