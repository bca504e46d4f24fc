// examstore health: one round trip to each configured backend; exit 1 when one is down.
#include <iomanip>
#include <iostream>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {

int cmd_health(const Args& args) {
  if (args.words.size() > 1) throw UsageError("health takes no arguments");
  auto store = Store::open(make_config(args));
  const auto backends = store->health();
  bool all_ok = true;
  for (const auto& h : backends) all_ok = all_ok && h.ok;

  if (args.json) {
    std::cout << "{\"ok\":" << (all_ok ? "true" : "false") << ",\"backends\":[";
    for (std::size_t i = 0; i < backends.size(); ++i) {
      const auto& h = backends[i];
      std::cout << (i ? "," : "") << "{\"role\":" << json_string(h.role)
                << ",\"kind\":" << json_string(h.kind)
                << ",\"endpoint\":" << json_string(h.endpoint)
                << ",\"ok\":" << (h.ok ? "true" : "false")
                << ",\"round_trip_us\":" << h.round_trip.count()
                << ",\"server_version\":" << json_string(h.server_version)
                << ",\"error\":" << (h.ok ? "null" : json_string(h.error)) << "}";
    }
    std::cout << "]}\n";
  } else {
    for (const auto& h : backends) {
      std::cout << std::left << std::setw(9) << h.role << std::setw(11) << h.kind << std::setw(6)
                << (h.ok ? "up" : "DOWN");
      if (h.ok) {
        std::cout << std::right << std::setw(8) << h.round_trip.count() << " us  version "
                  << h.server_version << "  " << h.endpoint << "\n";
      } else {
        std::cout << h.endpoint << "  " << h.error << "\n";
      }
    }
  }
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace examstore::cli
