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

}  // namespace examstore::redis
