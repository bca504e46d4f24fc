// paper_store: a teacher builds and reorders an exam paper; students read it at the same minute.
//
// The teacher adds questions to tsinghua/cs/se/db101, moves one, replaces one, and tries a bad
// edit (refused as a whole, paper unchanged). Then four "student" threads read question i, the
// count and the whole paper for a second, served by the near cache, while the teacher makes one
// last move that every reader sees within the near cache's bound. Finally a second paper is
// assembled from the bank by rules, and one student's variant of it is shown (its own question
// and option order), with the student's answer mapped back to the answer key's letters.
//
// Runs on the embedded in-memory backends; set EXAMSTORE_REDIS_URL / EXAMSTORE_DATABASE_URL to
// run the same code on Redis and PostgreSQL (the schema is migrated on open).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

#include "examstore/examstore.hpp"

namespace {

using examstore::PaperItem;
using examstore::PaperKey;
using examstore::PaperOp;
using examstore::QuestionType;
using Kind = PaperOp::Kind;

examstore::QuestionId add_question(examstore::Store& store, QuestionType type,
                                   const std::string& stem) {
  examstore::QuestionDraft d;
  d.type = type;
  d.stem = stem;
  d.subject = "databases";
  d.knowledge_points = {"databases/indexing"};
  if (type == QuestionType::kSingle) {
    d.options = {"B-tree", "hash", "bitmap"};
    d.answer = "\"A\"";
  } else if (type == QuestionType::kTrueFalse) {
    d.answer = "true";
  } else {
    d.answer = "\"see the marking scheme\"";
  }
  return store.questions().create(d).id;
}

void print(const char* title, const std::vector<PaperItem>& items) {
  std::cout << title << ":";
  for (const auto& i : items) {
    std::cout << " " << i.question_id << "(" << examstore::to_string(i.type) << ")";
  }
  std::cout << "\n";
}

}  // namespace

int main() {
  try {
    examstore::Config config = examstore::Config::from_env();
    config.migrate_on_open = config.database_backend == examstore::BackendKind::kPostgres;
    auto store = examstore::Store::open(config);
    auto& papers = store->papers();
    const PaperKey paper = PaperKey::parse("tsinghua/cs/se/db101");

    // The teacher writes the questions and builds the paper in one unit.
    std::vector<examstore::QuestionId> q;
    for (int i = 0; i < 3; ++i) {
      q.push_back(
          add_question(*store, QuestionType::kTrueFalse, "true or false #" + std::to_string(i)));
    }
    for (int i = 0; i < 3; ++i) {
      q.push_back(add_question(*store, QuestionType::kSingle, "which index #" + std::to_string(i)));
    }
    const auto essay = add_question(*store, QuestionType::kEssay, "design an index for ...");
    std::vector<PaperOp> build;
    for (auto id : q) build.push_back({Kind::kAppend, 0, 0, id});
    print("built", papers.apply(paper, build));

    // Reorder: the last single-choice question goes first; the essay replaces question 2.
    print("reordered",
          papers.apply(paper, {{Kind::kMove, 5, 0, 0}, {Kind::kReplace, 2, 0, essay}}));

    // A bad edit is refused as a whole: the first op would have applied, the second cannot.
    try {
      papers.apply(paper, {{Kind::kRemove, 0, 0, 0}, {Kind::kAppend, 0, 0, q[0]}});
    } catch (const examstore::Error& e) {
      std::cout << "refused: " << e.message() << "\n";
    }
    print("unchanged", papers.items(paper));

    // Students read while the teacher makes one last move.
    papers.warm_up({paper});
    std::atomic<bool> stop{false};
    std::atomic<long> reads{0};
    std::vector<std::thread> students;
    for (int s = 0; s < 4; ++s) {
      students.emplace_back([&, s]() {
        long n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          const auto count = papers.count(paper);
          const auto item = papers.at(paper, static_cast<int>((n + s) % count));
          if (item) ++n;
        }
        reads += n;
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    papers.apply(paper, {{Kind::kMove, 0, 5, 0}});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop = true;
    for (auto& t : students) t.join();
    std::cout << "students read " << reads.load() << " questions in 1 s (4 threads)\n";
    print("final", papers.items(paper));
    const auto by_type = papers.count_by_type(paper);
    for (const auto& [type, n] : by_type)
      std::cout << "  " << examstore::to_string(type) << ": " << n << "\n";

    // Assembly: 3 single-choice and 2 true/false questions of the subject, seeded.
    examstore::AssemblyRules rules;
    rules.subject = "databases";
    rules.count_by_type = {{QuestionType::kSingle, 3}, {QuestionType::kTrueFalse, 2}};
    rules.cover_knowledge_points = {"databases/indexing"};
    rules.seed = 2026;
    const auto drawn = papers.assemble(PaperKey::parse("tsinghua/cs/se/db102"), rules);
    std::cout << "assembled paper #" << drawn.paper_id << ", mean difficulty "
              << drawn.mean_difficulty << ", total score " << drawn.total_score << "\n";
    print("assembled", drawn.items);

    // Student 42's variant: computed on read, the same every time, different per student.
    const auto variant = papers.variant(drawn.key, 42);
    for (const auto& v : variant.items) {
      std::cout << "  shown #" << v.position << ": question " << v.item.question_id << " (paper #"
                << v.paper_position << ")";
      if (!v.option_order.empty()) {
        std::cout << ", options shown as";
        for (const int o : v.option_order) std::cout << " " << static_cast<char>('A' + o);
        // The key is "A" (B-tree); the student clicks where B-tree is shown.
        const auto shown = std::find(v.option_order.begin(), v.option_order.end(), 0);
        const std::string answer =
            std::string("\"") + static_cast<char>('A' + (shown - v.option_order.begin())) + "\"";
        std::cout << "; answer " << answer << " means " << examstore::to_original_answer(v, answer);
      }
      std::cout << "\n";
    }
    return 0;
  } catch (const examstore::Error& e) {
    std::cerr << "paper_store: " << e.what() << "\n";
    return 1;
  }
}
