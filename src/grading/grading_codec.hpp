// grading/grading_codec.hpp: the hot-tier encoding of cached grading records.
//
// Compact and exact: a version byte, then fixed-width little-endian integers, doubles as their
// 8 bytes (bit-exact round trip) and strings as a length and their bytes. Values are only ever
// read back by this code; a value that does not decode throws kDataIntegrity, and the
// repository then drops the key and reads the database.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "examstore/grading.hpp"

namespace examstore::grading {

std::string encode(const SchoolClass& c);
SchoolClass decode_class(std::string_view v);
std::string encode(const std::vector<StudentId>& ids);
std::vector<StudentId> decode_ids(std::string_view v);
std::string encode(const Assignment& a);
Assignment decode_assignment(std::string_view v);
std::string encode(const std::vector<GradingResult>& rows);
std::vector<GradingResult> decode_results(std::string_view v);
std::string encode(const GradingStatistics& s);
GradingStatistics decode_statistics(std::string_view v);

}  // namespace examstore::grading
