#include "examstore/config.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config_check.hpp"
#include "common/conninfo.hpp"
#include "examstore/error.hpp"
#include "security/crypto.hpp"

namespace examstore {
namespace {

constexpr std::string_view kMemoryUrl = "memory://";

[[noreturn]] void bad(std::string_view field, std::string_view text, std::string_view why) {
  throw Error(ErrorCode::kInvalidArgument, "config." + std::string(field),
              std::string(why) + " in '" + std::string(text) + "'");
}

// Config::key_prefix starts every Redis key: nothing that could forge a key part or hash tag.
void check_key_prefix(std::string_view field, const std::string& prefix) {
  if (prefix.size() > 32) bad(field, prefix, "longer than 32 characters");
  for (const char ch : prefix) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
    if (!ok) bad(field, prefix, "only letters, digits, '_', '-' and '.' are allowed");
  }
}

// GradingOptions: prefixes of 1..32 letters, digits, '_' or '-' (they sit in front of a hash
// tag in every grading key), positive TTLs, bounded tries, descending grade levels.
void validate_grading(const GradingOptions& g) {
  const std::pair<const char*, const std::string*> prefixes[] = {
      {"grading.class_prefix", &g.class_prefix},
      {"grading.assignment_prefix", &g.assignment_prefix},
      {"grading.result_prefix", &g.result_prefix},
      {"grading.analytics_prefix", &g.analytics_prefix},
      {"grading.ranking_prefix", &g.ranking_prefix}};
  // The other kinds of key (docs/keys.md): a grading prefix equal to one would share its keys.
  static const std::set<std::string> kTaken = {"exam",    "student",     "presence", "violations",
                                               "attempt", "session",     "sessions", "login",
                                               "paper",   "paper-edits", "question", "invalidate"};
  std::set<std::string> seen;
  for (const auto& [field, prefix] : prefixes) {
    if (prefix->empty() || prefix->size() > 32) bad(field, *prefix, "must be 1..32 characters");
    if (kTaken.count(*prefix) != 0) bad(field, *prefix, "is the prefix of another kind of key");
    if (!seen.insert(*prefix).second) bad(field, *prefix, "is used by another grading prefix");
    for (const char ch : *prefix) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
      if (!ok) bad(field, *prefix, "only letters, digits, '_' and '-' are allowed");
    }
  }
  const std::pair<const char*, std::chrono::seconds> ttls[] = {
      {"grading.class_ttl", g.class_ttl},
      {"grading.assignment_ttl", g.assignment_ttl},
      {"grading.result_ttl", g.result_ttl},
      {"grading.analytics_ttl", g.analytics_ttl},
      {"grading.ranking_ttl", g.ranking_ttl}};
  for (const auto& [field, ttl] : ttls) {
    if (ttl.count() <= 0) bad(field, std::to_string(ttl.count()) + " s", "must be > 0");
  }
  if (g.max_tries < 1 || g.max_tries > 100) {
    bad("grading.max_tries", std::to_string(g.max_tries), "must be 1..100");
  }
  if (g.retry_backoff.count() < 0) {
    bad("grading.retry_backoff", std::to_string(g.retry_backoff.count()) + " s", "must be >= 0");
  }
  if (g.grade_levels.empty()) bad("grading.grade_levels", "", "must not be empty");
  for (std::size_t i = 0; i < g.grade_levels.size(); ++i) {
    const auto& [min, name] = g.grade_levels[i];
    const std::string field = "grading.grade_levels[" + std::to_string(i) + "]";
    if (!std::isfinite(min)) bad(field, std::to_string(min), "minimum must be finite");
    if (i > 0 && !(min < g.grade_levels[i - 1].first)) {
      bad(field, std::to_string(min), "minimums must be strictly descending");
    }
    if (name.empty() || name.size() > 20) bad(field, name, "name must be 1..20 characters");
  }
}

// Quotes a URL for an error message with its password masked.
std::string mask_password(std::string_view url) {
  const auto scheme = url.find("://");
  const auto at = url.rfind('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) {
    return std::string(url);
  }
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

bool parse_int(std::string_view s, long long min, long long max, long long& out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end && out >= min && out <= max;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (for user names and passwords containing ':', '@', '/').
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool has_control_or_space(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= ' ' || c == 0x7f) return true;
  }
  return false;
}

bool has_control_char(std::string_view s) {
  for (unsigned char c : s) {
    if (c < ' ' || c == 0x7f) return true;
  }
  return false;
}

// Errors about keys name the variable or field and the key id, never the key material.
[[noreturn]] void bad_key(std::string_view field, std::string_view why) {
  throw Error(ErrorCode::kInvalidArgument, "config." + std::string(field), std::string(why));
}

bool valid_key_id(std::string_view id) {
  if (id.empty() || id.size() > 16) return false;
  for (const char ch : id) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

// "id:base64key,id2:base64key" (EXAMSTORE_DATA_KEYS).
std::vector<DataKey> parse_data_keys(std::string_view text) {
  constexpr std::string_view var = "EXAMSTORE_DATA_KEYS";
  std::vector<DataKey> out;
  std::size_t n = 0;
  while (!text.empty()) {
    ++n;
    const auto comma = text.find(',');
    const std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const std::string which = "entry " + std::to_string(n);
    const auto colon = entry.find(':');
    if (colon == std::string_view::npos) {
      bad_key(var, which + ": expected id:base64key");
    }
    const std::string_view id = entry.substr(0, colon);
    if (!valid_key_id(id)) {
      bad_key(var, which + ": the key id must be 1..16 characters of [A-Za-z0-9_-]");
    }
    auto key = crypto::base64_decode(entry.substr(colon + 1));
    if (!key) bad_key(var, which + " (id '" + std::string(id) + "'): the key is not valid base64");
    if (key->size() != crypto::kKeyBytes) {
      bad_key(var, which + " (id '" + std::string(id) +
                       "'): the key must decode to 32 bytes, got " + std::to_string(key->size()));
    }
    out.push_back(DataKey{std::string(id), std::move(*key)});
  }
  if (out.empty()) bad_key(var, "no key given");
  return out;
}

void validate_personal_data(const PersonalDataOptions& p) {
  const std::string field = "security.personal_data.keys";
  std::set<std::string> ids;
  for (std::size_t i = 0; i < p.keys.size(); ++i) {
    const DataKey& k = p.keys[i];
    const std::string which = "key " + std::to_string(i + 1);
    if (!valid_key_id(k.id)) {
      bad_key(field, which + ": the id must be 1..16 characters of [A-Za-z0-9_-]");
    }
    if (k.key.size() != crypto::kKeyBytes) {
      bad_key(field, which + " (id '" + k.id + "'): must be exactly 32 bytes, got " +
                         std::to_string(k.key.size()));
    }
    if (!ids.insert(k.id).second) bad_key(field, which + ": the id '" + k.id + "' is repeated");
  }
  if (!p.active_key.empty() && ids.count(p.active_key) == 0) {
    bad_key("security.personal_data.active_key",
            "names key '" + p.active_key + "', which is not among the keys");
  }
  if (!p.blind_index_key.empty() && p.blind_index_key.size() != crypto::kKeyBytes) {
    bad_key("security.personal_data.blind_index_key",
            "must be exactly 32 bytes, got " + std::to_string(p.blind_index_key.size()));
  }
}

}  // namespace

namespace {

std::string endpoint_text(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// host[:port], host may be [v6]
RedisEndpoint parse_endpoint(std::string_view hostport, int default_port, std::string_view field,
                             const std::string& shown) {
  RedisEndpoint e;
  e.port = default_port;
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) bad(field, shown, "unterminated '[' in IPv6 host");
    e.host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad(field, shown, "unexpected text after IPv6 host");
      port_text = after.substr(1);
      if (port_text.empty()) bad(field, shown, "empty port");
    }
  } else {
    const auto colon = hostport.find(':');
    e.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) bad(field, shown, "empty port");
    }
  }
  if (e.host.empty()) bad(field, shown, "missing host");
  if (!port_text.empty()) {
    long long p = 0;
    if (!parse_int(port_text, 1, 65535, p)) {
      bad(field, shown, "port '" + std::string(port_text) + "' is not a number in 1..65535");
    }
    e.port = static_cast<int>(p);
  }
  return e;
}

int parse_db(std::string_view db, std::string_view field, const std::string& shown) {
  long long n = 0;
  if (!parse_int(db, 0, 1'000'000, n)) {
    bad(field, shown, "database '" + std::string(db) + "' is not a number >= 0");
  }
  return static_cast<int>(n);
}

#ifdef EXAMSTORE_HAVE_HIREDIS_SSL
constexpr bool kHaveRedisTls = true;
#else
constexpr bool kHaveRedisTls = false;
#endif
constexpr const char* kNoRedisTls =
    "TLS needs examstore built against hiredis 1.x with hiredis_ssl; this build (hiredis 0.14 "
    "or no hiredis_ssl) has no Redis TLS";

// The value of query parameter `name` replaced by *** (a key file's path stays out of messages).
std::string mask_param(std::string text, std::string_view name) {
  const auto q = text.find('?');
  if (q == std::string::npos) return text;
  for (auto at = text.find(name, q); at != std::string::npos; at = text.find(name, at + 1)) {
    const char before = text[at - 1];
    const auto eq = at + name.size();
    if ((before != '?' && before != '&') || eq >= text.size() || text[eq] != '=') continue;
    const auto end = text.find('&', eq);
    text.replace(eq + 1, (end == std::string::npos ? text.size() : end) - eq - 1, "***");
  }
  return text;
}

// The query of a redis URL: db=N (Sentinel only) and the TLS files (rediss:// forms only), each
// at most once; values are %-decoded.
void parse_redis_query(std::string_view query, std::string_view field, const std::string& shown,
                       RedisOptions& o) {
  const bool sentinel = o.topology == RedisTopology::kSentinel;
  const std::pair<std::string_view, std::string*> tls_params[] = {
      {"ca_file", &o.tls.ca_file},
      {"ca_dir", &o.tls.ca_dir},
      {"cert_file", &o.tls.cert_file},
      {"key_file", &o.tls.key_file},
      {"server_name", &o.tls.server_name}};
  std::set<std::string_view> seen;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    std::string* target = nullptr;
    for (const auto& [tls_name, member] : tls_params) {
      if (name == tls_name && o.tls.enabled) target = member;
    }
    if (target == nullptr && !(sentinel && name == "db")) {
      const std::string shown_param = name == "key_file" ? "key_file=***" : std::string(param);
      bad(field, shown,
          "unknown parameter '" + shown_param + "' (" +
              (o.tls.enabled ? std::string(sentinel ? "db=N, " : "") +
                                   "ca_file, ca_dir, cert_file, key_file, server_name"
                             : "only db=N; TLS parameters need rediss-sentinel://") +
              ")");
    }
    if (!seen.insert(name).second) {
      bad(field, shown, "parameter '" + std::string(name) + "' is given twice");
    }
    if (eq == std::string_view::npos || value.empty()) {
      bad(field, shown, "parameter '" + std::string(name) + "' needs a value");
    }
    if (target == nullptr) {
      o.db = parse_db(value, field, shown);
    } else if (!percent_decode(value, *target) || has_control_char(*target)) {
      bad(field, shown,
          "bad %-escape or control character in parameter '" + std::string(name) + "'");
    }
  }
}

bool valid_master_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  });
}

// RedisTlsOptions: consistent on their own; the files are loaded (and their errors named) when
// the hot tier connects.
void validate_redis_tls(const RedisTlsOptions& t) {
  if (t.enabled && !kHaveRedisTls) bad("redis.tls.enabled", "true", kNoRedisTls);
  const std::pair<const char*, const std::string*> files[] = {{"redis.tls.ca_file", &t.ca_file},
                                                              {"redis.tls.ca_dir", &t.ca_dir},
                                                              {"redis.tls.cert_file", &t.cert_file},
                                                              {"redis.tls.key_file", &t.key_file}};
  for (const auto& [name, value] : files) {
    if (!t.enabled && !value->empty()) {
      bad_key(name, "is set but redis.tls.enabled is false (use a rediss:// URL or enable TLS)");
    }
    if (has_control_char(*value)) bad_key(name, "contains a control character");
  }
  if (!t.enabled && !t.server_name.empty()) {
    bad_key("redis.tls.server_name",
            "is set but redis.tls.enabled is false (use a rediss:// URL or enable TLS)");
  }
  if (t.cert_file.empty() != t.key_file.empty()) {
    bad_key(t.cert_file.empty() ? "redis.tls.cert_file" : "redis.tls.key_file",
            "redis.tls.cert_file and redis.tls.key_file go together: set both or neither");
  }
  if (!t.server_name.empty()) {
    const bool ok = t.server_name.size() <= 253 &&
                    std::all_of(t.server_name.begin(), t.server_name.end(), [](char ch) {
                      return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '.' ||
                             ch == '-' || ch == '_' || ch == ':';
                    });
    if (!ok) {
      bad("redis.tls.server_name", t.server_name,
          "must be a DNS name or an IP address (letters, digits, '.', '-', '_', ':')");
    }
  }
}

}  // namespace

std::string RedisOptions::redacted() const {
  std::string nodes;
  for (const auto& e : seeds) nodes += (nodes.empty() ? "" : ",") + endpoint_text(e.host, e.port);
  const std::string tls_mark = tls.enabled ? "tls " : "";
  switch (topology) {
    case RedisTopology::kSentinel:
      return tls_mark + "sentinel " + nodes + "/" + sentinel_master + "/" + std::to_string(db);
    case RedisTopology::kCluster:
      return tls_mark + "cluster " + nodes;
    case RedisTopology::kStandalone:
      break;
  }
  return tls_mark + endpoint_text(host, port) + "/" + std::to_string(db);
}

RedisOptions parse_redis_url(std::string_view url, std::string_view field) {
  // "redis://secret@host" is a password alone: mask everything before the '@'
  std::string shown = mask_password(url);
  if (shown == url) {
    const auto scheme = url.find("://"), at = url.rfind('@');
    if (scheme != std::string_view::npos && at != std::string_view::npos && at > scheme + 3) {
      shown = std::string(url.substr(0, scheme + 3)) + "***" + std::string(url.substr(at));
    }
  }
  shown = mask_param(shown, "key_file");
  struct Scheme {
    std::string_view prefix;
    RedisTopology topology;
    bool tls;
  };
  static constexpr Scheme kSchemes[] = {{"redis://", RedisTopology::kStandalone, false},
                                        {"rediss://", RedisTopology::kStandalone, true},
                                        {"redis-sentinel://", RedisTopology::kSentinel, false},
                                        {"rediss-sentinel://", RedisTopology::kSentinel, true},
                                        {"redis-cluster://", RedisTopology::kCluster, false},
                                        {"rediss-cluster://", RedisTopology::kCluster, true}};
  RedisOptions o;
  std::string_view rest;
  bool known = false;
  for (const Scheme& scheme : kSchemes) {
    if (url.substr(0, scheme.prefix.size()) == scheme.prefix) {
      o.topology = scheme.topology;
      o.tls.enabled = scheme.tls;
      rest = url.substr(scheme.prefix.size());
      known = true;
    }
  }
  if (!known) {
    bad(field, shown,
        "expected a URL starting with redis://, redis-sentinel://, redis-cluster://, their TLS "
        "forms rediss://, rediss-sentinel://, rediss-cluster:// (or memory://)");
  }
  if (o.tls.enabled && !kHaveRedisTls) bad(field, shown, kNoRedisTls);
  if (has_control_or_space(url)) bad(field, shown, "whitespace or control character");
  if (rest.find('#') != std::string_view::npos) bad(field, shown, "'#' is not allowed");
  // query: ?db=N on redis-sentinel:// (its path is the master's name), TLS files on rediss://
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (o.topology != RedisTopology::kSentinel && !o.tls.enabled) {
      bad(field, shown,
          "query parameters are not supported (TLS parameters need rediss://; set other options "
          "in Config)");
    }
  }
  // credentials
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = cred.find(':');
    const std::string_view user = colon == std::string_view::npos ? cred : cred.substr(0, colon);
    if (colon == std::string_view::npos) {
      // "redis://secret@host" is the common shorthand for a password alone
      if (!percent_decode(user, o.password)) bad(field, shown, "bad %-escape in password");
    } else {
      if (!percent_decode(user, o.user)) bad(field, shown, "bad %-escape in user name");
      if (!percent_decode(cred.substr(colon + 1), o.password)) {
        bad(field, shown, "bad %-escape in password");
      }
    }
  }
  // path: /db (standalone), /MASTER (sentinel), nothing (cluster)
  std::string_view hosts = rest;
  std::string_view path;
  bool has_path = false;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    hosts = rest.substr(0, slash);
    path = rest.substr(slash + 1);
    has_path = true;
  }
  switch (o.topology) {
    case RedisTopology::kStandalone:
      if (!path.empty()) o.db = parse_db(path, field, shown);
      parse_redis_query(query, field, shown, o);
      o.seeds.clear();
      {
        const RedisEndpoint e = parse_endpoint(hosts, 6379, field, shown);
        o.host = e.host;
        o.port = e.port;
      }
      return o;
    case RedisTopology::kSentinel:
      if (!has_path || path.empty()) {
        bad(field, shown, "missing the master's name (redis-sentinel://host:port,.../MASTER)");
      }
      if (!valid_master_name(path)) {
        bad(field, shown,
            "master name '" + std::string(path) +
                "' must be 1..128 characters of letters, digits, '_', '-' and '.'");
      }
      o.sentinel_master = std::string(path);
      break;
    case RedisTopology::kCluster:
      if (has_path && !path.empty()) {
        bad(field, shown, "a cluster URL has no path: Redis Cluster has only database 0");
      }
      break;
  }
  parse_redis_query(query, field, shown, o);
  const int default_port = o.topology == RedisTopology::kSentinel ? 26379 : 6379;
  while (true) {
    const auto comma = hosts.find(',');
    o.seeds.push_back(parse_endpoint(hosts.substr(0, comma), default_port, field, shown));
    if (comma == std::string_view::npos) break;
    hosts = hosts.substr(comma + 1);
  }
  o.host = o.seeds.front().host;
  o.port = o.seeds.front().port;
  return o;
}

std::string PostgresOptions::redacted() const {
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), nullptr);
  if (opts == nullptr) return "postgresql";
  std::string user, host, port, db;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view k = o->keyword;
    if (k == "user")
      user = o->val;
    else if (k == "host" || (k == "hostaddr" && host.empty()))
      host = o->val;
    else if (k == "port")
      port = o->val;
    else if (k == "dbname")
      db = o->val;
  }
  PQconninfoFree(opts);
  std::string s = user.empty() ? "" : user + "@";
  // libpq pairs a list of hosts with a list of ports (or one port for all): "h1:p1,h2:p2"
  const auto split = [](const std::string& list) {
    std::vector<std::string> items;
    for (std::size_t at = 0;;) {
      const auto comma = list.find(',', at);
      items.push_back(list.substr(at, comma - at));
      if (comma == std::string::npos) return items;
      at = comma + 1;
    }
  };
  const std::vector<std::string> hosts = split(host.empty() ? "localhost" : host);
  const std::vector<std::string> ports = split(port);
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (i > 0) s += ",";
    s += hosts[i].empty() ? "localhost" : hosts[i];
    const std::string& p = ports.size() == hosts.size() ? ports[i] : ports.front();
    if (!p.empty()) s += ":" + p;
  }
  if (!db.empty()) s += "/" + db;
  return s;
}

namespace {

// A replica's host as it will be spliced into a URI: a name or an IP literal, nothing else.
bool valid_replica_host(std::string_view host, bool ipv6) {
  if (host.empty() || host.size() > 253) return false;
  for (const char ch : host) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' ||
                    (ipv6 && ch == ':');
    if (!ok) return false;
  }
  return true;
}

// Splits the `replica=host[:port]` parameters off a postgresql:// URI. `primary` receives the
// URI without them; each replica's URI is the primary's with its host and port replaced, so
// user, password, database and every other libpq parameter apply to it too.
void split_replicas(std::string_view url, std::string_view field, const std::string& shown,
                    std::string& primary, std::vector<std::string>& replicas) {
  const auto scheme_end = url.find("://") + 3;
  const auto q = url.find('?');
  if (q == std::string_view::npos) {
    primary = std::string(url);
    return;
  }
  std::string_view query = url.substr(q + 1);
  std::string kept;
  std::string address_param;  // host=, hostaddr= or port= in the query: the primary's address
  std::vector<std::string> hosts;
  while (true) {
    const auto amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    if (param.substr(0, 8) == "replica=") {
      const std::string_view value = param.substr(8);
      if (value.empty()) bad(field, shown, "empty replica (expected replica=host[:port])");
      const RedisEndpoint e = parse_endpoint(value, 5432, field, shown);
      const bool ipv6 = value.front() == '[';
      if (!valid_replica_host(e.host, ipv6)) {
        bad(field, shown,
            "replica host '" + e.host + "' must be a host name or an IP literal ([::1] for IPv6)");
      }
      std::string hostport = (ipv6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
      if (std::find(hosts.begin(), hosts.end(), hostport) != hosts.end()) {
        bad(field, shown, "replica '" + hostport + "' is listed twice");
      }
      hosts.push_back(std::move(hostport));
    } else if (param.substr(0, 7) == "replica") {
      bad(field, shown, "expected replica=host[:port], got '" + std::string(param) + "'");
    } else {
      const std::string_view name = param.substr(0, param.find('='));
      if (name == "host" || name == "hostaddr" || name == "port") address_param = name;
      if (!kept.empty()) kept += '&';
      kept += std::string(param);
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  if (!hosts.empty() && !address_param.empty()) {
    // every replica would inherit it and connect to the primary's address
    bad(field, shown,
        address_param +
            "= in the query cannot be combined with replica= (each replica takes "
            "its address from replica=host[:port])");
  }
  const std::string_view before_query = url.substr(0, q);
  primary = std::string(before_query) + (kept.empty() ? "" : "?" + kept);
  // authority = [userinfo@]hostspec, up to the path
  const auto path = before_query.find('/', scheme_end);
  const std::string_view authority =
      before_query.substr(scheme_end, path == std::string_view::npos ? path : path - scheme_end);
  const auto at = authority.rfind('@');
  const std::string head =
      std::string(url.substr(0, scheme_end)) +
      (at == std::string_view::npos ? "" : std::string(authority.substr(0, at + 1)));
  // A replica is a standby: the primary's target_session_attrs (read-write, primary) would
  // refuse it, so the replicas do without.
  std::string replica_kept;
  for (std::string_view rest = kept; !rest.empty();) {
    const auto amp = rest.find('&');
    const std::string_view param = rest.substr(0, amp);
    if (param.substr(0, param.find('=')) != "target_session_attrs") {
      if (!replica_kept.empty()) replica_kept += '&';
      replica_kept += std::string(param);
    }
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  const std::string tail =
      (path == std::string_view::npos ? "" : std::string(before_query.substr(path))) +
      (replica_kept.empty() ? "" : "?" + replica_kept);
  for (const std::string& h : hosts) {
    std::string replica = head;
    replica += h;
    replica += tail;
    replicas.push_back(std::move(replica));
  }
}

}  // namespace

PostgresOptions parse_postgres_url(std::string_view url, std::string_view field) {
  const bool is_uri = url.substr(0, 13) == "postgresql://" || url.substr(0, 11) == "postgres://";
  const bool is_kv =
      url.find("://") == std::string_view::npos && url.find('=') != std::string_view::npos;
  const std::string shown = is_uri || is_kv ? mask_conninfo_secrets(url, url) : mask_password(url);
  if (!is_uri && !is_kv) {
    bad(field, shown,
        "expected postgresql://user@host:port/dbname, a libpq key=value string, or memory://");
  }
  if (is_uri && has_control_or_space(url)) bad(field, shown, "whitespace or control character");
  if (is_kv &&
      (url.substr(0, 8) == "replica=" || url.find(" replica=") != std::string_view::npos)) {
    bad(field, shown,
        "replica= is only understood in the postgresql:// form (or set PostgresOptions::replicas)");
  }
  std::string text;
  std::vector<std::string> replicas;
  if (is_uri) {
    split_replicas(url, field, shown, text, replicas);
  } else {
    text = std::string(url);
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(text.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err != nullptr ? err : "unparseable connection string";
    PQfreemem(err);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    bad(field, shown, mask_conninfo_secrets(why, url));
  }
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && std::string_view(o->keyword) == "sslmode") {
      // libpq checks it only when connecting; the values are libpq's, spelled exactly
      static const std::set<std::string_view> kModes = {"disable", "allow",     "prefer",
                                                        "require", "verify-ca", "verify-full"};
      if (kModes.count(o->val) == 0) {
        const std::string mode = o->val;
        PQconninfoFree(opts);
        bad(field, shown,
            "sslmode '" + mode +
                "' is not one of disable, allow, prefer, require, verify-ca, verify-full");
      }
    }
    if (o->val != nullptr && std::string_view(o->keyword) == "port") {
      long long p = 0;
      // libpq accepts a comma-separated list of ports for multiple hosts, an empty one meaning
      // the default port ("postgresql://a,b:6000/d": a on 5432, b on 6000).
      std::string_view ports = o->val;
      while (!ports.empty()) {
        const auto comma = ports.find(',');
        const std::string_view one = ports.substr(0, comma);
        if (!one.empty() && !parse_int(one, 1, 65535, p)) {
          const std::string port(one);  // `one` points into opts: copy before freeing
          PQconninfoFree(opts);
          bad(field, shown, "port '" + port + "' is not a number in 1..65535");
        }
        if (comma == std::string_view::npos) break;
        ports = ports.substr(comma + 1);
      }
    }
  }
  PQconninfoFree(opts);
  PostgresOptions o;
  o.conninfo = text;
  o.replicas = std::move(replicas);
  return o;
}

Config& Config::with_redis_url(std::string_view url) {
  if (url == kMemoryUrl) {
    cache_backend = BackendKind::kMemory;
    return *this;
  }
  RedisOptions parsed = parse_redis_url(url, "redis_url");
  // keep the pool and timeout settings already made on this Config
  redis.topology = parsed.topology;
  redis.seeds = std::move(parsed.seeds);
  redis.sentinel_master = std::move(parsed.sentinel_master);
  redis.host = std::move(parsed.host);
  redis.port = parsed.port;
  redis.db = parsed.db;
  redis.user = std::move(parsed.user);
  redis.password = std::move(parsed.password);
  redis.tls = std::move(parsed.tls);
  cache_backend = BackendKind::kRedis;
  return *this;
}

Config& Config::with_database_url(std::string_view url) {
  if (url == kMemoryUrl) {
    database_backend = BackendKind::kMemory;
    return *this;
  }
  PostgresOptions parsed = parse_postgres_url(url, "database_url");
  postgres.conninfo = std::move(parsed.conninfo);
  postgres.replicas = std::move(parsed.replicas);
  database_backend = BackendKind::kPostgres;
  return *this;
}

Config Config::from_env() {
  Config c;
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
  };
  auto positive = [&](const char* name, long long max) -> std::optional<long long> {
    const char* v = env(name);
    if (v == nullptr) return std::nullopt;
    long long n = 0;
    if (!parse_int(v, 1, max, n)) {
      bad(name, v, "expected a whole number in 1.." + std::to_string(max));
    }
    return n;
  };
  if (const char* v = env("EXAMSTORE_REDIS_URL")) {
    try {
      c.with_redis_url(v);
    } catch (const Error& e) {
      throw Error(e.code(), "config.EXAMSTORE_REDIS_URL", e.message());
    }
  }
  if (const char* v = env("EXAMSTORE_DATABASE_URL")) {
    try {
      c.with_database_url(v);
    } catch (const Error& e) {
      throw Error(e.code(), "config.EXAMSTORE_DATABASE_URL", e.message());
    }
  }
  if (auto n = positive("EXAMSTORE_REDIS_POOL_SIZE", 1024))
    c.redis.pool_size = static_cast<int>(*n);
  if (auto n = positive("EXAMSTORE_DB_POOL_SIZE", 1024))
    c.postgres.pool_size = static_cast<int>(*n);
  if (auto n = positive("EXAMSTORE_CONNECT_TIMEOUT_MS", 600'000)) {
    c.redis.connect_timeout = std::chrono::milliseconds(*n);
    c.postgres.connect_timeout = std::chrono::milliseconds(*n);
  }
  if (auto n = positive("EXAMSTORE_COMMAND_TIMEOUT_MS", 3'600'000)) {
    c.redis.command_timeout = std::chrono::milliseconds(*n);
  }
  if (const char* v = env("EXAMSTORE_REDIS_FAILOVER_WAIT_MS")) {
    long long n = 0;
    if (!parse_int(v, 0, 3'600'000, n)) {
      bad("EXAMSTORE_REDIS_FAILOVER_WAIT_MS", v, "expected a whole number in 0..3600000");
    }
    c.redis.failover_wait = std::chrono::milliseconds(n);
  }
  if (const char* v = env("EXAMSTORE_DB_FAILOVER_WAIT_MS")) {
    long long n = 0;
    if (!parse_int(v, 0, 3'600'000, n)) {
      bad("EXAMSTORE_DB_FAILOVER_WAIT_MS", v, "expected a whole number in 0..3600000");
    }
    c.postgres.failover_wait = std::chrono::milliseconds(n);
  }
  if (const char* v = env("EXAMSTORE_JOURNAL_DIR")) c.write_behind.journal_dir = v;
  if (const char* v = env("EXAMSTORE_JOURNAL_ROOT")) c.write_behind.journal_root = v;
  if (const char* v = env("EXAMSTORE_KEY_PREFIX")) {
    c.key_prefix = v;
    check_key_prefix("EXAMSTORE_KEY_PREFIX", c.key_prefix);  // name the variable, as the others
  }
  if (auto n = positive("EXAMSTORE_CACHE_TTL_S", 365LL * 24 * 3600)) {
    c.cache_ttl = std::chrono::seconds(*n);
  }
  auto& personal = c.security.personal_data;
  if (const char* v = env("EXAMSTORE_DATA_KEYS")) personal.keys = parse_data_keys(v);
  if (const char* v = env("EXAMSTORE_DATA_KEY_ACTIVE")) {
    if (!valid_key_id(v)) bad("EXAMSTORE_DATA_KEY_ACTIVE", v, "expected a key id");
    personal.active_key = v;
  }
  if (const char* v = env("EXAMSTORE_BLIND_INDEX_KEY")) {
    auto key = crypto::base64_decode(v);
    if (!key || key->size() != crypto::kKeyBytes) {
      bad_key("EXAMSTORE_BLIND_INDEX_KEY", "expected the base64 of 32 bytes");
    }
    personal.blind_index_key = std::move(*key);
  }
  return c;
}

void validate(const Config& c) {
  auto positive_ms = [](std::string_view field, std::chrono::milliseconds v) {
    if (v.count() <= 0) bad(field, std::to_string(v.count()) + " ms", "must be > 0");
  };
  auto positive_int = [](std::string_view field, int v) {
    if (v <= 0) bad(field, std::to_string(v), "must be > 0");
  };
  if (c.cache_backend == BackendKind::kPostgres) bad("cache_backend", "postgres", "not a hot tier");
  if (c.database_backend == BackendKind::kRedis)
    bad("database_backend", "redis", "not a durable tier");
  if (c.cache_backend == BackendKind::kRedis) {
    positive_int("redis.pool_size", c.redis.pool_size);
    positive_ms("redis.connect_timeout", c.redis.connect_timeout);
    positive_ms("redis.command_timeout", c.redis.command_timeout);
    positive_ms("redis.pool_wait_timeout", c.redis.pool_wait_timeout);
    if (c.redis.failover_wait.count() < 0) {
      bad("redis.failover_wait", std::to_string(c.redis.failover_wait.count()) + " ms",
          "must be >= 0");
    }
    if (c.redis.host.empty()) bad("redis.host", "", "must not be empty");
    if (c.redis.port < 1 || c.redis.port > 65535)
      bad("redis.port", std::to_string(c.redis.port), "must be in 1..65535");
    if (c.redis.topology != RedisTopology::kStandalone && c.redis.seeds.empty()) {
      bad("redis.seeds", "", "a Sentinel or Cluster hot tier needs at least one seed address");
    }
    if (c.redis.topology == RedisTopology::kSentinel && c.redis.sentinel_master.empty()) {
      bad("redis.sentinel_master", "", "must name the monitored master");
    }
    if (c.redis.topology == RedisTopology::kCluster && c.redis.db != 0) {
      bad("redis.db", std::to_string(c.redis.db), "Redis Cluster has only database 0");
    }
    if (c.redis.wait_replicas < 0) {
      bad("redis.wait_replicas", std::to_string(c.redis.wait_replicas), "must be >= 0");
    }
    if (c.redis.wait_replicas > 0) positive_ms("redis.wait_timeout", c.redis.wait_timeout);
    if (c.redis.wait_replicas > 0 && c.redis.topology == RedisTopology::kCluster) {
      // The cluster's pipelines are split per master: WAIT is not applied there.
      bad("redis.wait_replicas", std::to_string(c.redis.wait_replicas),
          "is supported with a standalone or Sentinel hot tier, not with Redis Cluster");
    }
    validate_redis_tls(c.redis.tls);
  }
  if (c.database_backend == BackendKind::kPostgres) {
    positive_int("postgres.pool_size", c.postgres.pool_size);
    positive_int("postgres.max_attempts", c.postgres.max_attempts);
    positive_ms("postgres.connect_timeout", c.postgres.connect_timeout);
    positive_ms("postgres.pool_wait_timeout", c.postgres.pool_wait_timeout);
    if (c.postgres.statement_timeout.count() < 0)
      bad("postgres.statement_timeout",
          std::to_string(c.postgres.statement_timeout.count()) + " ms", "must be >= 0");
    if (c.postgres.conninfo.empty()) bad("postgres.conninfo", "", "must not be empty");
    for (std::size_t i = 0; i < c.postgres.replicas.size(); ++i) {
      if (c.postgres.replicas[i].empty()) {
        bad("postgres.replicas[" + std::to_string(i) + "]", "", "must not be empty");
      }
    }
    if (c.postgres.replica_wait.count() < 0) {
      bad("postgres.replica_wait", std::to_string(c.postgres.replica_wait.count()) + " ms",
          "must be >= 0");
    }
    if (c.postgres.failover_wait.count() < 0) {
      bad("postgres.failover_wait", std::to_string(c.postgres.failover_wait.count()) + " ms",
          "must be >= 0");
    }
  }
  check_key_prefix("key_prefix", c.key_prefix);
  if (c.negative_ttl.count() <= 0)
    bad("negative_ttl", std::to_string(c.negative_ttl.count()) + " s", "must be > 0");
  if (c.attempts.finished_ttl.count() < 0) {
    bad("attempts.finished_ttl", std::to_string(c.attempts.finished_ttl.count()) + " s",
        "must be >= 0");
  }
  if (c.near_cache_ttl.count() < 0)
    bad("near_cache_ttl", std::to_string(c.near_cache_ttl.count()) + " ms", "must be >= 0");
  if (c.presence.missing_after.count() <= 0)
    bad("presence.missing_after", std::to_string(c.presence.missing_after.count()) + " s",
        "must be > 0");
  if (c.presence.offline_after <= c.presence.missing_after) {
    bad("presence.offline_after", std::to_string(c.presence.offline_after.count()) + " s",
        "must be greater than presence.missing_after");
  }
  const auto& w = c.write_behind;
  if (w.max_batch == 0) bad("write_behind.max_batch", "0", "must be > 0");
  if (w.capacity < w.max_batch)
    bad("write_behind.capacity", std::to_string(w.capacity), "must be >= write_behind.max_batch");
  if (w.max_delay.count() < 0)
    bad("write_behind.max_delay", std::to_string(w.max_delay.count()) + " ms", "must be >= 0");
  if (w.retry_initial.count() <= 0 || w.retry_max < w.retry_initial) {
    bad("write_behind.retry_initial", std::to_string(w.retry_initial.count()) + " ms",
        "must be > 0 and <= retry_max");
  }
  if (c.cache_ttl.count() <= 0)
    bad("cache_ttl", std::to_string(c.cache_ttl.count()) + " s", "must be > 0");
  if (!(c.cache_ttl_jitter >= 0.0 && c.cache_ttl_jitter <= 1.0)) {
    bad("cache_ttl_jitter", std::to_string(c.cache_ttl_jitter), "must be in [0, 1]");
  }
  validate_grading(c.grading);
  validate_personal_data(c.security.personal_data);
}

}  // namespace examstore
