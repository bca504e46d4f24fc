// write_behind/journal.hpp: the write-behind queue's local append-only journal.
//
// A directory holds a lock file, an IDENTITY file and segment files. Only one Journal at a time
// may open a directory (flock on LOCK, held until the Journal is destroyed; per open file, so a
// second Journal in the same process is refused too). A directory removed by its holder while
// another process waited on the old LOCK is detected after flock (the LOCK path no longer names
// the locked file) and opened afresh.
//
// IDENTITY names what the records belong to (the database and key prefix, written by the
// Store): a directory whose IDENTITY differs from Options::identity is refused before anything
// is read, so a journal is never replayed into the wrong database. A directory without one (a
// new one, or one written before IDENTITY existed) is given Options::identity.
//
// Segment "wal-<number, 16 digits>.log": an 8-byte header "EXWBJ001", then records
//     [u32 length][u32 crc32][payload]           (little endian; crc32 = IEEE, of the payload)
//     payload = [u64 sequence number][data]      (data: the encoded op)
// Sequence numbers increase across segments. A record is appended with a single write(2) of its
// whole group, so a crash can only tear the tail of the segment being written: reading stops at
// the first short or corrupt record, and the segment is truncated there.
//
// Commit tracking is by segment: each segment counts its records not yet marked committed;
// a segment that is not the active one is deleted when that count reaches zero, and the active
// one is swapped for a fresh one once it is full or holds nothing uncommitted. open() returns
// every record of every surviving segment: records committed but not yet deleted with their
// segment are returned again, which is harmless because the sink is idempotent. A record not
// marked committed is never deleted.
//
// Thread-safety: append() may be called from any number of threads at once (group commit: the
// first waiting caller writes the records of all waiting callers with one write(2), and one
// fdatasync when `sync`); mark_committed() and the accessors are thread-safe too.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "examstore/error.hpp"

namespace examstore::wb {

/// CRC-32 (IEEE 802.3, as zlib's crc32()) of `data`.
std::uint32_t crc32(std::string_view data);

/// The entries of `dir` to which `number_of` gives a number, as (number, "dir/name"), in
/// ascending order; nullopt when `dir` cannot be listed (errno says why).
std::optional<std::vector<std::pair<std::uint64_t, std::string>>> numbered_entries(
    const std::string& dir,
    const std::function<std::optional<std::uint64_t>(const std::string&)>& number_of);

class Journal {
 public:
  struct Options {
    std::string dir;
    /// fdatasync after every group write (and fsync the directory when a segment is created).
    bool sync = false;
    /// A segment is closed once it holds this many bytes. Default 8 MiB.
    std::size_t segment_bytes = std::size_t{8} << 20;
    /// The active segment is also replaced once it holds this many bytes and none of its
    /// records is uncommitted, so an idle journal keeps little to replay. Default 64 KiB.
    std::size_t idle_segment_bytes = std::size_t{64} << 10;
    /// What the records belong to, kept in the IDENTITY file. Empty: not checked, not written.
    std::string identity;
    /// Remove the directory (and its parent, when that is left empty) when the Journal is
    /// destroyed holding nothing uncommitted: for directories the library chose itself.
    bool remove_when_empty = false;
  };

  struct Record {
    std::uint64_t seq = 0;
    std::string data;
  };

  /// Opens (creating it if needed) and locks the directory and reads every surviving record,
  /// oldest first, into `*replay`; truncates torn tails. Throws Error(kResourceExhausted) naming
  /// the directory when another Journal holds it, Error(kUnavailable) when it cannot be
  /// created, read or locked, Error(kDataIntegrity) when a segment is not a journal segment or
  /// the directory's IDENTITY is not options.identity (nothing is read or changed then).
  static std::unique_ptr<Journal> open(Options options, std::vector<Record>* replay);
  /// Closes the files and releases the lock; deletes the segments holding nothing uncommitted
  /// (and the directory with Options::remove_when_empty when no segment is left).
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Appends one record per element of `data`, consecutively, and returns the sequence number
  /// of the first (the others follow). Returns once they are written (and synced when `sync`).
  /// Throws Error(kUnavailable) when the write fails; the journal then refuses every later
  /// append with the same error (a partly written group must stay the tail).
  std::uint64_t append(const std::vector<std::string>& data);
  /// Marks records committed (each at most once); deletes segments that no longer hold an
  /// uncommitted record and are not active. Never throws: a segment that cannot be deleted is
  /// replayed again at the next open.
  void mark_committed(const std::vector<std::uint64_t>& seqs);

  /// Records written and not marked committed (replayed ones included).
  std::size_t uncommitted() const;
  /// Group writes done (each is one write(2)).
  std::int64_t group_writes() const;
  /// Segment files currently on disk.
  std::size_t segments() const;
  const std::string& dir() const { return options_.dir; }

 private:
  struct Segment {
    std::uint64_t number = 0;
    std::string path;
    std::uint64_t first_seq = 0;  // lowest sequence number it may hold
    std::size_t bytes = 0;
    std::size_t records = 0;
    std::size_t live = 0;  // records not marked committed
  };
  struct Writer {
    const std::vector<std::string>* data = nullptr;
    std::uint64_t first_seq = 0;
    std::optional<Error> error;
    bool done = false;
  };

  explicit Journal(Options options);
  void open_active_locked();
  void retire_locked(std::uint64_t first_seq);
  std::string segment_path(std::uint64_t number) const;

  Options options_;
  int lock_fd_ = -1;
  bool opened_ = false;  // open() succeeded: only then may the destructor remove the directory

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable writers_cv_;
  std::deque<Writer*> writers_;  // group commit queue; the front one writes for the group
  std::map<std::uint64_t, Segment> segments_;  // by first_seq
  std::uint64_t active_ = 0;  // first_seq of the active segment (a key of segments_)
  int active_fd_ = -1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_segment_ = 1;
  std::size_t uncommitted_ = 0;
  std::int64_t group_writes_ = 0;
  std::optional<Error> failed_;  // sticky: the first write error
};

}  // namespace examstore::wb
