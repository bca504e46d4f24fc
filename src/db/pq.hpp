// db/pq.hpp: the one place where the supported libpqxx versions differ.
//
// examstore builds against Debian 12's libpqxx 6.4 and against libpqxx 7.x (what vcpkg, Conan,
// Debian 13 and Ubuntu 24.04 ship; CI tests 7.10). Every statement goes through the helpers
// below rather than libpqxx's own exec_* members, so the next libpqxx change touches this file:
//   - 7.10 deprecates exec_params, exec_params0/1, exec0/1 and exec_prepared in favour of
//     exec(query, params) with one_row()/no_rows(), and errorhandler in favour of
//     set_notice_handler;
//   - 7.0 prepares a statement on the server as soon as connection::prepare is called (a second
//     prepare of the same name fails with 42P05), where 6.4 only recorded it: exec_prepared
//     prepares once per pooled connection (PgPool keeps the names, see pg_pool.hpp);
//   - 7.0 removed the common base pqxx_exception: is_libpqxx_error names its families.
//
// Parameters are values, never SQL: $1, $2, ... in the text, in the order given.
//
// Thread-safety: as libpqxx's: one transaction, one thread.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <pqxx/version>

#if PQXX_VERSION_MAJOR > 7 || (PQXX_VERSION_MAJOR == 7 && PQXX_VERSION_MINOR >= 10)
#define EXAMSTORE_PQXX_PARAMS_API 1  // exec(query, params), one_row(), no_rows(), prepped
#else
#define EXAMSTORE_PQXX_PARAMS_API 0  // exec_params*, exec_prepared, errorhandler
#endif

namespace examstore::db {

/// What transaction_base::conn() returns.
#if PQXX_VERSION_MAJOR >= 7
using TxConnection = pqxx::connection;
#else
using TxConnection = pqxx::connection_base;
#endif

/// Runs `sql` with `args` as its parameters $1..$n and returns every row.
template <typename Sql, typename... Args>
pqxx::result exec(pqxx::transaction_base& tx, const Sql& sql, Args&&... args) {
#if EXAMSTORE_PQXX_PARAMS_API
  return tx.exec(sql, pqxx::params{std::forward<Args>(args)...});
#else
  return tx.exec_params(sql, std::forward<Args>(args)...);
#endif
}

/// As exec, for a statement that returns exactly one row (else pqxx::unexpected_rows).
template <typename Sql, typename... Args>
pqxx::row exec1(pqxx::transaction_base& tx, const Sql& sql, Args&&... args) {
#if EXAMSTORE_PQXX_PARAMS_API
  return tx.exec(sql, pqxx::params{std::forward<Args>(args)...}).one_row();
#else
  return tx.exec_params1(sql, std::forward<Args>(args)...);
#endif
}

/// As exec, for a statement that returns no rows (else pqxx::unexpected_rows); the result
/// still says how many rows it affected.
template <typename Sql, typename... Args>
pqxx::result exec0(pqxx::transaction_base& tx, const Sql& sql, Args&&... args) {
#if EXAMSTORE_PQXX_PARAMS_API
  return tx.exec(sql, pqxx::params{std::forward<Args>(args)...}).no_rows();
#else
  return tx.exec_params0(sql, std::forward<Args>(args)...);
#endif
}

/// Runs `sql` with parameters whose number depends on the call (db/sql_params.hpp).
pqxx::result exec_dynamic(pqxx::transaction_base& tx, const std::string& sql,
                          const std::vector<std::string>& values);

/// Executes the statement already prepared on this connection under `name` (by
/// connection::prepare, or by exec_prepared).
template <typename... Args>
pqxx::result exec_named(pqxx::transaction_base& tx, const std::string& name, Args&&... args) {
#if EXAMSTORE_PQXX_PARAMS_API
  return tx.exec(pqxx::prepped{name}, pqxx::params{std::forward<Args>(args)...});
#else
  return tx.exec_prepared(name, std::forward<Args>(args)...);
#endif
}

/// Makes sure `sql` is prepared under `name` on `conn`, once per connection (and again on the
/// fresh connection after a reconnect). Returns false when `conn` is not a connection the
/// running thread leased from a PgPool: the caller then runs the text unprepared, which is
/// correct, only not planned once.
bool prepare_once(TxConnection& conn, const std::string& name, const std::string& sql);

/// Executes the statement `sql` prepared under `name` on the transaction's connection,
/// preparing it there on first use. `name` must always come with the same `sql`.
template <typename Tx, typename... Args>
pqxx::result exec_prepared(Tx& tx, const std::string& name, const std::string& sql,
                           Args&&... args) {
  if (prepare_once(tx.conn(), name, sql)) return exec_named(tx, name, std::forward<Args>(args)...);
  return exec(tx, sql, std::forward<Args>(args)...);
}

/// The elements of a one-dimensional text[] value, in order; NULL elements are left out.
std::vector<std::string> text_array(const pqxx::field& f);

/// True when `e` comes from libpqxx (its failure, usage, conversion, range, argument and
/// internal error families): the exceptions the pool translates into examstore::Error.
bool is_libpqxx_error(const std::exception& e) noexcept;

/// Keeps the server's notices (NOTICE, WARNING) of one connection off stderr: library code never
/// writes to the terminal. Lives as long as the connection, constructed after it.
class QuietNotices {
 public:
  explicit QuietNotices(pqxx::connection& conn);
  ~QuietNotices();
  QuietNotices(const QuietNotices&) = delete;
  QuietNotices& operator=(const QuietNotices&) = delete;

 private:
#if !EXAMSTORE_PQXX_PARAMS_API
  struct Handler;
  std::unique_ptr<Handler> handler_;
#endif
};

}  // namespace examstore::db
