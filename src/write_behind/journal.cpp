#include "write_behind/journal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <set>
#include <utility>

namespace examstore::wb {
namespace {

constexpr std::string_view kOpen = "write_behind journal open";
constexpr std::string_view kAppend = "write_behind journal append";
constexpr std::string_view kMagic = "EXWBJ001";
constexpr std::size_t kRecordHeader = 8;  // u32 length + u32 crc
constexpr std::size_t kSeqBytes = 8;
// A length above this is a torn or corrupt header, not a record (ops are a few hundred bytes).
constexpr std::uint32_t kMaxPayload = 64u << 20;
// One group write carries at most this much (the first writer's records always go).
constexpr std::size_t kMaxGroupBytes = std::size_t{4} << 20;

std::string errno_text(int err) { return std::strerror(err); }

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void append_record(std::string& out, std::uint64_t seq, std::string_view data) {
  std::string payload;
  payload.reserve(kSeqBytes + data.size());
  put_u64(payload, seq);
  payload.append(data);
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u32(out, crc32(payload));
  out += payload;
}

// Writes all of `data`; errno on failure, 0 on success.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

int sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

bool read_file(const std::string& path, std::string* out, int* err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  out->clear();
  std::array<char, 1 << 16> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}

// "wal-0000000000000042.log" → 42.
std::optional<std::uint64_t> segment_number(const std::string& name) {
  constexpr std::size_t kDigits = 16;
  if (name.size() != 4 + kDigits + 4 || name.compare(0, 4, "wal-") != 0 ||
      name.compare(4 + kDigits, 4, ".log") != 0) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (std::size_t i = 4; i < 4 + kDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return n;
}

Error in_use(const std::string& dir, const std::string& lock_path) {
  return Error(
      ErrorCode::kResourceExhausted, std::string(kOpen),
      "journal directory " + dir + " is in use by another queue (" + lock_path + " is locked)");
}

// Creates `dir` if needed and returns the fd of its LOCK, locked. A holder that removes an empty
// directory (Options::remove_when_empty) unlinks LOCK before it lets go: a process that opened
// the old LOCK and locked it afterwards holds a lock on nothing, sees that the path names
// another file (or none), and starts again.
int lock_directory(const std::string& dir) {
  constexpr int kAttempts = 100;
  const std::string lock_path = dir + "/LOCK";
  for (int attempt = 1;; ++attempt) {
    const bool last = attempt == kAttempts;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      // A parent removed between its creation and the child's: start again.
      if (ec == std::errc::no_such_file_or_directory && !last) continue;
      throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                  "cannot create journal directory " + dir + ": " + ec.message());
    }
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int err = errno;
      if (err == ENOENT && !last) continue;  // the directory was just removed by its holder
      throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                  "cannot open " + lock_path + ": " + errno_text(err));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        throw in_use(dir, lock_path);
      }
      throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                  "cannot lock " + lock_path + ": " + errno_text(err));
    }
    struct stat held {};
    struct stat named {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      return fd;
    }
    ::close(fd);
    if (last) {
      throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                  "journal directory " + dir + " kept being removed while it was being locked");
    }
  }
}

// Checks (or, in a directory without one, writes) the IDENTITY file, under the lock and before
// any segment is read, so records are never handed to a store they do not belong to.
void check_identity(const std::string& dir, const std::string& identity) {
  if (identity.empty()) return;
  const std::string path = dir + "/IDENTITY";
  const std::string expected = identity + "\n";
  std::string found;
  int err = 0;
  if (read_file(path, &found, &err)) {
    if (found == expected) return;
    std::string theirs = found;
    while (!theirs.empty() && theirs.back() == '\n') theirs.pop_back();
    throw Error(ErrorCode::kDataIntegrity, std::string(kOpen),
                "journal directory " + dir + " holds the journal of " +
                    (theirs.empty() ? std::string("an unknown store (empty IDENTITY)") : theirs) +
                    ", not of " + identity +
                    ": its records are not replayed here (drain it with the configuration that "
                    "wrote it, or give this store another journal directory)");
  }
  if (err != ENOENT) {
    throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                "cannot read " + path + ": " + errno_text(err));
  }
  // Written to a temporary file, synced and renamed: a crash leaves no IDENTITY or a whole one,
  // never an empty one that would make the directory refuse its own records.
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  err = fd < 0 ? errno : write_all(fd, expected);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (fd >= 0) ::close(fd);
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err == 0) err = sync_dir(dir);
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                "cannot write " + path + ": " + errno_text(err));
  }
}

}  // namespace

std::uint32_t crc32(std::string_view data) {
  static const std::array<std::uint32_t, 256> kTable = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = kTable[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::optional<std::vector<std::pair<std::uint64_t, std::string>>> numbered_entries(
    const std::string& dir,
    const std::function<std::optional<std::uint64_t>(const std::string&)>& number_of) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  std::vector<std::pair<std::uint64_t, std::string>> out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (auto n = number_of(name)) {
      std::string path = dir;
      path += '/';
      path += name;
      out.emplace_back(*n, std::move(path));
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Journal::Journal(Options options) : options_(std::move(options)) {}

std::string Journal::segment_path(std::uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "wal-%016llu.log", static_cast<unsigned long long>(number));
  return options_.dir + "/" + name;
}

std::unique_ptr<Journal> Journal::open(Options options, std::vector<Record>* replay) {
  const std::string dir = options.dir;
  std::unique_ptr<Journal> j(new Journal(std::move(options)));
  j->lock_fd_ = lock_directory(dir);
  check_identity(dir, j->options_.identity);

  auto listed = numbered_entries(dir, segment_number);
  if (!listed) {
    throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                "cannot list " + dir + ": " + errno_text(errno));
  }
  const std::vector<std::pair<std::uint64_t, std::string>> files = std::move(*listed);

  std::vector<Record> records;
  std::uint64_t last_seq = 0;
  std::string content;
  for (const auto& [number, path] : files) {
    j->next_segment_ = std::max(j->next_segment_, number + 1);
    int err = 0;
    if (!read_file(path, &content, &err)) {
      throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                  "cannot read " + path + ": " + errno_text(err));
    }
    if (content.size() < kMagic.size()) {
      // Created but its header never (fully) written: it holds nothing.
      if (kMagic.substr(0, content.size()) == content) {
        ::unlink(path.c_str());
        continue;
      }
    }
    if (content.compare(0, kMagic.size(), kMagic) != 0) {
      throw Error(ErrorCode::kDataIntegrity, std::string(kOpen),
                  path + " is not a write-behind journal segment (bad header)");
    }
    Segment seg;
    seg.number = number;
    seg.path = path;
    std::size_t pos = kMagic.size();
    for (;;) {
      const std::size_t left = content.size() - pos;
      if (left < kRecordHeader) break;
      const std::uint32_t len = get_u32(content.data() + pos);
      const std::uint32_t crc = get_u32(content.data() + pos + 4);
      if (len < kSeqBytes || len > kMaxPayload || left - kRecordHeader < len) break;
      const std::string_view payload(content.data() + pos + kRecordHeader, len);
      if (crc32(payload) != crc) break;
      const std::uint64_t seq = get_u64(payload.data());
      if (seq <= last_seq) break;  // sequence numbers only grow: anything else is garbage
      if (seg.records == 0) seg.first_seq = seq;
      last_seq = seq;
      records.push_back(Record{seq, std::string(payload.substr(kSeqBytes))});
      ++seg.records;
      pos += kRecordHeader + len;
    }
    if (pos < content.size()) {
      // A torn tail (a crash in the middle of a group write): drop it, keep what precedes it.
      if (::truncate(path.c_str(), static_cast<off_t>(pos)) != 0) {
        throw Error(ErrorCode::kUnavailable, std::string(kOpen),
                    "cannot truncate the torn tail of " + path + ": " + errno_text(errno));
      }
    }
    if (seg.records == 0) {
      ::unlink(path.c_str());
      continue;
    }
    seg.bytes = pos;
    seg.live = seg.records;
    j->uncommitted_ += seg.live;
    j->segments_.emplace(seg.first_seq, std::move(seg));
  }
  j->next_seq_ = last_seq + 1;

  std::lock_guard<std::mutex> lock(j->mu_);
  j->open_active_locked();
  if (j->failed_) throw *j->failed_;
  if (replay != nullptr) *replay = std::move(records);
  j->opened_ = true;
  return j;
}

void Journal::open_active_locked() {
  const std::uint64_t number = next_segment_++;
  const std::string path = segment_path(number);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : 0;
  if (err == 0) err = write_all(fd, kMagic);
  if (err == 0 && options_.sync) {
    if (::fdatasync(fd) != 0) err = errno;
    if (err == 0) err = sync_dir(options_.dir);
  }
  if (err != 0) {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(path.c_str());
    }
    failed_ = Error(ErrorCode::kUnavailable, std::string(kAppend),
                    "cannot create journal segment " + path + ": " + errno_text(err));
    active_fd_ = -1;
    return;
  }
  Segment seg;
  seg.number = number;
  seg.path = path;
  seg.first_seq = next_seq_;
  seg.bytes = kMagic.size();
  active_ = seg.first_seq;
  active_fd_ = fd;
  segments_[active_] = std::move(seg);
}

void Journal::retire_locked(std::uint64_t first_seq) {
  auto it = segments_.find(first_seq);
  if (it == segments_.end() || first_seq == active_ || it->second.live != 0) return;
  ::unlink(it->second.path.c_str());
  segments_.erase(it);
}

std::uint64_t Journal::append(const std::vector<std::string>& data) {
  Writer self;
  self.data = &data;
  std::unique_lock<std::mutex> lock(mu_);
  writers_.push_back(&self);
  writers_cv_.wait(lock, [&] { return self.done || writers_.front() == &self; });
  if (self.done) {
    if (self.error) throw *self.error;
    return self.first_seq;
  }

  // This caller leads: it writes the records of every writer waiting behind it.
  std::size_t group = 0;
  std::size_t group_bytes = 0;
  for (const Writer* w : writers_) {
    std::size_t bytes = 0;
    for (const std::string& s : *w->data) bytes += kRecordHeader + kSeqBytes + s.size();
    if (group > 0 && group_bytes + bytes > kMaxGroupBytes) break;
    group_bytes += bytes;
    ++group;
  }

  if (!failed_) {
    const Segment& act = segments_.at(active_);
    const bool full = act.bytes >= options_.segment_bytes;
    const bool idle = act.live == 0 && act.bytes >= options_.idle_segment_bytes;
    if (act.records > 0 && (full || idle)) {
      const std::uint64_t old = active_;
      ::close(active_fd_);
      active_fd_ = -1;
      open_active_locked();
      retire_locked(old);
    }
  }

  std::size_t count = 0;
  std::string buf;
  int fd = active_fd_;
  std::string path;
  if (!failed_) {
    buf.reserve(group_bytes);
    for (std::size_t i = 0; i < group; ++i) {
      Writer* w = writers_[i];
      w->first_seq = next_seq_;
      for (const std::string& s : *w->data) append_record(buf, next_seq_++, s);
      count += w->data->size();
    }
    path = segments_.at(active_).path;
    lock.unlock();
    int err = write_all(fd, buf);
    if (err == 0 && options_.sync && ::fdatasync(fd) != 0) err = errno;
    lock.lock();
    if (err != 0) {
      failed_ = Error(ErrorCode::kUnavailable, std::string(kAppend),
                      "cannot write journal segment " + path + ": " + errno_text(err));
    } else {
      Segment& act = segments_.at(active_);
      act.bytes += buf.size();
      act.records += count;
      act.live += count;
      uncommitted_ += count;
      ++group_writes_;
    }
  }
  for (std::size_t i = 0; i < group; ++i) {
    Writer* w = writers_.front();
    writers_.pop_front();
    if (failed_) w->error = failed_;
    w->done = true;
  }
  writers_cv_.notify_all();
  if (self.error) throw *self.error;
  return self.first_seq;
}

void Journal::mark_committed(const std::vector<std::uint64_t>& seqs) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::uint64_t> touched;
  for (std::uint64_t seq : seqs) {
    auto it = segments_.upper_bound(seq);
    if (it == segments_.begin()) continue;
    --it;
    Segment& seg = it->second;
    if (seg.live == 0) continue;
    --seg.live;
    --uncommitted_;
    if (seg.live == 0) touched.insert(it->first);
  }
  for (std::uint64_t first : touched) retire_locked(first);
}

std::size_t Journal::uncommitted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return uncommitted_;
}

std::int64_t Journal::group_writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return group_writes_;
}

std::size_t Journal::segments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_.size();
}

Journal::~Journal() {
  std::lock_guard<std::mutex> lock(mu_);
  if (active_fd_ >= 0) ::close(active_fd_);
  bool deleted = false;
  bool all_gone = true;
  for (const auto& [first, seg] : segments_) {
    const bool gone = seg.live == 0 && ::unlink(seg.path.c_str()) == 0;
    deleted = deleted || gone;
    all_gone = all_gone && gone;
  }
  // When every segment is gone the next open starts numbering again from 1: with `sync` the
  // deletions are made durable first, so that a power loss cannot bring back an old segment
  // next to new ones with the same sequence numbers.
  if (deleted && options_.sync) sync_dir(options_.dir);
  if (opened_ && all_gone && options_.remove_when_empty) {
    // LOCK goes last, while still locked: see lock_directory().
    ::unlink((options_.dir + "/IDENTITY").c_str());
    ::unlink((options_.dir + "/LOCK").c_str());
    if (::rmdir(options_.dir.c_str()) == 0) {
      ::rmdir(std::filesystem::path(options_.dir).parent_path().c_str());
    }
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace examstore::wb
