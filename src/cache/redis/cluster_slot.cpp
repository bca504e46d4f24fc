#include "cache/redis/cluster_slot.hpp"

#include <array>

#include "examstore/cache.hpp"

namespace examstore::redis {
namespace {

constexpr std::array<std::uint16_t, 256> make_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned crc = i << 8u;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000u) != 0 ? (crc << 1u) ^ 0x1021u : crc << 1u;
    }
    t[i] = static_cast<std::uint16_t>(crc & 0xffffu);
  }
  return t;
}

constexpr std::array<std::uint16_t, 256> kTable = make_table();

}  // namespace

std::uint16_t crc16(std::string_view data) noexcept {
  unsigned crc = 0;
  for (const char c : data) {
    const unsigned byte = static_cast<unsigned char>(c);
    crc = ((crc << 8u) ^ kTable[((crc >> 8u) ^ byte) & 0xffu]) & 0xffffu;
  }
  return static_cast<std::uint16_t>(crc);
}

int key_slot(std::string_view key) noexcept {
  return static_cast<int>(crc16(hash_tag(key)) % static_cast<unsigned>(kSlotCount));
}

Redirect parse_redirect(std::string_view error) {
  Redirect out;
  auto starts = [&](std::string_view p) { return error.substr(0, p.size()) == p; };
  if (starts("TRYAGAIN") || starts("CLUSTERDOWN")) {
    out.kind = Redirect::Kind::kTryAgain;
    return out;
  }
  const bool moved = starts("MOVED ");
  if (!moved && !starts("ASK ")) return out;
  // "MOVED 3999 127.0.0.1:6381"
  const auto a = error.find(' '), b = error.find(' ', a + 1);
  if (b == std::string_view::npos || b == a + 1 || b + 1 >= error.size()) return out;
  int slot = 0;
  for (const char c : error.substr(a + 1, b - a - 1)) {
    if (c < '0' || c > '9' || slot >= kSlotCount) return out;
    slot = slot * 10 + (c - '0');
  }
  if (slot >= kSlotCount) return out;
  out.slot = slot;
  out.node = std::string(error.substr(b + 1));
  out.kind = moved ? Redirect::Kind::kMoved : Redirect::Kind::kAsk;
  return out;
}

}  // namespace examstore::redis
