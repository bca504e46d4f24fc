#include "cli/args.hpp"

#include "common/json.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace examstore::cli {

const char* const kUsage =
    "usage: examstore [--redis URL] [--database URL] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  migrate up [N]      apply pending schema migrations (at most N)\n"
    "  migrate down [N]    revert the N newest migrations (default 1)\n"
    "  migrate status      every migration and whether it is applied\n"
    "  migrate history     applied migrations with when they were applied\n"
    "  health              round trip and server version of each backend\n"
    "  stats               metrics snapshot after a health round trip (Prometheus text;\n"
    "                      --json for JSON)\n"
    "  simulate --students N --duration S --heartbeat-interval S --violation-rate R\n"
    "           [--durability cached|journaled|committed] [--ack-log FILE] [--seed N]\n"
    "           [--stats-json]\n"
    "                      run a realistic exam against the configured backends\n"
    "  drain               replay the write-behind journal, flush, report what was written\n"
    "  deadletter list | retry ID | drop ID\n"
    "                      writes PostgreSQL rejected for good\n"
    "  questions import FILE | export\n"
    "                      import a JSON array of questions (all or nothing), or export\n"
    "  paper apply --paper KEY --ops FILE | paper list --paper KEY\n"
    "                      edit a paper (school/department/major/course) or print its order\n"
    "  paper assemble --paper KEY --rules FILE.json\n"
    "                      draw a paper from the question bank by rules (docs/papers.md)\n"
    "  audit verify        recompute the audit log's hash chain; names the first broken entry\n"
    "  audit list [--limit N] [--after ID] [--actor ID] [--action A] [--target T]\n"
    "                      print audit entries in chain order\n"
    "  db roles [--role NAME] [--apply [--password-stdin]]\n"
    "                      print (or apply, as the owner) the least-privilege application\n"
    "                      role's SQL (default role examstore_app; docs/security.md)\n"
    "  users add --role ROLE --name NAME --password-stdin [--student ID]\n"
    "  users login --name NAME --password-stdin [--ip IP]\n"
    "  users lock|unlock --name NAME | users list-logins [--name NAME] [--limit N]\n"
    "                      accounts (docs/accounts.md); login prints a session token\n"
    "  keys rotate [--batch N]\n"
    "                      re-encrypt personal data sealed under an old key (rows per\n"
    "                      transaction: N, default 1000; docs/personal-data.md)\n"
    "  gdpr export --student ID [--out FILE] | gdpr erase --student ID\n"
    "                      everything held about a student as JSON, or anonymise them\n"
    "  maintain [--months-ahead N] [--retention-months M] [--drop|--detach] [--dry-run]\n"
    "                      monthly partitions of events and violations, as the database\n"
    "                      owner: create N ahead (default 3), detach (default) or drop those\n"
    "                      older than M months (default: keep all; docs/partitioning.md)\n"
    "  grading claim --grader NAME [--kind ai|human] [--model M --model-version V\n"
    "          --prompt-sha256 H] [--lease S] [--assignment ID | --exam ID]\n"
    "                      lease the oldest claimable task for S seconds (default 300):\n"
    "                      its id, token and what to grade; {\"claimed\":false} (exit 0)\n"
    "                      when nothing is claimable\n"
    "  grading complete --task ID --token T --results FILE|- [--grader NAME [--kind ...]]\n"
    "                      store the grades (JSON, docs/grading-cli.md); prints the receipt;\n"
    "                      a stale token exits 1\n"
    "  grading fail --task ID --token T --reason TEXT | renew --task ID --token T --lease S\n"
    "  grading regrade --task ID --reason TEXT\n"
    "  grading stats --task|--assignment|--class|--exam ID\n"
    "  grading ranking --assignment|--class|--exam ID [--top N | --student ID [--radius R]]\n"
    "                      grading tasks, statistics and rankings, as JSON\n"
    "\n"
    "options:\n"
    "  --redis URL         hot tier: redis://[:password@]host:port[/db] or memory://\n"
    "                      (default: $EXAMSTORE_REDIS_URL, else memory://)\n"
    "  --database URL      durable tier: postgresql://user@host:port/db or memory://\n"
    "                      (default: $EXAMSTORE_DATABASE_URL, else memory://)\n"
    "  --journal-dir DIR   write-behind journal (default: $EXAMSTORE_JOURNAL_DIR, else on\n"
    "                      PostgreSQL a slot under $EXAMSTORE_JOURNAL_ROOT or\n"
    "                      ~/.local/state/examstore/journal; docs/write-behind.md)\n"
    "  --json              print machine-readable JSON\n"
    "  -h, --help          print this help\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 bad usage\n";

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view w = argv[i];
    auto value = [&](std::string_view name) -> std::string {
      if (i + 1 >= argc) throw UsageError(std::string(name) + " needs a value");
      return argv[++i];
    };
    if (w == "--redis") {
      a.redis_url = value(w);
    } else if (w.substr(0, 8) == "--redis=") {
      a.redis_url = std::string(w.substr(8));
    } else if (w == "--database") {
      a.database_url = value(w);
    } else if (w.substr(0, 11) == "--database=") {
      a.database_url = std::string(w.substr(11));
    } else if (w == "--journal-dir") {
      a.journal_dir = value(w);
    } else if (w == "--json") {
      a.json = true;
    } else if (w == "-h" || w == "--help") {
      a.words = {"help"};
      return a;
    } else if (w.size() > 1 && w[0] == '-' && !(w[1] >= '0' && w[1] <= '9') && a.words.empty()) {
      throw UsageError("unknown option '" + std::string(w) + "'");
    } else {
      a.words.emplace_back(w);
    }
  }
  if (a.words.empty()) throw UsageError("no command given");
  return a;
}

std::string journal_dir_of(const Args& args, const Config& config) {
  if (args.journal_dir) return *args.journal_dir;
  return config.write_behind.journal_dir;
}

std::map<std::string, std::string> command_options(const Args& args, std::size_t first,
                                                   const std::set<std::string>& names,
                                                   const std::set<std::string>& flags) {
  std::map<std::string, std::string> out;
  const auto& w = args.words;
  for (std::size_t i = first; i < w.size(); ++i) {
    const std::string& name = w[i];
    if (flags.count(name) != 0) {
      out[name] = "1";
    } else if (names.count(name) != 0) {
      if (i + 1 >= w.size()) throw UsageError(name + " needs a value");
      out[name] = w[++i];
    } else {
      throw UsageError("unknown argument '" + name + "' to " + w.front());
    }
  }
  return out;
}

double parse_positive(std::string_view text, std::string_view what) {
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v > 0) || v > 1e9) {
    throw UsageError(std::string(what) + " must be a positive number, not '" + s + "'");
  }
  return v;
}

Config make_config(const Args& args) {
  Config c = Config::from_env();
  if (args.redis_url) c.with_redis_url(*args.redis_url);
  if (args.database_url) c.with_database_url(*args.database_url);
  return c;
}

int parse_count(std::string_view text, std::string_view what) {
  int n = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || ec != std::errc() || ptr != end || n < 1) {
    throw UsageError(std::string(what) + " must be a whole number >= 1, not '" + std::string(text) +
                     "'");
  }
  return n;
}

std::string json_string(std::string_view s) { return json::quote(s); }

Principal cli_principal() {
  const char* user = std::getenv("USER");
  return Principal::system("cli:" +
                           std::string(user != nullptr && *user != '\0' ? user : "unknown"));
}

}  // namespace examstore::cli
