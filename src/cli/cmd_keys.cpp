// examstore keys rotate [--batch N]: re-encrypts every personal value sealed under another key
// than the active one (docs/personal-data.md), in batches of N rows (default 1000).
#include <cstdlib>
#include <iostream>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {

int cmd_keys(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2 || w[1] != "rotate") throw UsageError("keys needs rotate");
  auto opts = command_options(args, 2, {"--batch"});
  const int batch = opts.count("--batch") ? parse_count(opts["--batch"], "--batch") : 1000;
  auto store = Store::open(make_config(args));
  const KeyRotationReport r = store->personal_data().rotate_keys(cli_principal(), batch);
  if (args.json) {
    std::cout << "{\"active_key\":" << json_string(r.active_key_id)
              << ",\"values_checked\":" << r.values_checked
              << ",\"values_reencrypted\":" << r.values_reencrypted << "}\n";
  } else {
    std::cout << "active key " << r.active_key_id << ": checked " << r.values_checked
              << " value(s), re-encrypted " << r.values_reencrypted << "\n";
  }
  return kExitOk;
}

}  // namespace examstore::cli
