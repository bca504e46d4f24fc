// Per-student variants: see papers/variant.hpp and docs/papers.md, "Per-student variants".
#include "papers/variant.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "common/json.hpp"
#include "examstore/error.hpp"
#include "papers/assembly.hpp"

namespace examstore {

namespace {

constexpr std::size_t kStackItems = 512;

bool shuffles_options(QuestionType t) {
  return t == QuestionType::kSingle || t == QuestionType::kMultiple;
}

/// (rank, paper position): sorting these gives the variant's order.
using Ranked = std::pair<std::uint64_t, std::size_t>;

}  // namespace

namespace papers {

std::uint64_t paper_hash(const PaperKey& key) {
  // FNV-1a of key.str() without building it, then a mix that also covers the length.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::size_t size = 0;
  const auto feed = [&](std::string_view s) {
    for (const char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
    size += s.size();
  };
  feed(key.school);
  feed("/");
  feed(key.department);
  feed("/");
  feed(key.major);
  feed("/");
  feed(key.course);
  return mix64(h ^ size);
}

std::uint64_t question_rank(std::uint64_t paper, StudentId student, QuestionId question) {
  return mix64(mix64(paper + 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(student)) +
               0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(question));
}

std::vector<int> option_order(std::uint64_t paper, StudentId student, const PaperItem& item,
                              int option_count) {
  if (!shuffles_options(item.type) || option_count <= 0) return {};
  std::vector<int> order(static_cast<std::size_t>(option_count));
  for (int i = 0; i < option_count; ++i) order[static_cast<std::size_t>(i)] = i;
  SplitMix64 rng(mix64(question_rank(paper, student, item.question_id) +
                       static_cast<std::uint64_t>(item.question_version)));
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[static_cast<std::size_t>(rng.below(i))]);
  }
  return order;
}

namespace {

VariantItem make_item(std::uint64_t paper, StudentId student, const PaperItem& item,
                      std::size_t shown, std::size_t paper_position, const OptionCount& options) {
  VariantItem v;
  v.position = static_cast<int>(shown);
  v.paper_position = static_cast<int>(paper_position);
  v.item = item;
  if (shuffles_options(item.type))
    v.option_order = option_order(paper, student, item, options(item));
  return v;
}

Ranked ranked(std::uint64_t paper, StudentId student, const std::vector<PaperItem>& items,
              std::size_t i) {
  return {question_rank(paper, student, items[i].question_id), i};
}

bool before(const Ranked& a, const Ranked& b, const std::vector<PaperItem>& items) {
  if (a.first != b.first) return a.first < b.first;
  return items[a.second].question_id < items[b.second].question_id;
}

}  // namespace

std::vector<VariantItem> variant_items(std::uint64_t paper, StudentId student,
                                       const std::vector<PaperItem>& items,
                                       const OptionCount& options) {
  std::vector<Ranked> order;
  order.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) order.push_back(ranked(paper, student, items, i));
  std::sort(order.begin(), order.end(),
            [&](const Ranked& a, const Ranked& b) { return before(a, b, items); });
  std::vector<VariantItem> out;
  out.reserve(items.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    out.push_back(make_item(paper, student, items[order[k].second], k, order[k].second, options));
  }
  return out;
}

std::optional<VariantItem> variant_item_at(std::uint64_t paper, StudentId student,
                                           const std::vector<PaperItem>& items, int position,
                                           const OptionCount& options) {
  if (position < 0 || static_cast<std::size_t>(position) >= items.size()) return std::nullopt;
  const auto k = static_cast<std::size_t>(position);
  const auto less = [&](const Ranked& a, const Ranked& b) { return before(a, b, items); };
  std::size_t found = 0;
  if (items.size() <= kStackItems) {
    std::array<Ranked, kStackItems> buf;
    for (std::size_t i = 0; i < items.size(); ++i) buf[i] = ranked(paper, student, items, i);
    std::nth_element(buf.begin(), buf.begin() + position, buf.begin() + items.size(), less);
    found = buf[k].second;
  } else {
    std::vector<Ranked> buf;
    buf.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) buf.push_back(ranked(paper, student, items, i));
    std::nth_element(buf.begin(), buf.begin() + position, buf.end(), less);
    found = buf[k].second;
  }
  return make_item(paper, student, items[found], k, found, options);
}

}  // namespace papers

std::string to_original_answer(const VariantItem& item, std::string_view shown_answer_json) {
  if (item.option_order.empty()) return std::string(shown_answer_json);
  const std::string op = "to_original_answer";
  json::Value v;
  try {
    v = json::parse(shown_answer_json);
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument, op, "answer: not valid JSON: " + e.message());
  }
  const std::size_t n = item.option_order.size();
  const auto original = [&](const json::Value& letter) {
    const std::string range = "\"A\"..\"" + std::string(1, static_cast<char>('A' + n - 1)) + "\"";
    if (!letter.is_string()) {
      throw Error(ErrorCode::kInvalidArgument, op,
                  item.item.type == QuestionType::kSingle
                      ? "answer: must be one option letter " + range
                      : "answer: must be an array of option letters " + range);
    }
    const int shown = letter.text.size() == 1 ? letter.text[0] - 'A' : -1;
    if (shown < 0 || static_cast<std::size_t>(shown) >= n) {
      throw Error(ErrorCode::kInvalidArgument, op,
                  "answer: letter " + json::quote(letter.text) + " is out of range " + range);
    }
    return static_cast<char>('A' + item.option_order[static_cast<std::size_t>(shown)]);
  };
  if (item.item.type == QuestionType::kSingle) {
    return json::quote(std::string(1, original(v)));
  }
  if (!v.is_array()) original(json::Value{});  // throws: not an array of letters
  std::string letters;
  for (const auto& l : v.items) letters += original(l);
  std::sort(letters.begin(), letters.end());  // the key lists its letters in order
  std::string out = "[";
  for (std::size_t i = 0; i < letters.size(); ++i) {
    if (i != 0) out += ',';
    out += json::quote(std::string(1, letters[i]));
  }
  return out + "]";
}

}  // namespace examstore
