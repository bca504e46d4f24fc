// The command encoding of the Redis hot tier, shared by the standalone and the Cluster cache:
// every single-key Cache operation as one Redis command, and the conversion of the replies.

#include "cache/redis/redis_commands.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "cache/cache_util.hpp"
#include "cache/format.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::redis {

using std::chrono::milliseconds;

std::optional<std::string> RedisCommands::get(std::string_view key) {
  return opt_string(call({"GET", key}, "redis GET"));
}

void RedisCommands::set(std::string_view key, std::string_view value, milliseconds ttl) {
  check_ttl("redis SET", ttl, true);
  if (ttl.count() > 0) {
    const std::string ms = std::to_string(ttl.count());
    call({"SET", key, value, "PX", ms}, "redis SET");
  } else {
    call({"SET", key, value}, "redis SET");
  }
}

bool RedisCommands::set_if_absent(std::string_view key, std::string_view value, milliseconds ttl) {
  check_ttl("redis SET NX", ttl, true);
  ReplyPtr r;
  if (ttl.count() > 0) {
    const std::string ms = std::to_string(ttl.count());
    r = call({"SET", key, value, "NX", "PX", ms}, "redis SET NX");
  } else {
    r = call({"SET", key, value, "NX"}, "redis SET NX");
  }
  return r->type != REDIS_REPLY_NIL;
}

std::int64_t RedisCommands::del(const std::vector<std::string>& keys) {
  if (keys.empty()) return 0;
  Argv argv{"DEL"};
  for (const auto& k : keys) argv.emplace_back(k);
  return integer(call(argv, "redis DEL"), "redis DEL");
}

bool RedisCommands::expire(std::string_view key, milliseconds ttl) {
  check_ttl("redis PEXPIRE", ttl, false);
  const std::string ms = std::to_string(ttl.count());
  return integer(call({"PEXPIRE", key, ms}, "redis PEXPIRE"), "redis PEXPIRE") == 1;
}

std::optional<milliseconds> RedisCommands::ttl(std::string_view key) {
  const std::int64_t v = integer(call({"PTTL", key}, "redis PTTL"), "redis PTTL");
  if (v == -2) return std::nullopt;
  if (v == -1) return milliseconds::zero();
  return milliseconds(std::max<std::int64_t>(v, 1));
}

std::int64_t RedisCommands::incr_by(std::string_view key, std::int64_t delta) {
  const std::string d = std::to_string(delta);
  return integer(call({"INCRBY", key, d}, "redis INCRBY"), "redis INCRBY");
}

std::string RedisCommands::getrange(std::string_view key, std::int64_t start, std::int64_t end) {
  const std::string a = std::to_string(start), b = std::to_string(end);
  ReplyPtr r = call({"GETRANGE", key, a, b}, "redis GETRANGE");
  if (r->type != REDIS_REPLY_STRING) unexpected(*r, "a string", "redis GETRANGE");
  return str(*r);
}

std::int64_t RedisCommands::setrange(std::string_view key, std::int64_t offset,
                                     std::string_view value) {
  check_offset("redis SETRANGE", offset);
  const std::string off = std::to_string(offset);
  return integer(call({"SETRANGE", key, off, value}, "redis SETRANGE"), "redis SETRANGE");
}

std::int64_t RedisCommands::strlen(std::string_view key) {
  return integer(call({"STRLEN", key}, "redis STRLEN"), "redis STRLEN");
}

std::int64_t RedisCommands::hset(std::string_view key, const FieldValues& fields) {
  if (fields.empty()) throw Error(ErrorCode::kInvalidArgument, "redis HSET", "no fields given");
  Argv argv{"HSET", key};
  for (const auto& [f, v] : fields) {
    argv.emplace_back(f);
    argv.emplace_back(v);
  }
  return integer(call(argv, "redis HSET"), "redis HSET");
}

std::optional<std::string> RedisCommands::hget(std::string_view key, std::string_view field) {
  return opt_string(call({"HGET", key, field}, "redis HGET"));
}

FieldValues RedisCommands::hgetall(std::string_view key) {
  ReplyPtr r = call({"HGETALL", key}, "redis HGETALL");
  FieldValues out;
  out.reserve(r->elements / 2);
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    out.emplace_back(str(*r->element[i]), str(*r->element[i + 1]));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::int64_t RedisCommands::hdel(std::string_view key, const std::vector<std::string>& fields) {
  if (fields.empty()) return 0;
  Argv argv{"HDEL", key};
  for (const auto& f : fields) argv.emplace_back(f);
  return integer(call(argv, "redis HDEL"), "redis HDEL");
}

std::int64_t RedisCommands::hincr_by(std::string_view key, std::string_view field,
                                     std::int64_t delta) {
  const std::string d = std::to_string(delta);
  return integer(call({"HINCRBY", key, field, d}, "redis HINCRBY"), "redis HINCRBY");
}

std::int64_t RedisCommands::zadd(std::string_view key, const std::vector<ScoredMember>& members) {
  if (members.empty()) throw Error(ErrorCode::kInvalidArgument, "redis ZADD", "no members given");
  std::vector<std::string> scores;
  scores.reserve(members.size());
  for (const auto& m : members) {
    check_score("redis ZADD", m.score);
    scores.push_back(format_score(m.score));
  }
  Argv argv{"ZADD", key};
  for (size_t i = 0; i < members.size(); ++i) {
    argv.emplace_back(scores[i]);
    argv.emplace_back(members[i].member);
  }
  return integer(call(argv, "redis ZADD"), "redis ZADD");
}

std::int64_t RedisCommands::zrem(std::string_view key, const std::vector<std::string>& members) {
  if (members.empty()) return 0;
  Argv argv{"ZREM", key};
  for (const auto& m : members) argv.emplace_back(m);
  return integer(call(argv, "redis ZREM"), "redis ZREM");
}

std::vector<ScoredMember> RedisCommands::zrange(std::string_view key, std::int64_t start,
                                                std::int64_t stop) {
  const std::string a = std::to_string(start), b = std::to_string(stop);
  return scored(call({"ZRANGE", key, a, b, "WITHSCORES"}, "redis ZRANGE"), "redis ZRANGE");
}

std::vector<ScoredMember> RedisCommands::zrange_by_score(std::string_view key, double min,
                                                         double max, std::int64_t limit) {
  const std::string a = format_score(min), b = format_score(max);
  if (limit > 0) {
    const std::string n = std::to_string(limit);
    return scored(
        call({"ZRANGEBYSCORE", key, a, b, "WITHSCORES", "LIMIT", "0", n}, "redis ZRANGEBYSCORE"),
        "redis ZRANGEBYSCORE");
  }
  return scored(call({"ZRANGEBYSCORE", key, a, b, "WITHSCORES"}, "redis ZRANGEBYSCORE"),
                "redis ZRANGEBYSCORE");
}

std::optional<std::int64_t> RedisCommands::zrank(std::string_view key, std::string_view member) {
  ReplyPtr r = call({"ZRANK", key, member}, "redis ZRANK");
  if (r->type == REDIS_REPLY_NIL) return std::nullopt;
  return integer(std::move(r), "redis ZRANK");
}

std::optional<double> RedisCommands::zscore(std::string_view key, std::string_view member) {
  auto s = opt_string(call({"ZSCORE", key, member}, "redis ZSCORE"));
  if (!s) return std::nullopt;
  return score(*s, "redis ZSCORE");
}

std::int64_t RedisCommands::zcard(std::string_view key) {
  return integer(call({"ZCARD", key}, "redis ZCARD"), "redis ZCARD");
}

std::int64_t RedisCommands::zcount(std::string_view key, double min, double max) {
  const std::string a = format_score(min), b = format_score(max);
  return integer(call({"ZCOUNT", key, a, b}, "redis ZCOUNT"), "redis ZCOUNT");
}

std::string RedisCommands::str(const redisReply& r) const { return std::string(r.str, r.len); }

std::optional<std::string> RedisCommands::opt_string(ReplyPtr r) const {
  if (r->type == REDIS_REPLY_NIL) return std::nullopt;
  if (r->type != REDIS_REPLY_STRING) unexpected(*r, "a string");
  return str(*r);
}

std::int64_t RedisCommands::integer(ReplyPtr r, std::string_view operation) const {
  if (r->type != REDIS_REPLY_INTEGER) unexpected(*r, "an integer", operation);
  return static_cast<std::int64_t>(r->integer);
}

double RedisCommands::score(const std::string& s, std::string_view operation) const {
  auto v = parse_score(s);
  if (!v) {
    throw Error(ErrorCode::kInternal, std::string(operation), "unparseable score '" + s + "'",
                endpoint());
  }
  return *v;
}

std::vector<ScoredMember> RedisCommands::scored(ReplyPtr r, std::string_view operation) const {
  if (r->type != REDIS_REPLY_ARRAY) unexpected(*r, "an array", operation);
  std::vector<ScoredMember> out;
  out.reserve(r->elements / 2);
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    out.push_back({str(*r->element[i]), score(str(*r->element[i + 1]), operation)});
  }
  return out;
}

void RedisCommands::unexpected(const redisReply& r, std::string_view wanted,
                               std::string_view operation) const {
  throw Error(ErrorCode::kInternal, std::string(operation),
              "expected " + std::string(wanted) + ", got reply type " + std::to_string(r.type),
              endpoint());
}

Argv RedisCommands::to_argv(const Batch::Command& c) {
  using Op = Batch::Op;
  switch (c.op) {
    case Op::kSet:
      if (c.args[1] != "0") return {"SET", c.key, c.args[0], "PX", c.args[1]};
      return {"SET", c.key, c.args[0]};
    case Op::kGet:
      return {"GET", c.key};
    case Op::kDel:
      return {"DEL", c.key};
    case Op::kExpire:
      return {"PEXPIRE", c.key, c.args[0]};
    case Op::kIncrBy:
      return {"INCRBY", c.key, c.args[0]};
    case Op::kHSet:
      return {"HSET", c.key, c.args[0], c.args[1]};
    case Op::kHGet:
      return {"HGET", c.key, c.args[0]};
    case Op::kHDel:
      return {"HDEL", c.key, c.args[0]};
    case Op::kHIncrBy:
      return {"HINCRBY", c.key, c.args[0], c.args[1]};
    case Op::kZAdd:
      return {"ZADD", c.key, c.args[0], c.args[1]};
    case Op::kZRem:
      return {"ZREM", c.key, c.args[0]};
    case Op::kZScore:
      return {"ZSCORE", c.key, c.args[0]};
    case Op::kZCard:
      return {"ZCARD", c.key};
    case Op::kPublish:
      return {"PUBLISH", c.key, c.args[0]};
  }
  throw Error(ErrorCode::kInternal, "redis batch", "unknown command");
}

// Every reply of a batch, in order; the first error reply is thrown after all are converted.
std::vector<Reply> RedisCommands::convert_all(redisReply* const* raw, size_t n,
                                              std::string_view operation) const {
  std::vector<Reply> out;
  out.reserve(n);
  std::optional<Error> first_error;
  for (size_t i = 0; i < n; ++i) {
    try {
      out.push_back(to_reply(*raw[i], operation, endpoint()));
    } catch (const Error& e) {
      if (!first_error) first_error = e;
      out.push_back(Reply::nil());
    }
  }
  if (first_error) throw *first_error;
  return out;
}

std::vector<Argv> RedisCommands::multi_exec(const Batch& batch) {
  std::vector<Argv> commands;
  commands.reserve(batch.size() + 3);  // room for a WAIT after EXEC
  commands.push_back({"MULTI"});
  for (const auto& c : batch.commands()) commands.push_back(to_argv(c));
  commands.push_back({"EXEC"});
  return commands;
}

std::vector<Reply> RedisCommands::exec_replies(const std::vector<ReplyPtr>& raw, std::size_t first,
                                               std::string_view operation) const {
  const redisReply& exec = *raw.back();
  if (exec.type == REDIS_REPLY_ERROR) {
    // EXECABORT: a command was rejected while queueing; report that command's error.
    for (std::size_t i = first; i + 1 < raw.size(); ++i) {
      if (raw[i]->type == REDIS_REPLY_ERROR) throw_reply_error(*raw[i], operation, endpoint());
    }
    throw_reply_error(exec, "redis EXEC", endpoint());
  }
  if (exec.type != REDIS_REPLY_ARRAY) {
    throw Error(ErrorCode::kInternal, "redis EXEC", "transaction was not executed", endpoint());
  }
  return convert_all(exec.element, exec.elements, "redis EXEC");
}

bool idempotent_command(const Argv& argv) {
  if (argv.empty()) return false;
  std::string name(argv.front());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  if (name == "SET") {
    for (std::size_t i = 3; i < argv.size(); ++i) {
      if (argv[i] == "NX" || argv[i] == "nx" || argv[i] == "GET" || argv[i] == "get") return false;
    }
    return true;
  }
  if (name == "ZADD") {
    for (std::size_t i = 2; i < argv.size(); ++i) {
      if (argv[i] == "INCR" || argv[i] == "incr") return false;
    }
    return true;
  }
  if (name == "SCRIPT") return argv.size() > 1 && (argv[1] == "LOAD" || argv[1] == "load");
  static const char* const kIdempotent[] = {
      "GET",     "PTTL",   "TTL",  "GETRANGE", "STRLEN",   "EXISTS",        "HGET",
      "HGETALL", "HMGET",  "HLEN", "ZRANGE",   "ZRANK",    "ZRANGEBYSCORE", "ZSCORE",
      "ZCARD",   "ZCOUNT", "PING", "ROLE",     "INFO",     "PEXPIRE",       "DEL",
      "UNLINK",  "HSET",   "HDEL", "ZREM",     "SETRANGE", "MGET"};
  for (const char* c : kIdempotent) {
    if (name == c) return true;
  }
  return false;  // INCRBY, HINCRBY, SET NX, PUBLISH, EVALSHA (scripts say it themselves), ...
}

bool RedisCommands::idempotent(const Batch& batch) {
  for (const auto& c : batch.commands()) {
    if (!idempotent_command(to_argv(c))) return false;
  }
  return true;
}

void probe_health(Connection& conn, BackendHealth& h) {
  const auto t0 = std::chrono::steady_clock::now();
  conn.command({"PING"}, "redis PING");
  h.round_trip =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  ReplyPtr info = conn.command({"INFO", "server"}, "redis INFO");
  const std::string text(info->str, info->len);
  const auto pos = text.find("redis_version:");
  if (pos != std::string::npos) {
    const auto end = text.find_first_of("\r\n", pos);
    h.server_version = text.substr(pos + 14, end - pos - 14);
  }
}

}  // namespace examstore::redis
