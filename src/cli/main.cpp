// The examstore command-line tool: schema migrations and health checks (more commands arrive
// with the repositories). One file per subcommand; this one parses and dispatches.
#include <iostream>

#include "cli/args.hpp"
#include "examstore/error.hpp"

int main(int argc, char** argv) {
  using namespace examstore::cli;
  try {
    const Args args = parse_args(argc, argv);
    const std::string& command = args.words.front();
    if (command == "help") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (command == "migrate") return cmd_migrate(args);
    if (command == "health") return cmd_health(args);
    if (command == "stats") return cmd_stats(args);
    if (command == "simulate") return cmd_simulate(args);
    if (command == "drain") return cmd_drain(args);
    if (command == "deadletter") return cmd_deadletter(args);
    if (command == "questions") return cmd_questions(args);
    if (command == "paper") return cmd_paper(args);
    if (command == "audit") return cmd_audit(args);
    if (command == "db") return cmd_db(args);
    if (command == "users") return cmd_users(args);
    if (command == "keys") return cmd_keys(args);
    if (command == "gdpr") return cmd_gdpr(args);
    if (command == "maintain") return cmd_maintain(args);
    if (command == "grading") return cmd_grading(args);
    throw UsageError("unknown command '" + command + "'");
  } catch (const UsageError& e) {
    std::cerr << "examstore: " << e.what() << "\n\n" << kUsage;
    return kExitUsage;
  } catch (const examstore::Error& e) {
    std::cerr << "examstore: " << e.what() << "\n";
    return e.code() == examstore::ErrorCode::kInvalidArgument ? kExitUsage : kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "examstore: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
}
