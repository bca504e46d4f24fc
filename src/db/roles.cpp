#include "db/roles.hpp"

#include "db/pg_pool.hpp"
#include "examstore/error.hpp"

namespace examstore::db {
namespace {

void check_role(std::string_view role) {
  const auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::kInvalidArgument, "db roles", "role '" + std::string(role) + "' " + why);
  };
  if (role.empty() || role.size() > 63) bad("must be 1..63 characters");
  if (!(role[0] == '_' || (role[0] >= 'a' && role[0] <= 'z'))) {
    bad("must start with a lower-case letter or '_'");
  }
  for (const char c : role) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      bad("may contain only lower-case letters, digits and '_'");
    }
  }
  if (role.substr(0, 3) == "pg_") bad("must not start with 'pg_' (reserved by PostgreSQL)");
}

}  // namespace

std::string application_role_sql(std::string_view role_text) {
  check_role(role_text);
  const std::string role(role_text);
  // Each statement on its own line ending in ';' so the text can be fed to psql as it is.
  return "-- Least-privilege application role '" + role +
         "' for examstore (docs/security.md).\n"
         "-- Run as the owner of the tables (the role that ran the migrations), on each database,\n"
         "-- after `examstore migrate up`. Idempotent.\n"
         "DO $$ BEGIN\n"
         "  CREATE ROLE " +
         role +
         " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;\n"
         "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- created meanwhile\n"
         "END $$;\n"
         "-- no DDL: usage of the schema only (PostgreSQL 15 grants CREATE on public to nobody)\n"
         "REVOKE CREATE ON SCHEMA public FROM " +
         role +
         ";\n"
         "GRANT USAGE ON SCHEMA public TO " +
         role +
         ";\n"
         "-- data: read and write the tables; draw from and advance the sequences (an explicit\n"
         "-- id, e.g. an imported question's, moves its sequence past it with setval)\n"
         "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " +
         role +
         ";\n"
         "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO " +
         role +
         ";\n"
         "REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM " +
         role +
         ";\n"
         "-- the migration record: read it (status), never write it\n"
         "REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM " +
         role +
         ";\n"
         "-- the audit log: append only; the head row is updated by each append (FOR UPDATE)\n"
         "REVOKE UPDATE, DELETE ON audit_log FROM " +
         role +
         ";\n"
         "REVOKE INSERT, DELETE ON audit_head FROM " +
         role +
         ";\n"
         "-- grading results, findings and completed runs: append only (a regrade adds a run)\n"
         "REVOKE UPDATE, DELETE ON grading_results, grading_errors, grading_runs FROM " +
         role +
         ";\n"
         "-- ... but a GDPR erasure blanks an erased student's feedback and notes through\n"
         "-- this function (migration 0011)\n"
         "GRANT EXECUTE ON FUNCTION examstore_erase_grading_text(bigint) TO " +
         role + ";\n";
}

void apply_application_role(PgPool& pool, std::string_view role,
                            const std::optional<std::string>& password) {
  const std::string sql = application_role_sql(role);
  pool.transact("db roles", [&](pqxx::work& tx) {
    tx.exec(sql);
    if (password) {
      // ALTER ROLE takes no parameters: quote the password on the server with format(%L).
      db::exec(tx, "SELECT set_config('examstore.role_password', $1, true)", *password);
      tx.exec("DO $$ BEGIN EXECUTE format('ALTER ROLE " + std::string(role) +
              " PASSWORD %L', current_setting('examstore.role_password')); END $$");
    }
  });
}

}  // namespace examstore::db
