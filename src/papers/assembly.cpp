// Paper assembly: a seeded shuffle of the eligible questions, a max-flow over the (type,
// difficulty) grid for the counts, then deterministic swaps for knowledge-point coverage and the
// mean difficulty. See docs/papers.md, "Assembly".
#include "papers/assembly.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <queue>
#include <set>
#include <utility>

#include "examstore/error.hpp"

namespace examstore::papers {

std::uint64_t mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t SplitMix64::next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return mix64(state_);
}

std::uint64_t SplitMix64::below(std::uint64_t bound) {
  // Reject the top partial block of 2^64 so every residue is equally likely.
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  while (true) {
    const std::uint64_t r = next();
    if (r < limit) return r % bound;
  }
}

namespace {

const std::string kOp = "paper assemble";
constexpr int kTypes = 5;   // QuestionType values
constexpr int kLevels = 5;  // difficulties 1..5
constexpr int kMaxSize = 10000;

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, kOp, message);
}

std::string type_rule(QuestionType t) { return "count_by_type[" + std::string(to_string(t)) + "]"; }

std::string fixed2(double v) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.2f", v);
  return buf.data();
}

[[noreturn]] void short_of(const std::string& rule, int wanted, int eligible) {
  fail(rule + ": " + std::to_string(wanted) + " wanted, " + std::to_string(eligible) +
       " eligible: short by " + std::to_string(wanted - eligible));
}

bool covers(const Candidate& c, const std::string& path) {
  return std::any_of(c.knowledge_points.begin(), c.knowledge_points.end(),
                     [&](const std::string& kp) {
                       return kp.size() >= path.size() && kp.compare(0, path.size(), path) == 0 &&
                              (kp.size() == path.size() || kp[path.size()] == '/');
                     });
}

/// Max flow source -> type -> difficulty -> sink (Edmonds-Karp over a 12-node graph). Returns
/// quota[t][d], how many questions to draw from each cell.
using Grid = std::array<std::array<int, kLevels>, kTypes>;
Grid transport(const std::array<int, kTypes>& by_type, const std::array<int, kLevels>& by_level,
               const Grid& available, int* flow_out) {
  constexpr int kNodes = 2 + kTypes + kLevels;
  constexpr int kSource = 0;
  constexpr int kSink = kNodes - 1;
  std::array<std::array<int, kNodes>, kNodes> cap{};
  for (int t = 0; t < kTypes; ++t) {
    cap[kSource][1 + t] = by_type[static_cast<std::size_t>(t)];
    for (int d = 0; d < kLevels; ++d) {
      cap[1 + t][1 + kTypes + d] =
          available[static_cast<std::size_t>(t)][static_cast<std::size_t>(d)];
    }
  }
  for (int d = 0; d < kLevels; ++d)
    cap[1 + kTypes + d][kSink] = by_level[static_cast<std::size_t>(d)];
  const auto original = cap;
  int flow = 0;
  while (true) {
    std::array<int, kNodes> parent{};
    parent.fill(-1);
    parent[kSource] = kSource;
    std::queue<int> q;
    q.push(kSource);
    while (!q.empty() && parent[kSink] < 0) {
      const int u = q.front();
      q.pop();
      for (int v = 0; v < kNodes; ++v) {
        if (parent[static_cast<std::size_t>(v)] < 0 &&
            cap[static_cast<std::size_t>(u)][static_cast<std::size_t>(v)] > 0) {
          parent[static_cast<std::size_t>(v)] = u;
          q.push(v);
        }
      }
    }
    if (parent[kSink] < 0) break;
    int push = std::numeric_limits<int>::max();
    for (int v = kSink; v != kSource; v = parent[static_cast<std::size_t>(v)]) {
      push = std::min(push, cap[static_cast<std::size_t>(parent[static_cast<std::size_t>(v)])]
                               [static_cast<std::size_t>(v)]);
    }
    for (int v = kSink; v != kSource; v = parent[static_cast<std::size_t>(v)]) {
      const auto u = static_cast<std::size_t>(parent[static_cast<std::size_t>(v)]);
      cap[u][static_cast<std::size_t>(v)] -= push;
      cap[static_cast<std::size_t>(v)][u] += push;
    }
    flow += push;
  }
  Grid quota{};
  for (std::size_t t = 0; t < kTypes; ++t) {
    for (std::size_t d = 0; d < kLevels; ++d) {
      quota[t][d] = original[1 + t][1 + kTypes + d] - cap[1 + t][1 + kTypes + d];
    }
  }
  *flow_out = flow;
  return quota;
}

std::size_t type_index(QuestionType t) { return static_cast<std::size_t>(t); }
std::size_t level_index(int difficulty) { return static_cast<std::size_t>(difficulty - 1); }

/// The selection being improved: the pool in seeded order (index = preference rank).
class Selection {
 public:
  Selection(std::vector<Candidate> pool, bool by_cell) : pool_(std::move(pool)), by_cell_(by_cell) {
    chosen_.assign(pool_.size(), false);
  }
  const std::vector<Candidate>& pool() const { return pool_; }
  bool chosen(std::size_t i) const { return chosen_[i]; }
  void choose(std::size_t i) { chosen_[i] = true; }
  void swap(std::size_t out, std::size_t in) {
    chosen_[out] = false;
    chosen_[in] = true;
  }
  /// Questions may be swapped for one another only within a group: the cell when the
  /// difficulty counts are fixed, else the type.
  bool same_group(std::size_t a, std::size_t b) const {
    return pool_[a].type == pool_[b].type &&
           (!by_cell_ || pool_[a].difficulty == pool_[b].difficulty);
  }
  /// How many chosen questions cover each of `paths`.
  std::vector<int> coverers(const std::vector<std::string>& paths) const {
    std::vector<int> out(paths.size(), 0);
    for (std::size_t j = 0; j < pool_.size(); ++j) {
      if (!chosen_[j]) continue;
      for (std::size_t p = 0; p < paths.size(); ++p) out[p] += covers(pool_[j], paths[p]) ? 1 : 0;
    }
    return out;
  }
  /// True when dropping chosen `i` would leave one of `paths` uncovered (`counts`: coverers()).
  bool pinned(std::size_t i, const std::vector<std::string>& paths,
              const std::vector<int>& counts) const {
    for (std::size_t p = 0; p < paths.size(); ++p) {
      if (counts[p] < 2 && covers(pool_[i], paths[p])) return true;
    }
    return false;
  }
  std::vector<Candidate> result() const {
    std::vector<Candidate> out;
    for (int t = 0; t < kTypes; ++t) {
      for (std::size_t i = 0; i < pool_.size(); ++i) {
        if (chosen_[i] && static_cast<int>(pool_[i].type) == t) out.push_back(pool_[i]);
      }
    }
    return out;
  }

 private:
  std::vector<Candidate> pool_;
  std::vector<bool> chosen_;
  bool by_cell_;
};

void cover(Selection& s, const std::vector<std::string>& paths) {
  const auto& pool = s.pool();
  std::vector<std::string> done;
  for (const auto& path : paths) {
    if (std::find(done.begin(), done.end(), path) != done.end()) continue;
    int eligible = 0;
    bool covered = false;
    for (std::size_t i = 0; i < pool.size(); ++i) {
      if (!covers(pool[i], path)) continue;
      ++eligible;
      covered = covered || s.chosen(i);
    }
    if (eligible == 0) fail("cover_knowledge_points[" + path + "]: no eligible question");
    bool fixed = covered;
    // The most preferred question that covers the path replaces the least preferred one of
    // its group that no covered path depends on.
    const std::vector<int> counts = fixed ? std::vector<int>() : s.coverers(done);
    for (std::size_t in = 0; in < pool.size() && !fixed; ++in) {
      if (s.chosen(in) || !covers(pool[in], path)) continue;
      for (std::size_t out = pool.size(); out-- > 0;) {
        if (s.chosen(out) && s.same_group(out, in) && !s.pinned(out, done, counts)) {
          s.swap(out, in);
          fixed = true;
          break;
        }
      }
    }
    if (!fixed) {
      fail("cover_knowledge_points[" + path + "]: " + std::to_string(eligible) +
           " eligible question(s), none can be swapped in without breaking another rule");
    }
    done.push_back(path);
  }
}

void approach_mean(Selection& s, const AssemblyRules& rules, int size) {
  const auto& pool = s.pool();
  const double target = *rules.target_mean_difficulty * size;
  const double tolerance = rules.mean_tolerance * size + 1e-9;
  long sum = 0;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    if (s.chosen(i)) sum += pool[i].difficulty;
  }
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  while (std::fabs(static_cast<double>(sum) - target) > tolerance) {
    // Per (type, difficulty): the most preferred unchosen question and the least preferred
    // chosen one that can go. Then the swap that brings the sum closest to the target.
    std::array<std::array<std::size_t, kLevels>, kTypes> best_in{};
    std::array<std::array<std::size_t, kLevels>, kTypes> best_out{};
    for (auto& row : best_in) row.fill(kNone);
    for (auto& row : best_out) row.fill(kNone);
    const std::vector<int> counts = s.coverers(rules.cover_knowledge_points);
    for (std::size_t i = 0; i < pool.size(); ++i) {
      const std::size_t t = type_index(pool[i].type);
      const std::size_t d = level_index(pool[i].difficulty);
      if (!s.chosen(i)) {
        if (best_in[t][d] == kNone) best_in[t][d] = i;
      } else if (!s.pinned(i, rules.cover_knowledge_points, counts)) {
        best_out[t][d] = i;
      }
    }
    double best = std::fabs(static_cast<double>(sum) - target) - 1e-9;
    std::pair<std::size_t, std::size_t> swap{kNone, kNone};
    int delta = 0;
    for (std::size_t t = 0; t < kTypes; ++t) {
      for (std::size_t out = 0; out < kLevels; ++out) {
        for (std::size_t in = 0; in < kLevels; ++in) {
          if (best_out[t][out] == kNone || best_in[t][in] == kNone || in == out) continue;
          const int step = static_cast<int>(in) - static_cast<int>(out);
          const double dist = std::fabs(static_cast<double>(sum + step) - target);
          if (dist < best) {
            best = dist;
            swap = {best_out[t][out], best_in[t][in]};
            delta = step;
          }
        }
      }
    }
    if (swap.first == kNone) break;
    s.swap(swap.first, swap.second);
    sum += delta;
  }
  const double mean = static_cast<double>(sum) / size;
  if (std::fabs(mean - *rules.target_mean_difficulty) > rules.mean_tolerance + 1e-9) {
    fail("target_mean_difficulty: best reachable " + fixed2(mean) + ", wanted " +
         fixed2(*rules.target_mean_difficulty) + " +- " + fixed2(rules.mean_tolerance));
  }
}

}  // namespace

void check_rules(const AssemblyRules& rules) {
  if (rules.count_by_type.empty()) fail("count_by_type: at least one type is needed");
  long size = 0;
  for (const auto& [type, n] : rules.count_by_type) {
    const int t = static_cast<int>(type);
    if (t < 0 || t >= kTypes) fail("count_by_type: unknown question type " + std::to_string(t));
    if (n < 0) fail(type_rule(type) + ": must not be negative, got " + std::to_string(n));
    if (n > kMaxSize) fail(type_rule(type) + ": at most 10000, got " + std::to_string(n));
    size += n;
  }
  if (size < 1) fail("count_by_type: the counts sum to 0, a paper needs at least one question");
  if (size > kMaxSize) {
    fail("count_by_type: the counts sum to " + std::to_string(size) + ", at most 10000");
  }
  if (!rules.count_by_difficulty.empty()) {
    long total = 0;
    for (const auto& [level, n] : rules.count_by_difficulty) {
      const std::string rule = "count_by_difficulty[" + std::to_string(level) + "]";
      if (level < 1 || level > kLevels) fail(rule + ": difficulty must be 1..5");
      if (n < 0) fail(rule + ": must not be negative, got " + std::to_string(n));
      if (n > kMaxSize) fail(rule + ": at most 10000, got " + std::to_string(n));
      total += n;
    }
    if (total != size) {
      fail("count_by_difficulty: the counts sum to " + std::to_string(total) +
           ", count_by_type to " + std::to_string(size));
    }
  }
  if (rules.target_mean_difficulty) {
    const double m = *rules.target_mean_difficulty;
    if (!std::isfinite(m) || m < 1 || m > kLevels) {
      fail("target_mean_difficulty: must be 1..5, got " + fixed2(m));
    }
    if (!rules.count_by_difficulty.empty()) {
      fail(
          "target_mean_difficulty: cannot be combined with count_by_difficulty, which fixes "
          "the mean");
    }
  }
  if (!std::isfinite(rules.mean_tolerance) || rules.mean_tolerance < 0) {
    fail("mean_tolerance: must be >= 0, got " + fixed2(rules.mean_tolerance));
  }
  if (rules.subject && (rules.subject->empty() || rules.subject->size() > 64)) {
    fail("subject: must be 1..64 characters");
  }
  for (const auto& p : rules.cover_knowledge_points) {
    if (p.empty() || p.front() == '/' || p.back() == '/') {
      fail("cover_knowledge_points: \"" + p + "\" is not a knowledge-point path");
    }
  }
}

std::vector<Candidate> select(std::vector<Candidate> candidates, const AssemblyRules& rules) {
  check_rules(rules);
  const std::set<QuestionId> excluded(rules.exclude.begin(), rules.exclude.end());
  std::array<int, kTypes> by_type{};
  int size = 0;
  for (const auto& [type, n] : rules.count_by_type) {
    by_type[type_index(type)] = n;
    size += n;
  }
  candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                  [&](const Candidate& c) {
                                    const int t = static_cast<int>(c.type);
                                    return t < 0 || t >= kTypes ||
                                           by_type[type_index(c.type)] == 0 || c.difficulty < 1 ||
                                           c.difficulty > kLevels || excluded.count(c.id) != 0;
                                  }),
                   candidates.end());
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  candidates.erase(std::unique(candidates.begin(), candidates.end(),
                               [](const Candidate& a, const Candidate& b) { return a.id == b.id; }),
                   candidates.end());
  SplitMix64 rng(rules.seed);
  for (std::size_t i = candidates.size(); i > 1; --i) {
    std::swap(candidates[i - 1], candidates[static_cast<std::size_t>(rng.below(i))]);
  }

  Grid available{};
  std::array<int, kLevels> level_available{};
  for (const auto& c : candidates) {
    ++available[type_index(c.type)][level_index(c.difficulty)];
    ++level_available[level_index(c.difficulty)];
  }
  for (const auto& [type, n] : rules.count_by_type) {
    int have = 0;
    for (const int a : available[type_index(type)]) have += a;
    if (have < n) short_of(type_rule(type), n, have);
  }
  const bool by_cell = !rules.count_by_difficulty.empty();
  Grid quota{};
  if (by_cell) {
    std::array<int, kLevels> by_level{};
    for (const auto& [level, n] : rules.count_by_difficulty) {
      by_level[level_index(level)] = n;
      if (level_available[level_index(level)] < n) {
        short_of("count_by_difficulty[" + std::to_string(level) + "]", n,
                 level_available[level_index(level)]);
      }
    }
    int flow = 0;
    quota = transport(by_type, by_level, available, &flow);
    if (flow < size) {
      fail("count_by_type with count_by_difficulty: " + std::to_string(size) + " wanted, at most " +
           std::to_string(flow) + " meet both: short by " + std::to_string(size - flow));
    }
  }

  Selection s(std::move(candidates), by_cell);
  Grid taken{};
  std::array<int, kTypes> taken_by_type{};
  for (std::size_t i = 0; i < s.pool().size(); ++i) {
    const std::size_t t = type_index(s.pool()[i].type);
    const std::size_t d = level_index(s.pool()[i].difficulty);
    if (by_cell ? taken[t][d] < quota[t][d] : taken_by_type[t] < by_type[t]) {
      s.choose(i);
      ++taken[t][d];
      ++taken_by_type[t];
    }
  }
  cover(s, rules.cover_knowledge_points);
  if (rules.target_mean_difficulty) approach_mean(s, rules, size);
  return s.result();
}

}  // namespace examstore::papers
