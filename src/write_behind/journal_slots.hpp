// write_behind/journal_slots.hpp: which journal a Store's write-behind queue opens, and what a
// journal belongs to.
//
// With WriteBehindOptions::journal_dir set, that directory (one process at a time). Without it, on
// PostgreSQL, a slot under a root (journal_root, else the platform default below):
//
//     <root>/<label>-<16 hex digits>/slot-<n>
//
// one folder per identity (the database and the key prefix: the hex digits hash the identity,
// the label is a readable part of it) holding one slot per process of that identity on this
// host. A queue takes the lowest-numbered slot no live process holds (a slot is locked with
// flock, which the kernel releases when the holder dies, however it dies) and replays what it
// holds; then it takes over every other free slot that still holds records (a crashed process's,
// when fewer processes run than before): their records are appended to its own journal first
// and only then marked committed in the old slot, so a crash in between replays them twice
// (harmless: every queued write is idempotent) and never loses them. A slot holding nothing at
// close is removed. Each journal directory keeps its identity in an IDENTITY file and a journal
// of another identity is refused (journal.hpp), so a hash collision or a copied folder cannot
// replay writes into the wrong database.
//
// Thread-safety: the functions are reentrant.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "examstore/config.hpp"
#include "write_behind/journal.hpp"

namespace examstore::wb {

/// What a journal belongs to.
struct JournalIdentity {
  /// Kept in the journal's IDENTITY file, e.g.
  /// "postgresql host=db port=5432 dbname=exams, key prefix es".
  /// Empty: not checked (a queue outside a Store).
  std::string text;
  /// A readable part of it that is safe in a file name, e.g. "exams@db-5432.es".
  std::string label;
};

/// The identity of the journal of a Store over `config`: the durable tier's host(s), port(s) and
/// database name as the connection string gives them (libpq's PGHOST, PGHOSTADDR, PGPORT,
/// PGDATABASE and PGUSER defaults filled in as libpq would; a service name as given), and the key
/// prefix. Never the user name or a password.
JournalIdentity journal_identity(const Config& config);

/// The default root of journal slots, "" when there is none: $STATE_DIRECTORY/examstore-journal
/// (the first folder of systemd's StateDirectory=), else $XDG_STATE_HOME/examstore/journal, else
/// $HOME/.local/state/examstore/journal (relative values are ignored). `env` reads a variable
/// (nullptr when unset).
std::string default_journal_root(const std::function<const char*(const char*)>& env);

/// The folder of `identity`'s slots under `root`.
std::string slot_family(const std::string& root, const JournalIdentity& identity);

/// Where the queue of a Store keeps its journal (WriteBehindQueue's constructor).
struct JournalPlacement {
  /// Checked against (or written to) the journal directory's IDENTITY file.
  JournalIdentity identity;
  /// With WriteBehindOptions::journal_dir empty: take a slot (else: no journal).
  bool slots = false;
};

/// A journal opened for a queue, with what it must replay.
struct OpenedJournal {
  std::unique_ptr<Journal> journal;  ///< nullptr: no journal
  /// Records to re-queue, oldest first: the journal's own, then those taken over from other
  /// slots (already appended to this journal, with its sequence numbers).
  std::vector<Journal::Record> records;
  /// Records among them taken over from other slots, and the slots they came from.
  std::size_t taken_over = 0;
  std::vector<std::string> taken_from;
};

/// Opens the journal `options` and `placement` call for. Throws what Journal::open throws
/// (a slot taken by a live process is skipped, not an error); Error(kResourceExhausted) when
/// every slot is held; Error(kUnavailable) when no root can be found or created, saying which
/// options choose another; Error(kDataIntegrity) when a record of a slot to take over cannot be
/// decoded (that slot is left as it was).
OpenedJournal open_journal(const WriteBehindOptions& options, const JournalPlacement& placement);

}  // namespace examstore::wb
