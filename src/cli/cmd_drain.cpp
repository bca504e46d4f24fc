// examstore drain: open the store (which replays the write-behind journal into the queue, and
// without --journal-dir takes over every free journal slot of its database and key prefix),
// flush everything to the database, and report what was written.
#include <iostream>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {

int cmd_drain(const Args& args) {
  command_options(args, 1, {});  // no arguments of its own
  Config config = make_config(args);
  config.write_behind.journal_dir = journal_dir_of(args, config);
  auto store = Store::open(config);
  store->flush(config.write_behind.commit_timeout);
  const auto m = store->write_behind_metrics();
  if (args.json) {
    std::cout << "{\"journal_dir\":" << json_string(store->journal_dir())
              << ",\"replayed\":" << m.replayed << ",\"committed\":" << m.committed
              << ",\"dead_lettered\":" << m.dead_lettered << ",\"batches\":" << m.batches << "}\n";
  } else {
    std::cout << "journal " << (store->journal_dir().empty() ? "(none)" : store->journal_dir())
              << ": replayed " << m.replayed << " write(s); committed " << m.committed << " in "
              << m.batches << " batch(es)"
              << (m.dead_lettered ? ", dead-lettered " + std::to_string(m.dead_lettered) +
                                        " (see examstore deadletter list)"
                                  : std::string())
              << "\n";
  }
  return m.dead_lettered == 0 ? kExitOk : kExitFailed;
}

}  // namespace examstore::cli
