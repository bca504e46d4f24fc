#include "write_behind/journal_slots.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "common/conninfo.hpp"
#include "common/os_account.hpp"
#include "examstore/error.hpp"
#include "write_behind/op.hpp"

namespace examstore::wb {
namespace {

constexpr std::string_view kOpen = "write_behind journal open";
// More processes of one identity than this on one host is a configuration error, not a load.
constexpr int kMaxSlots = 256;

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

std::string file_name_safe(std::string_view s, std::size_t max) {
  std::string out;
  for (const char c : s) {
    if (out.size() == max) break;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '@';
    out += ok ? c : '_';
  }
  return out;
}

std::optional<int> slot_number(const std::string& name) {
  constexpr std::string_view kPrefix = "slot-";
  if (name.size() <= kPrefix.size() || name.size() > kPrefix.size() + 3 ||
      name.compare(0, kPrefix.size(), kPrefix) != 0) {
    return std::nullopt;
  }
  int n = 0;
  for (std::size_t i = kPrefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

std::string root_for(const WriteBehindOptions& options) {
  if (!options.journal_root.empty()) return options.journal_root;
  std::string root = default_journal_root([](const char* name) { return std::getenv(name); });
  if (root.empty()) {
    // No HOME in the environment (some service managers): the account's home folder.
    const std::string home = os_account().home;
    if (!home.empty() && home.front() == '/') root = home + "/.local/state/examstore/journal";
  }
  return root;
}

const char* const kChooseElsewhere =
    "; set write_behind.journal_root (EXAMSTORE_JOURNAL_ROOT) to a local folder this process "
    "may write, or write_behind.journal_dir (EXAMSTORE_JOURNAL_DIR) to a fixed one, or turn "
    "write_behind.auto_journal off and choose Durability::kCached or kCommitted per call";

// Takes over every slot of `family` but `mine` that no live process holds and that still holds
// records: see journal_slots.hpp.
void take_over_free_slots(const std::string& family, int mine, const Journal::Options& base,
                          OpenedJournal& out) {
  const auto slots =
      numbered_entries(family, [mine](const std::string& name) -> std::optional<std::uint64_t> {
        const auto n = slot_number(name);
        if (!n || *n == mine) return std::nullopt;
        return static_cast<std::uint64_t>(*n);
      });
  if (!slots) return;  // nothing to take over
  for (const auto& [n, dir] : *slots) {
    Journal::Options o = base;
    o.dir = dir;
    std::vector<Journal::Record> records;
    std::unique_ptr<Journal> other;
    try {
      other = Journal::open(std::move(o), &records);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kResourceExhausted) continue;  // its process is alive
      throw;
    }
    if (records.empty()) continue;  // `other` removes the empty slot as it goes
    std::vector<std::string> data;
    std::vector<std::uint64_t> seqs;
    for (Journal::Record& r : records) {
      try {
        (void)decode(r.data);
      } catch (const Error& e) {
        throw Error(
            ErrorCode::kDataIntegrity, std::string(kOpen),
            "record " + std::to_string(r.seq) + " of the journal in " + dir + ": " + e.message());
      }
      seqs.push_back(r.seq);
      data.push_back(std::move(r.data));
    }
    const std::uint64_t first = out.journal->append(data);
    for (std::size_t i = 0; i < data.size(); ++i) {
      out.records.push_back(Journal::Record{first + i, std::move(data[i])});
    }
    other->mark_committed(seqs);
    out.taken_over += seqs.size();
    out.taken_from.push_back(dir);
  }
}

}  // namespace

JournalIdentity journal_identity(const Config& config) {
  JournalIdentity id;
  const std::string prefix = ", key prefix " + config.key_prefix;
  if (config.database_backend != BackendKind::kPostgres) {
    id.text = "the in-memory database" + prefix;
    id.label = file_name_safe("memory." + config.key_prefix, 64);
    return id;
  }
  const ConninfoTarget t = conninfo_target(config.postgres.conninfo);
  std::string target;
  for (const auto& [keyword, v] : {std::pair<const char*, const std::string&>{"service", t.service},
                                   {"host", t.host},
                                   {"hostaddr", t.hostaddr},
                                   {"port", t.port},
                                   {"dbname", t.dbname}}) {
    if (!v.empty()) target += std::string(target.empty() ? "" : " ") + keyword + "=" + v;
  }
  id.text = "postgresql " + target + prefix;
  const std::string& host = t.host.empty() ? t.hostaddr : t.host;
  id.label = file_name_safe(
      t.dbname + "@" + (host.empty() ? t.service : host) + "-" + t.port + "." + config.key_prefix,
      64);
  return id;
}

std::string default_journal_root(const std::function<const char*(const char*)>& env) {
  auto get = [&](const char* name) {
    const char* v = env(name);
    return std::string(v != nullptr ? v : "");
  };
  std::string state = get("STATE_DIRECTORY");
  state = state.substr(0, state.find(':'));  // systemd lists one folder per StateDirectory= entry
  if (!state.empty() && state.front() == '/') return state + "/examstore-journal";
  const std::string xdg = get("XDG_STATE_HOME");
  if (!xdg.empty() && xdg.front() == '/') return xdg + "/examstore/journal";
  const std::string home = get("HOME");
  if (!home.empty() && home.front() == '/') return home + "/.local/state/examstore/journal";
  return "";
}

std::string slot_family(const std::string& root, const JournalIdentity& identity) {
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(fnv1a(identity.text)));
  return root + "/" + identity.label + "-" + hash;
}

OpenedJournal open_journal(const WriteBehindOptions& options, const JournalPlacement& placement) {
  OpenedJournal out;
  Journal::Options base;
  base.sync = options.journal_sync;
  base.identity = placement.identity.text;
  if (!options.journal_dir.empty()) {
    base.dir = options.journal_dir;
    out.journal = Journal::open(std::move(base), &out.records);
    return out;
  }
  if (!placement.slots) return out;

  const std::string root = root_for(options);
  if (root.empty()) {
    throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                std::string("no folder for the write-behind journal: STATE_DIRECTORY, "
                            "XDG_STATE_HOME and HOME are unset and the account has no home") +
                    kChooseElsewhere);
  }
  const std::string family = slot_family(root, placement.identity);
  base.remove_when_empty = true;
  int mine = -1;
  for (int n = 0; n < kMaxSlots && !out.journal; ++n) {
    Journal::Options slot = base;
    slot.dir = family + "/slot-" + std::to_string(n);
    try {
      out.journal = Journal::open(std::move(slot), &out.records);
      mine = n;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kResourceExhausted) continue;  // held by a live process
      if (e.code() == ErrorCode::kUnavailable) {
        throw Error(e.code(), e.operation(), e.message() + kChooseElsewhere);
      }
      throw;
    }
  }
  if (!out.journal) {
    throw Error(ErrorCode::kResourceExhausted, std::string(kOpen),
                "all " + std::to_string(kMaxSlots) + " journal slots in " + family +
                    " are held by live processes");
  }
  take_over_free_slots(family, mine, base, out);
  return out;
}

}  // namespace examstore::wb
