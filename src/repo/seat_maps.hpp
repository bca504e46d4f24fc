// repo/seat_maps.hpp: which seat each enrolled student has in each exam, kept in process.
//
// Seats index the packed presence arrays. Enrollment is rare and seats never change, so each
// process keeps an exam's map after loading it once from the database. A student missing from
// the map triggers a reload (another process may have enrolled them), at most once a second per
// exam, so a flood of heartbeats from a student who is not enrolled cannot turn into a flood of
// database reads. Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "db/stores.hpp"

namespace examstore::repo {

class SeatMaps {
 public:
  explicit SeatMaps(db::StudentStore& store) : store_(store) {}

  /// The student's seat; kNotFound naming both ids when the student is not enrolled.
  int seat_of(ExamId exam, StudentId student);
  /// Seats of many students (same order); kNotFound for the first one not enrolled.
  std::vector<int> seats_of(ExamId exam, const std::vector<StudentId>& students);
  /// The student at a seat, or 0. A seat this process does not know forces one reload.
  StudentId student_at(ExamId exam, int seat);
  /// The students at many seats (same order; 0 where none), with at most one reload.
  std::vector<StudentId> students_at(ExamId exam, const std::vector<int>& seats);
  /// Number of seats (enrolled students) known.
  std::size_t size(ExamId exam);
  /// Records an enrollment this process made.
  void add(ExamId exam, StudentId student, int seat);

 private:
  struct Map {
    std::shared_mutex mu;  // guards the members below
    std::vector<StudentId> by_seat;
    std::unordered_map<StudentId, int> seat;
    std::chrono::steady_clock::time_point loaded{};
    bool ever_loaded = false;
  };
  Map& map(ExamId exam);
  /// Reloads from the database unless it did within the last second. Call without holding map.mu.
  void reload(ExamId exam, Map& m, bool force);
  std::optional<int> find(Map& m, StudentId student);

  db::StudentStore& store_;
  std::mutex mu_;  // guards maps_
  std::map<ExamId, std::unique_ptr<Map>> maps_;
};

/// Hands out ids from blocks reserved in a database sequence; one reservation per block.
class IdAllocator {
 public:
  explicit IdAllocator(std::function<db::IdBlock()> reserve) : reserve_(std::move(reserve)) {}
  std::int64_t next() {
    std::lock_guard<std::mutex> l(mu_);
    if (next_ >= end_) {
      const db::IdBlock b = reserve_();
      next_ = b.first;
      end_ = b.first + b.count;
    }
    return next_++;
  }

 private:
  std::function<db::IdBlock()> reserve_;
  std::mutex mu_;  // guards next_ and end_
  std::int64_t next_ = 0;
  std::int64_t end_ = 0;
};

}  // namespace examstore::repo
