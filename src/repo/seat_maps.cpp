#include "repo/seat_maps.hpp"

#include "examstore/error.hpp"

namespace examstore::repo {

SeatMaps::Map& SeatMaps::map(ExamId exam) {
  std::lock_guard<std::mutex> l(mu_);
  auto& m = maps_[exam];
  if (!m) m = std::make_unique<Map>();
  return *m;
}

void SeatMaps::reload(ExamId exam, Map& m, bool force) {
  {
    std::shared_lock<std::shared_mutex> l(m.mu);
    if (!force && m.ever_loaded &&
        std::chrono::steady_clock::now() - m.loaded < std::chrono::seconds(1)) {
      return;
    }
  }
  const auto seats = store_.seats(exam);  // outside the lock: a database round trip
  std::unique_lock<std::shared_mutex> l(m.mu);
  for (const auto& [seat, student] : seats) {
    if (static_cast<std::size_t>(seat) >= m.by_seat.size()) m.by_seat.resize(seat + 1, 0);
    m.by_seat[static_cast<std::size_t>(seat)] = student;
    m.seat[student] = seat;
  }
  m.loaded = std::chrono::steady_clock::now();
  m.ever_loaded = true;
}

std::optional<int> SeatMaps::find(Map& m, StudentId student) {
  std::shared_lock<std::shared_mutex> l(m.mu);
  auto it = m.seat.find(student);
  if (it == m.seat.end()) return std::nullopt;
  return it->second;
}

int SeatMaps::seat_of(ExamId exam, StudentId student) { return seats_of(exam, {student}).front(); }

std::vector<int> SeatMaps::seats_of(ExamId exam, const std::vector<StudentId>& students) {
  Map& m = map(exam);
  std::vector<int> out;
  out.reserve(students.size());
  bool reloaded = false;
  for (const StudentId s : students) {
    auto seat = find(m, s);
    if (!seat && !reloaded) {
      reload(exam, m, !m.ever_loaded);
      reloaded = true;
      seat = find(m, s);
    }
    if (!seat) {
      throw Error(
          ErrorCode::kNotFound, "presence",
          "student " + std::to_string(s) + " is not enrolled in exam " + std::to_string(exam));
    }
    out.push_back(*seat);
  }
  return out;
}

StudentId SeatMaps::student_at(ExamId exam, int seat) { return students_at(exam, {seat}).front(); }

std::vector<StudentId> SeatMaps::students_at(ExamId exam, const std::vector<int>& seats) {
  Map& m = map(exam);
  auto lookup = [&](std::vector<StudentId>& out) {
    std::shared_lock<std::shared_mutex> l(m.mu);
    bool all = true;
    out.clear();
    for (const int seat : seats) {
      const auto i = static_cast<std::size_t>(seat);
      out.push_back(i < m.by_seat.size() ? m.by_seat[i] : 0);
      all = all && out.back() != 0;
    }
    return all;
  };
  std::vector<StudentId> out;
  // A seat taken in the hot tier was enrolled for sure (maybe by another process): unknown ones
  // force one reload, without the rate limit that protects against unenrolled students.
  if (!lookup(out)) {
    reload(exam, m, true);
    lookup(out);
  }
  return out;
}

std::size_t SeatMaps::size(ExamId exam) {
  Map& m = map(exam);
  {
    std::shared_lock<std::shared_mutex> l(m.mu);
    if (m.ever_loaded) return m.seat.size();
  }
  reload(exam, m, true);
  std::shared_lock<std::shared_mutex> l(m.mu);
  return m.seat.size();
}

void SeatMaps::add(ExamId exam, StudentId student, int seat) {
  Map& m = map(exam);
  std::unique_lock<std::shared_mutex> l(m.mu);
  if (static_cast<std::size_t>(seat) >= m.by_seat.size()) m.by_seat.resize(seat + 1, 0);
  m.by_seat[static_cast<std::size_t>(seat)] = student;
  m.seat[student] = seat;
}

}  // namespace examstore::repo
