// examstore grading claim|complete|fail|renew|regrade|stats|ranking: drive a grader from a shell
// and read the results (include/examstore/grading.hpp, docs/grading-cli.md). Every subcommand
// prints one JSON object on stdout. Times are this machine's clock.
//
// A grader process keeps the task id and token that claim printed and presents them to
// complete, fail and renew: the Lease is rebuilt from them (the repository checks the token
// against the database, so a stale one is refused: exit 1, naming the token).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "cli/args.hpp"
#include "cli/grading_json.hpp"
#include "common/json.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

using Options = std::map<std::string, std::string>;

const std::set<std::string> kIdentity = {"--grader", "--kind", "--model", "--model-version",
                                         "--prompt-sha256"};

std::set<std::string> with_identity(std::set<std::string> names) {
  names.insert(kIdentity.begin(), kIdentity.end());
  return names;
}

const std::string& required(const Options& opts, const std::string& name, const std::string& sub) {
  const auto it = opts.find(name);
  if (it == opts.end()) throw UsageError("grading " + sub + " needs " + name);
  return it->second;
}

/// A whole number in [min, 2^63); throws UsageError naming the option.
std::int64_t parse_int(const std::string& text, const std::string& what, std::int64_t min) {
  const bool digits = !text.empty() && text.size() <= 18 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  const std::int64_t v = digits ? std::stoll(text) : -1;
  if (v < min) {
    throw UsageError(what + " must be a whole number >= " + std::to_string(min) + ", not '" + text +
                     "'");
  }
  return v;
}

std::int64_t id_of(const Options& opts, const std::string& name, const std::string& sub) {
  return parse_int(required(opts, name, sub), name, 1);
}

GraderIdentity identity_of(const Options& opts, const std::string& sub) {
  GraderIdentity g;
  g.name = required(opts, "--grader", sub);
  if (auto it = opts.find("--kind"); it != opts.end()) {
    if (it->second == "ai") {
      g.kind = GraderIdentity::Kind::kAi;
    } else if (it->second == "human") {
      g.kind = GraderIdentity::Kind::kHuman;
    } else {
      throw UsageError("--kind must be ai or human, not '" + it->second + "'");
    }
  }
  const auto get = [&](const char* name) {
    const auto it = opts.find(name);
    return it == opts.end() ? std::string() : it->second;
  };
  g.model = get("--model");
  g.model_version = get("--model-version");
  g.prompt_sha256 = get("--prompt-sha256");
  return g;
}

/// The scope named by exactly one of the options in `kinds`.
Scope scope_of(const Options& opts, const std::vector<std::pair<std::string, ScopeKind>>& kinds,
               const std::string& sub) {
  std::optional<Scope> scope;
  std::string names;
  for (const auto& [name, kind] : kinds) {
    names += (names.empty() ? "" : ", ") + name;
    const auto it = opts.find(name);
    if (it == opts.end()) continue;
    if (scope) {
      std::string message = "grading " + sub;
      message += " takes only one of ";
      message += names;
      throw UsageError(message + "...");
    }
    scope = Scope{kind, parse_int(it->second, name, 1)};
  }
  if (!scope) throw UsageError("grading " + sub + " needs one of " + names);
  return *scope;
}

/// The Lease the repository checks: only the task id and the token matter.
Lease lease_of(const Options& opts, const std::string& sub) {
  Lease l;
  l.task.id = id_of(opts, "--task", sub);
  l.token = parse_int(required(opts, "--token", sub), "--token", 1);
  l.task.token = l.token;
  return l;
}

/// Runs `f`; a kConflict (stale token, task no longer running) is printed naming the token.
template <typename F>
int fenced(const Lease& lease, const std::string& sub, F f) {
  try {
    f();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kConflict) throw;
    std::cerr << "examstore: grading " << sub << ": token " << lease.token << " of task "
              << lease.task.id << " was refused: " << e.message() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

std::string string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : ",") + json::quote(items[i]);
  return out + "]";
}

/// What the claimed task grades, for the grader: the submission with its answer files and its
/// assignment (rubric included), or the exam attempt.
std::string claimed_json(GradingRepo& grading, const Lease& l) {
  json::ObjectWriter out;
  out.add("claimed", true)
      .add("task_id", l.task.id)
      .add("token", l.token)
      .add("expires_at", to_iso8601(l.expires_at))
      .add_raw("task", task_json(l.task));
  const auto submission =
      l.task.submission_id ? grading.get_submission(*l.task.submission_id) : std::nullopt;
  if (submission) {
    out.add_raw("submission", json::ObjectWriter()
                                  .add("id", submission->id)
                                  .add("assignment_id", submission->assignment_id)
                                  .add("student_id", submission->student_id)
                                  .add_raw("answer_files", string_array(submission->answer_files))
                                  .add("submitted_at", to_iso8601(submission->submitted_at))
                                  .add("late", submission->late)
                                  .str());
  } else {
    out.add_null("submission");
  }
  const auto assignment =
      submission ? grading.get_assignment(submission->assignment_id) : std::nullopt;
  if (assignment) {
    const bool rubric =
        !assignment->rubric_json.empty() && !json::validate(assignment->rubric_json);
    out.add_raw("assignment",
                json::ObjectWriter()
                    .add("id", assignment->id)
                    .add("title", assignment->title)
                    .add("subject", assignment->subject)
                    .add("mode", to_string(assignment->mode))
                    .add("question_count", assignment->question_count)
                    .add_raw("max_score", json::number(assignment->max_score))
                    .add("rubric_text", assignment->rubric_text)
                    .add_raw("rubric", rubric ? assignment->rubric_json : std::string("null"))
                    .str());
  } else {
    out.add_null("assignment");
  }
  if (l.task.attempt_id) {
    out.add_raw("attempt", json::ObjectWriter()
                               .add("attempt_id", *l.task.attempt_id)
                               .add("exam_id", l.task.exam_id.value_or(0))
                               .add("student_id", l.task.student_id)
                               .str());
  } else {
    out.add_null("attempt");
  }
  return out.str();
}

std::string read_results(const std::string& file) {
  if (file == "-") {
    return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  }
  std::ifstream in(file);
  if (!in) throw Error(ErrorCode::kNotFound, "results", "cannot read " + file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TimePoint now() { return std::chrono::system_clock::now(); }

int claim(Store& store, const Options& opts) {
  ClaimRequest r;
  r.grader = identity_of(opts, "claim");
  if (auto it = opts.find("--lease"); it != opts.end()) {
    r.lease = std::chrono::seconds(parse_int(it->second, "--lease", 1));
  }
  if (opts.count("--assignment") != 0 && opts.count("--exam") != 0) {
    throw UsageError("grading claim takes --assignment or --exam, not both");
  }
  if (opts.count("--assignment") != 0) r.assignment_id = id_of(opts, "--assignment", "claim");
  if (opts.count("--exam") != 0) r.exam_id = id_of(opts, "--exam", "claim");
  r.now = now();
  const auto lease = store.grading().claim(r);
  std::cout << (lease ? claimed_json(store.grading(), *lease)
                      : json::ObjectWriter().add("claimed", false).str())
            << "\n";
  return kExitOk;
}

int complete(const Args& args, const Options& opts) {
  Lease lease = lease_of(opts, "complete");
  // Without --grader the results record the task's lease owner (the name given to claim).
  if (opts.count("--grader") != 0) lease.grader = identity_of(opts, "complete");
  const std::string& file = required(opts, "--results", "complete");
  GradingOutcome outcome;
  try {
    outcome = parse_outcome(read_results(file));
  } catch (const Error& e) {
    std::cerr << "examstore: grading complete: " << (file == "-" ? "standard input" : file) << ": "
              << e.message() << " (nothing stored)\n";
    return kExitFailed;
  }
  auto store = Store::open(make_config(args));
  return fenced(lease, "complete", [&] {
    const auto receipt = store->grading().complete(lease, outcome, now());
    std::cout << receipt_json(receipt) << "\n";
  });
}

}  // namespace

int cmd_grading(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) {
    throw UsageError("grading needs claim, complete, fail, renew, regrade, stats or ranking");
  }
  const std::string& sub = w[1];
  const std::vector<std::pair<std::string, ScopeKind>> ranked = {
      {"--assignment", ScopeKind::kAssignment},
      {"--class", ScopeKind::kClass},
      {"--exam", ScopeKind::kExam}};
  Options opts;
  if (sub == "claim") {
    opts = command_options(args, 2, with_identity({"--lease", "--assignment", "--exam"}));
  } else if (sub == "complete") {
    opts = command_options(args, 2, with_identity({"--task", "--token", "--results"}));
    return complete(args, opts);
  } else if (sub == "fail") {
    opts = command_options(args, 2, {"--task", "--token", "--reason"});
  } else if (sub == "renew") {
    opts = command_options(args, 2, {"--task", "--token", "--lease"});
  } else if (sub == "regrade") {
    opts = command_options(args, 2, {"--task", "--reason"});
  } else if (sub == "stats") {
    opts = command_options(args, 2, {"--task", "--assignment", "--class", "--exam"});
  } else if (sub == "ranking") {
    opts = command_options(args, 2,
                           {"--assignment", "--class", "--exam", "--top", "--student", "--radius"});
  } else {
    throw UsageError("unknown grading command '" + sub + "'");
  }

  // Arguments are checked before the store opens.
  std::optional<Lease> lease;
  if (sub == "fail" || sub == "renew") lease = lease_of(opts, sub);
  std::optional<Scope> scope;
  if (sub == "stats") {
    auto kinds = ranked;
    kinds.insert(kinds.begin(), {"--task", ScopeKind::kTask});
    scope = scope_of(opts, kinds, sub);
  } else if (sub == "ranking") {
    scope = scope_of(opts, ranked, sub);
    if (opts.count("--top") != 0 && opts.count("--student") != 0) {
      throw UsageError("grading ranking takes --top or --student, not both");
    }
    if (opts.count("--radius") != 0 && opts.count("--student") == 0) {
      throw UsageError("grading ranking: --radius goes with --student");
    }
  }
  if (sub == "claim") identity_of(opts, sub);  // bad --kind is bad usage, before any I/O

  auto store = Store::open(make_config(args));
  GradingRepo& grading = store->grading();
  if (sub == "claim") return claim(*store, opts);
  if (sub == "fail") {
    const std::string& reason = required(opts, "--reason", sub);
    return fenced(*lease, sub,
                  [&] { std::cout << task_json(grading.fail(*lease, reason, now())) << "\n"; });
  }
  if (sub == "renew") {
    const auto lease_for =
        std::chrono::seconds(parse_int(required(opts, "--lease", sub), "--lease", 1));
    return fenced(*lease, sub, [&] {
      const Lease renewed = grading.renew(*lease, lease_for, now());
      std::cout << json::ObjectWriter()
                       .add("task_id", renewed.task.id)
                       .add("token", renewed.token)
                       .add("expires_at", to_iso8601(renewed.expires_at))
                       .str()
                << "\n";
    });
  }
  if (sub == "regrade") {
    const GradingTaskId task = id_of(opts, "--task", sub);
    std::cout << task_json(grading.regrade(task, required(opts, "--reason", sub), now())) << "\n";
    return kExitOk;
  }
  if (sub == "stats") {
    std::cout << statistics_json(grading.statistics(*scope)) << "\n";
    return kExitOk;
  }
  // ranking
  if (opts.count("--student") != 0) {
    const StudentId student = id_of(opts, "--student", sub);
    const int radius = opts.count("--radius") != 0
                           ? static_cast<int>(std::min<std::int64_t>(
                                 parse_int(opts.at("--radius"), "--radius", 0), 1000000))
                           : 2;
    const auto place = grading.rank_of(*scope, student);
    std::cout << ranking_json(*scope, grading.around(*scope, student, radius), place) << "\n";
    return kExitOk;
  }
  const int top = opts.count("--top") != 0 ? parse_count(opts.at("--top"), "--top") : 10;
  std::cout << ranking_json(*scope, grading.top(*scope, top)) << "\n";
  return kExitOk;
}

}  // namespace examstore::cli
