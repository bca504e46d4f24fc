// examstore stats: opens the store, makes one health round trip to each backend (so the pools
// have something to report), and prints the metrics snapshot: Prometheus text, or JSON with
// --json. Exit 1 when a backend is down (the snapshot is printed all the same).
#include <iostream>

#include "cli/args.hpp"
#include "examstore/metrics.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {

int cmd_stats(const Args& args) {
  if (args.words.size() > 1) throw UsageError("stats takes no arguments");
  auto store = Store::open(make_config(args));
  bool all_ok = true;
  for (const auto& h : store->health()) all_ok = all_ok && h.ok;
  const MetricsSnapshot snapshot = store->metrics();
  if (args.json) {
    std::cout << "{\"ok\":" << (all_ok ? "true" : "false") << ",\"metrics\":" << to_json(snapshot)
              << "}\n";
  } else {
    std::cout << to_prometheus(snapshot);
  }
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace examstore::cli
