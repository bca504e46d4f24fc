// db/roles.hpp: the least-privilege application role (docs/security.md, `examstore db roles`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace examstore::db {

class PgPool;

/// The SQL that makes `role` a least-privilege application role of the current database. Throws
/// Error(kInvalidArgument) naming "role" unless it is 1..63 of [a-z0-9_] starting with a letter
/// or '_' (so it needs no quoting, and no text of the caller becomes SQL).
std::string application_role_sql(std::string_view role);

/// Runs application_role_sql(role) in one transaction on `pool` (which must connect as the
/// owner of the tables), then sets the role's password when one is given (passed as a
/// parameter, never spliced into SQL).
void apply_application_role(PgPool& pool, std::string_view role,
                            const std::optional<std::string>& password);

}  // namespace examstore::db
