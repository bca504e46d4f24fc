// cache/redis/cluster_slot.hpp: the hash slot of a key, as Redis Cluster computes it.
//
// slot = CRC16-XMODEM(hash tag of the key) mod 16384, where the hash tag is the text between the
// first '{' and the next '}' when that is non-empty, else the whole key (examstore::hash_tag).
// Also the parsing of the redirections a node answers with, kept apart from the I/O so that it is
// tested without servers.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace examstore::redis {

/// Number of hash slots of a Redis Cluster.
inline constexpr int kSlotCount = 16384;

/// CRC16-CCITT in the XMODEM variant (polynomial 0x1021, initial value 0, no reflection), the
/// checksum of the Redis Cluster specification: crc16("123456789") == 0x31C3.
std::uint16_t crc16(std::string_view data) noexcept;

/// The hash slot (0..16383) of `key`, honouring hash tags.
int key_slot(std::string_view key) noexcept;

/// What an error reply of a cluster node asks the client to do.
struct Redirect {
  enum class Kind {
    kNone,      ///< a plain error (or not a well-formed redirection): report it
    kMoved,     ///< "MOVED <slot> <host:port>": the slot has a new owner
    kAsk,       ///< "ASK <slot> <host:port>": this key only, once, after ASKING
    kTryAgain,  ///< "TRYAGAIN ...", "CLUSTERDOWN ...": retry later
  };
  Kind kind = Kind::kNone;
  int slot = -1;     ///< kMoved and kAsk: 0..16383
  std::string node;  ///< kMoved and kAsk: "host:port"
};

/// Parses the text of an error reply.
Redirect parse_redirect(std::string_view error);

}  // namespace examstore::redis
