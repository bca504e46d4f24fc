// examstore users add|login|lock|unlock|list-logins: operators' access to accounts
// (include/examstore/accounts.hpp). The tool acts as the system principal "cli:$USER". A
// password is read from standard input only (--password-stdin), never from the command line,
// where other users of the machine could read it.
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "cli/args.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

std::string read_password() {
  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  // one trailing line end is the terminal's or echo's, not the password's
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

const std::string& required(const std::map<std::string, std::string>& opts, const std::string& name,
                            const std::string& command) {
  const auto it = opts.find(name);
  if (it == opts.end()) throw UsageError("users " + command + " needs " + name);
  return it->second;
}

User user_named(Store& store, const std::string& name) {
  auto u = store.accounts().find_by_name(name);
  if (!u) throw Error(ErrorCode::kNotFound, "users", "there is no user named '" + name + "'");
  return *u;
}

void print_logins(const std::vector<LoginRecord>& logins, bool json) {
  if (json) {
    std::cout << "[";
    for (std::size_t i = 0; i < logins.size(); ++i) {
      const auto& l = logins[i];
      std::cout
          << (i == 0 ? "" : ",") << "{\"id\":" << l.id
          << ",\"user_id\":" << (l.user_id ? std::to_string(*l.user_id) : std::string("null"))
          << ",\"name\":" << json_string(l.name) << ",\"ip\":" << json_string(l.ip) << ",\"at_us\":"
          << std::chrono::duration_cast<std::chrono::microseconds>(l.at.time_since_epoch()).count()
          << ",\"success\":" << (l.success ? "true" : "false")
          << ",\"reason\":" << json_string(l.reason) << "}";
    }
    std::cout << "]\n";
    return;
  }
  for (const auto& l : logins) {
    std::cout << l.id << " "
              << std::chrono::duration_cast<std::chrono::seconds>(l.at.time_since_epoch()).count()
              << " " << l.name << " " << (l.ip.empty() ? "-" : l.ip) << " " << l.reason << "\n";
  }
}

}  // namespace

int cmd_users(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) throw UsageError("users needs add, login, lock, unlock or list-logins");
  const std::string& sub = w[1];
  std::map<std::string, std::string> opts;
  if (sub == "add") {
    opts = command_options(args, 2, {"--role", "--name", "--student"}, {"--password-stdin"});
  } else if (sub == "login") {
    opts = command_options(args, 2, {"--name", "--ip"}, {"--password-stdin"});
  } else if (sub == "lock" || sub == "unlock") {
    opts = command_options(args, 2, {"--name"});
  } else if (sub == "list-logins") {
    opts = command_options(args, 2, {"--name", "--limit"});
  } else {
    throw UsageError("unknown users command '" + sub + "'");
  }
  if ((sub == "add" || sub == "login") && opts.count("--password-stdin") == 0) {
    throw UsageError("users " + sub + " reads the password from standard input: --password-stdin");
  }
  NewUser nu;
  if (sub == "add") {
    const auto role = parse_role(required(opts, "--role", sub));
    if (!role) throw UsageError("--role must be student, teacher, proctor or administrator");
    nu.role = *role;
    nu.name = required(opts, "--name", sub);
    if (auto it = opts.find("--student"); it != opts.end()) {
      nu.student_id = parse_count(it->second, "--student");
    }
  }
  const int limit = opts.count("--limit") != 0 ? parse_count(opts.at("--limit"), "--limit") : 100;

  auto store = Store::open(make_config(args));
  const Principal by = cli_principal();
  if (sub == "add") {
    nu.password = read_password();
    const User u = store->accounts().create(nu, by);
    std::cout << "created user " << u.id << " " << u.name << " (" << to_string(u.role) << ")\n";
  } else if (sub == "login") {
    const std::string password = read_password();
    const auto ip = opts.count("--ip") != 0 ? opts.at("--ip") : std::string();
    const auto session = store->accounts().login(required(opts, "--name", sub), password, ip);
    std::cout << session.token << "\n";
  } else if (sub == "lock" || sub == "unlock") {
    const User u = user_named(*store, required(opts, "--name", sub));
    const User after =
        sub == "lock" ? store->accounts().lock(u.id, by) : store->accounts().unlock(u.id, by);
    std::cout << "user " << after.name << " is " << to_string(after.status) << "\n";
  } else {
    std::optional<UserId> user;
    if (auto it = opts.find("--name"); it != opts.end()) user = user_named(*store, it->second).id;
    print_logins(store->accounts().login_log(user, std::nullopt, limit), args.json);
  }
  return kExitOk;
}

}  // namespace examstore::cli
