// cli/args.hpp: the examstore tool's command line, shared by every subcommand.
//
//   examstore [--redis URL] [--database URL] [--json] COMMAND [ARGS...]
//
// Backends default to EXAMSTORE_REDIS_URL / EXAMSTORE_DATABASE_URL (then memory://). Exit
// codes: 0 success, 1 the operation failed (the error is printed on stderr), 2 bad usage.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/accounts.hpp"
#include "examstore/config.hpp"

namespace examstore::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

/// Bad usage: the message says what was wrong; main prints it with the usage text, exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Args {
  std::optional<std::string> redis_url;
  std::optional<std::string> database_url;
  std::optional<std::string> journal_dir;
  bool json = false;
  std::vector<std::string> words;  // the command and its arguments, options of the command kept
};

/// Parses argv (options may appear anywhere). Throws UsageError.
Args parse_args(int argc, char** argv);
/// The environment's Config with the command line's URLs on top. Throws examstore::Error.
Config make_config(const Args& args);
/// Parses a positive count ("3"); throws UsageError naming `what`.
int parse_count(std::string_view text, std::string_view what);
/// `s` as a JSON string literal, quotes included.
std::string json_string(std::string_view s);

/// The usage text.
extern const char* const kUsage;

/// The journal directory for commands that write: --journal-dir, else $EXAMSTORE_JOURNAL_DIR,
/// else "": the Store's own placement (on PostgreSQL a slot of the database and key prefix under
/// write_behind.journal_root, which `drain` empties together with every other free slot).
std::string journal_dir_of(const Args& args, const Config& config);
/// Parses "--name value" pairs after the command word; throws UsageError for unknown names.
/// `flags` are names that take no value (their value reads as "1").
std::map<std::string, std::string> command_options(const Args& args, std::size_t first,
                                                   const std::set<std::string>& names,
                                                   const std::set<std::string>& flags = {});
/// Parses a positive number ("2.5") of `what`; throws UsageError.
double parse_positive(std::string_view text, std::string_view what);

int cmd_migrate(const Args& args);
int cmd_health(const Args& args);
int cmd_simulate(const Args& args);
int cmd_drain(const Args& args);
int cmd_deadletter(const Args& args);
int cmd_questions(const Args& args);  // src/cli/cmd_questions.cpp
int cmd_paper(const Args& args);      // src/cli/cmd_paper.cpp
int cmd_stats(const Args& args);      // src/cli/cmd_stats.cpp
int cmd_audit(const Args& args);      // src/cli/cmd_audit.cpp
int cmd_db(const Args& args);         // src/cli/cmd_db.cpp
int cmd_users(const Args& args);      // src/cli/cmd_users.cpp
int cmd_keys(const Args& args);       // src/cli/cmd_keys.cpp
int cmd_gdpr(const Args& args);       // src/cli/cmd_gdpr.cpp
int cmd_maintain(const Args& args);   // src/cli/cmd_maintain.cpp
int cmd_grading(const Args& args);    // src/cli/cmd_grading.cpp
/// The principal the CLI acts as, as the audit log records it: Principal::system("cli:" + $USER).
Principal cli_principal();

}  // namespace examstore::cli
