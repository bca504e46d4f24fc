// repo/codec.hpp: how entities are encoded in the hot tier (JSON objects; times in
// microseconds since the epoch). A value that does not decode is treated as a miss by the
// callers' cache-aside path after being reported as kDataIntegrity here.
#pragma once

#include <string>
#include <string_view>

#include "db/store_checks.hpp"
#include "examstore/model.hpp"

namespace examstore::repo {

using db::check::from_micros;
using db::check::to_micros;

std::string encode(const Exam& e);
Exam decode_exam(std::string_view text);
std::string encode(const Student& s);
Student decode_student(std::string_view text);

}  // namespace examstore::repo
