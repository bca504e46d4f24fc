#include "bench_common.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>

#include <hiredis/hiredis.h>
#include <pqxx/pqxx>

#include "db/pq.hpp"

namespace bench {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

Args::Args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) fail("unexpected argument '" + a + "' (options are --name value)");
    a = a.substr(2);
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      values_[a] = argv[++i];
    } else {
      values_[a] = "1";
    }
  }
}

std::string Args::str(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

std::string Args::required(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) fail("--" + name + " is required");
  return it->second;
}

std::int64_t Args::num(const std::string& name, std::int64_t def) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  try {
    std::size_t used = 0;
    const auto v = std::stoll(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing text");
    return v;
  } catch (const std::exception&) {
    fail("--" + name + " must be an integer, not '" + it->second + "'");
  }
}

double Args::real(const std::string& name, double def) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    fail("--" + name + " must be a number, not '" + it->second + "'");
  }
}

bool Args::flag(const std::string& name) const { return values_.count(name) != 0; }

void fail(const std::string& what) {
  std::cerr << "bench: FAILED: " << what << std::endl;
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

void note(const std::string& what) { std::cerr << "bench: " << what << std::endl; }

void StartGate::wait() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return open_; });
}

void StartGate::open() {
  {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
  }
  cv_.notify_all();
}

namespace {
std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s << std::setprecision(6) << v;
  return s.str();
}
}  // namespace

void JsonLine::key(const std::string& k) {
  out_ << (first_ ? "{" : ",") << '"' << escape(k) << "\":";
  first_ = false;
}

JsonLine& JsonLine::add(const std::string& k, const std::string& value) {
  key(k);
  out_ << '"' << escape(value) << '"';
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, double value) {
  key(k);
  out_ << number(value);
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, std::int64_t value) {
  key(k);
  out_ << value;
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, bool value) {
  key(k);
  out_ << (value ? "true" : "false");
  return *this;
}

JsonLine& JsonLine::add_null(const std::string& k) {
  key(k);
  out_ << "null";
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, const std::vector<double>& values) {
  key(k);
  out_ << '[';
  for (std::size_t i = 0; i < values.size(); ++i) out_ << (i ? "," : "") << number(values[i]);
  out_ << ']';
  return *this;
}

void JsonLine::print() const { std::cout << out_.str() << (first_ ? "{}" : "}") << std::endl; }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double cpu_micros() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + t.tv_usec; };
  return us(u.ru_utime) + us(u.ru_stime);
}

// ---- RawRedis ----

RawRedis::RawRedis(const std::string& url) {
  std::string rest = url;
  const std::string scheme = "redis://";
  if (rest.rfind(scheme, 0) == 0) rest = rest.substr(scheme.size());
  int db = 0;
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    if (slash + 1 < rest.size()) db = std::stoi(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string::npos)
    fail("RawRedis: URLs with credentials are not supported");
  std::string host = rest;
  int port = 6379;
  if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = std::stoi(rest.substr(colon + 1));
  }
  c_ = redisConnect(host.c_str(), port);
  if (c_ == nullptr || c_->err) {
    fail("cannot connect to Redis at " + url + (c_ ? std::string(": ") + c_->errstr : ""));
  }
  if (db != 0) command({"SELECT", std::to_string(db)});
}

RawRedis::~RawRedis() {
  if (c_) redisFree(c_);
}

namespace {
std::string reply_text(redisReply* r, const std::string& what) {
  if (r == nullptr) fail("Redis: no reply to " + what);
  std::string out;
  switch (r->type) {
    case REDIS_REPLY_ERROR:
      out = std::string(r->str, r->len);
      freeReplyObject(r);
      fail("Redis error for " + what + ": " + out);
    case REDIS_REPLY_INTEGER:
      out = std::to_string(r->integer);
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out = std::string(r->str, r->len);
      break;
    default:
      break;
  }
  freeReplyObject(r);
  return out;
}

void append(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> p;
  std::vector<std::size_t> len;
  for (const auto& a : argv) {
    p.push_back(a.data());
    len.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(argv.size()), p.data(), len.data());
}
}  // namespace

std::string RawRedis::command(const std::vector<std::string>& argv) {
  append(c_, argv);
  void* r = nullptr;
  if (redisGetReply(c_, &r) != REDIS_OK) fail(std::string("Redis: ") + c_->errstr);
  return reply_text(static_cast<redisReply*>(r), argv.front());
}

void RawRedis::pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (const auto& c : commands) append(c_, c);
  for (const auto& c : commands) {
    void* r = nullptr;
    if (redisGetReply(c_, &r) != REDIS_OK) fail(std::string("Redis: ") + c_->errstr);
    reply_text(static_cast<redisReply*>(r), c.front());
  }
}

double RawRedis::info_number(const std::string& section, const std::string& field) {
  const std::string info = command({"INFO", section});
  const std::string needle = "\n" + field + ":";
  const auto at = ("\n" + info).find(needle);
  if (at == std::string::npos) fail("INFO " + section + " has no field " + field);
  return std::stod(info.substr(at + needle.size() - 1));
}

std::map<std::string, std::int64_t> RawRedis::command_calls() {
  std::map<std::string, std::int64_t> out;
  std::istringstream in(command({"INFO", "commandstats"}));
  std::string line;
  while (std::getline(in, line)) {
    // cmdstat_setrange:calls=100001,usec=23783,...
    const std::string prefix = "cmdstat_";
    if (line.rfind(prefix, 0) != 0) continue;
    const auto colon = line.find(':');
    const auto calls = line.find("calls=", colon);
    if (colon == std::string::npos || calls == std::string::npos) continue;
    out[line.substr(prefix.size(), colon - prefix.size())] = std::stoll(line.substr(calls + 6));
  }
  return out;
}

// ---- SQL ----

void sql_exec(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  examstore::db::exec0(tx, sql);
}

std::string sql_value(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec(sql);
  if (r.empty() || r.columns() == 0 || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

}  // namespace bench
