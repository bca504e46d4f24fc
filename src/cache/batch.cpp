#include "cache/cache_util.hpp"
#include "cache/format.hpp"
#include "examstore/cache.hpp"

namespace examstore {

Batch& Batch::add(Op op, std::string_view key, std::vector<std::string> args) {
  commands_.push_back(Command{op, std::string(key), std::move(args)});
  return *this;
}

Batch& Batch::set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
  check_ttl("batch set", ttl, true);
  return add(Op::kSet, key, {std::string(value), std::to_string(ttl.count())});
}
Batch& Batch::get(std::string_view key) { return add(Op::kGet, key, {}); }
Batch& Batch::del(std::string_view key) { return add(Op::kDel, key, {}); }
Batch& Batch::expire(std::string_view key, std::chrono::milliseconds ttl) {
  check_ttl("batch expire", ttl, false);
  return add(Op::kExpire, key, {std::to_string(ttl.count())});
}
Batch& Batch::incr_by(std::string_view key, std::int64_t delta) {
  return add(Op::kIncrBy, key, {std::to_string(delta)});
}
Batch& Batch::hset(std::string_view key, std::string_view field, std::string_view value) {
  return add(Op::kHSet, key, {std::string(field), std::string(value)});
}
Batch& Batch::hget(std::string_view key, std::string_view field) {
  return add(Op::kHGet, key, {std::string(field)});
}
Batch& Batch::hdel(std::string_view key, std::string_view field) {
  return add(Op::kHDel, key, {std::string(field)});
}
Batch& Batch::hincr_by(std::string_view key, std::string_view field, std::int64_t delta) {
  return add(Op::kHIncrBy, key, {std::string(field), std::to_string(delta)});
}
Batch& Batch::zadd(std::string_view key, std::string_view member, double score) {
  check_score("batch zadd", score);
  return add(Op::kZAdd, key, {format_score(score), std::string(member)});
}
Batch& Batch::zrem(std::string_view key, std::string_view member) {
  return add(Op::kZRem, key, {std::string(member)});
}
Batch& Batch::zscore(std::string_view key, std::string_view member) {
  return add(Op::kZScore, key, {std::string(member)});
}
Batch& Batch::zcard(std::string_view key) { return add(Op::kZCard, key, {}); }
Batch& Batch::publish(std::string_view channel, std::string_view message) {
  return add(Op::kPublish, channel, {std::string(message)});
}

}  // namespace examstore
