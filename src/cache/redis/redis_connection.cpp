#include "cache/redis/redis_connection.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>

#include "cache/redis/redis_tls.hpp"
#include "examstore/error.hpp"
#include "obs/telemetry.hpp"

namespace examstore::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Connection::Connection(const RedisOptions& o, std::string endpoint)
    : endpoint_(endpoint.empty() ? o.redacted() : std::move(endpoint)), tls_(o.tls.enabled) {
  const std::shared_ptr<TlsContext> tls = tls_ ? tls_context(o.tls) : nullptr;
  ctx_ = redisConnectWithTimeout(o.host.c_str(), o.port, to_timeval(o.connect_timeout));
  if (ctx_ == nullptr) {
    throw Error(ErrorCode::kResourceExhausted, "redis connect", "out of memory", endpoint_);
  }
  if (ctx_->err != 0) {
    const std::string why = ctx_->errstr;
    const bool timed_out = why.find("timed out") != std::string::npos;
    redisFree(ctx_);
    ctx_ = nullptr;
    throw Error(timed_out ? ErrorCode::kTimeout : ErrorCode::kUnavailable, "redis connect", why,
                endpoint_);
  }
  bool secured = false;  // the TLS handshake succeeded
  try {
    if (tls) {
      set_timeout(o.connect_timeout);  // bounds the handshake
      start_tls(ctx_, *tls, o.tls, o.host, endpoint_);
      secured = true;
    }
    set_timeout(o.command_timeout);
    if (!o.password.empty()) {
      if (o.user.empty()) {
        command({"AUTH", o.password}, "redis AUTH");
      } else {
        command({"AUTH", o.user, o.password}, "redis AUTH");
      }
    }
    if (o.db != 0) {
      const std::string db = std::to_string(o.db);
      command({"SELECT", db}, "redis SELECT");
    }
    // A TLS 1.3 server sends session tickets after the handshake, and refuses a missing client
    // certificate only then: one round trip now reads both, so that a refusal fails the connect
    // and looks_alive() and the subscriber's poll() never meet unread bytes.
    if (tls_ && o.password.empty() && o.db == 0) command({"PING"}, "redis PING");
  } catch (const Error& e) {
    const bool dropped = secured && ctx_->err != 0 && e.code() == ErrorCode::kUnavailable;
    redisFree(ctx_);
    ctx_ = nullptr;
    if (!dropped) throw;
    // the server has the alert's reason; the reset that often follows it hides it from us
    throw Error(e.code(), e.operation(),
                e.message() +
                    " (the server ended the TLS session after the handshake: does it require a "
                    "client certificate? see redis.tls.cert_file)",
                endpoint_, e.outcome_unknown());
  } catch (...) {
    redisFree(ctx_);
    ctx_ = nullptr;
    throw;
  }
}

Connection::~Connection() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

void Connection::set_timeout(std::chrono::milliseconds timeout) {
  if (redisSetTimeout(ctx_, to_timeval(timeout)) != REDIS_OK) {
    throw Error(ErrorCode::kUnavailable, "redis connect", ctx_->errstr, endpoint_);
  }
}

bool Connection::looks_alive() const {
  if (broken_ || ctx_ == nullptr) return false;
  char byte = 0;
  const ssize_t n = ::recv(ctx_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;                                          // the server closed it
  if (n > 0) return false;                                           // unexpected data: resync
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;  // nothing to read: alive
}

void Connection::fail_io(std::string_view operation, bool sent) {
  broken_ = true;
  if (counters_) counters_->add(counters_->errors);
  const int err = ctx_->err;
  const int saved_errno = errno;
  std::string why = ctx_->errstr[0] != '\0' ? ctx_->errstr : "I/O error";
  const bool timed_out =
      err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK);
  if (timed_out) why = "no reply within the command timeout";
  if (err == REDIS_ERR_EOF) why = "the server closed the connection";
  if (tls_) {
    // hiredis reports a TLS alert as an I/O error without its reason
    const std::string reason = take_tls_error();
    if (!reason.empty()) why = "TLS: " + reason;
  }
  failure_ = std::string(operation) + ": " + why;
  throw Error(timed_out ? ErrorCode::kTimeout : ErrorCode::kUnavailable, std::string(operation),
              why, endpoint_, sent);
}

std::vector<ReplyPtr> Connection::pipeline(const std::vector<Argv>& commands,
                                           std::string_view operation) {
  std::vector<const char*> words;
  std::vector<size_t> lengths;
  for (const auto& argv : commands) {
    words.clear();
    lengths.clear();
    for (const auto& w : argv) {
      words.push_back(w.data());
      lengths.push_back(w.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(words.size()), words.data(),
                               lengths.data()) != REDIS_OK) {
      fail_io(operation, false);
    }
  }
  std::vector<ReplyPtr> replies;
  replies.reserve(commands.size());
  obs::Timer timer(counters_);
  if (counters_) counters_->add(counters_->commands, static_cast<std::int64_t>(commands.size()));
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) fail_io(operation, true);
    replies.emplace_back(static_cast<redisReply*>(raw));
    note_error_reply(*replies.back());
  }
  timer.done();
  return replies;
}

ReplyPtr Connection::command(const Argv& argv, std::string_view operation) {
  std::vector<const char*> words;
  std::vector<size_t> lengths;
  words.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& w : argv) {
    words.push_back(w.data());
    lengths.push_back(w.size());
  }
  obs::Timer timer(counters_);
  if (counters_) counters_->add(counters_->commands);
  void* raw = redisCommandArgv(ctx_, static_cast<int>(words.size()), words.data(), lengths.data());
  if (raw == nullptr) fail_io(operation, true);
  timer.done();
  ReplyPtr reply(static_cast<redisReply*>(raw));
  note_error_reply(*reply);
  if (reply->type == REDIS_REPLY_ERROR) {
    if (counters_) counters_->add(counters_->errors);
    throw_reply_error(*reply, operation, endpoint_);
  }
  return reply;
}

void Connection::note_error_reply(const redisReply& r) {
  if (r.type != REDIS_REPLY_ERROR) return;
  const std::string_view msg(r.str, r.len);
  for (std::string_view p : {"READONLY", "LOADING", "MASTERDOWN"}) {
    if (starts_with(msg, p)) {
      broken_ = true;
      failure_ = std::string(msg);
    }
  }
}

void throw_reply_error(const redisReply& r, std::string_view operation,
                       const std::string& endpoint) {
  const std::string msg(r.str, r.len);
  ErrorCode code = ErrorCode::kInvalidArgument;  // ERR, WRONGTYPE: the command was wrong
  for (std::string_view p :
       {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"}) {
    if (starts_with(msg, p)) code = ErrorCode::kUnavailable;
  }
  if (starts_with(msg, "OOM")) code = ErrorCode::kResourceExhausted;
  if (starts_with(msg, "NOAUTH") || starts_with(msg, "WRONGPASS") || starts_with(msg, "NOPERM")) {
    code = ErrorCode::kPermissionDenied;
  }
  if (starts_with(msg, "MOVED") || starts_with(msg, "ASK")) code = ErrorCode::kInternal;
  throw Error(code, std::string(operation), msg, endpoint);
}

Reply to_reply(const redisReply& r, std::string_view operation, const std::string& endpoint) {
  switch (r.type) {
    case REDIS_REPLY_NIL:
      return Reply::nil();
    case REDIS_REPLY_INTEGER:
      return Reply::of(static_cast<std::int64_t>(r.integer));
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return Reply::of(std::string(r.str, r.len));
    case REDIS_REPLY_ARRAY: {
      Reply out;
      out.type = Reply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) {
        out.elements.push_back(to_reply(*r.element[i], operation, endpoint));
      }
      return out;
    }
    case REDIS_REPLY_ERROR:
      throw_reply_error(r, operation, endpoint);
    default:
      throw Error(ErrorCode::kInternal, std::string(operation),
                  "unexpected reply type " + std::to_string(r.type), endpoint);
  }
}

}  // namespace examstore::redis
