// examstore deadletter list | retry ID | drop ID: writes PostgreSQL rejected for good.
#include <iostream>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {

int cmd_deadletter(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) throw UsageError("deadletter needs list, retry ID or drop ID");
  const std::string& sub = w[1];
  if (sub == "list") {
    if (w.size() != 2) throw UsageError("deadletter list takes no arguments");
  } else if (sub == "retry" || sub == "drop") {
    if (w.size() != 3) throw UsageError("deadletter " + sub + " needs one ID");
  } else {
    throw UsageError("unknown deadletter command '" + sub + "'");
  }
  Config config = make_config(args);
  config.write_behind.journal_dir = journal_dir_of(args, config);
  auto store = Store::open(config);

  if (sub == "list") {
    const auto letters = store->dead_letters(1000);
    if (args.json) {
      std::cout << "[";
      for (std::size_t i = 0; i < letters.size(); ++i) {
        const auto& d = letters[i];
        std::cout << (i ? "," : "") << "{\"id\":" << d.id << ",\"queue\":" << json_string(d.queue)
                  << ",\"error\":" << json_string(d.error)
                  << ",\"sqlstate\":" << json_string(d.sqlstate) << ",\"payload\":" << d.payload
                  << "}";
      }
      std::cout << "]\n";
    } else if (letters.empty()) {
      std::cout << "no dead letters\n";
    } else {
      for (const auto& d : letters) {
        std::cout << d.id << "  " << d.queue << "  " << (d.sqlstate.empty() ? "-" : d.sqlstate)
                  << "  " << d.error << "\n    " << d.payload << "\n";
      }
    }
    return kExitOk;
  }
  const std::int64_t id = parse_count(w[2], "ID");
  if (sub == "retry") {
    store->retry_dead_letter(id);
    std::cout << "dead letter " << id << " written\n";
    return kExitOk;
  }
  if (!store->drop_dead_letter(id)) {
    std::cerr << "examstore: no dead letter " << id << "\n";
    return kExitFailed;
  }
  std::cout << "dead letter " << id << " dropped\n";
  return kExitOk;
}

}  // namespace examstore::cli
