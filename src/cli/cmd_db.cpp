// examstore db roles: print, or apply, the least-privilege application role's SQL.
#include <iostream>
#include <string>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {

int cmd_db(const Args& args) {
  const std::string sub = args.words.size() > 1 ? args.words[1] : "";
  if (sub != "roles") throw UsageError("db needs roles");
  auto opts = command_options(args, 2, {"--role"}, {"--apply", "--password-stdin"});
  const std::string role = opts.count("--role") ? opts["--role"] : "examstore_app";
  if (!opts.count("--apply")) {
    if (opts.count("--password-stdin")) throw UsageError("--password-stdin needs --apply");
    std::cout << Store::application_role_sql(role);
    return kExitOk;
  }
  std::optional<std::string> password;
  if (opts.count("--password-stdin")) {
    std::string line;
    if (!std::getline(std::cin, line) || line.empty()) {
      throw UsageError("--password-stdin: no password on standard input");
    }
    password = line;
  }
  auto store = Store::open(make_config(args));
  store->apply_application_role(role, password);
  std::cout << "role " << role << " applied" << (password ? " (password set)" : "")
            << ": re-run after each `examstore migrate up`\n";
  return kExitOk;
}

}  // namespace examstore::cli
