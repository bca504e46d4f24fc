#include "common/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "common/os_account.hpp"

namespace examstore {
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// Every keyword `conninfo` sets, with its value; empty when libpq cannot parse it.
std::map<std::string, std::string, std::less<>> conninfo_values(const std::string& conninfo) {
  std::map<std::string, std::string, std::less<>> given;
  if (PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), nullptr)) {
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
      if (o->val != nullptr) given[o->keyword] = o->val;
    }
    PQconninfoFree(opts);
  }
  return given;
}

// (offset, length) of each secret in `url`, in order.
std::vector<std::pair<std::size_t, std::size_t>> secret_spans(std::string_view url) {
  const bool is_uri = url.substr(0, 13) == "postgresql://" || url.substr(0, 11) == "postgres://";
  auto secret = [](std::string_view keyword) {
    return keyword == "password" || keyword == "sslpassword" || keyword == "sslkey";
  };
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // (offset, length)
  if (is_uri) {
    const auto authority = url.find("://") + 3;
    const auto end = std::min(url.find('/', authority), url.find('?', authority));
    const auto at = url.substr(0, end).rfind('@');
    if (at != std::string_view::npos && at > authority) {
      const auto colon = url.substr(0, at).find(':', authority);
      if (colon != std::string_view::npos) spans.emplace_back(colon + 1, at - colon - 1);
    }
    const auto q = url.find('?', authority);
    for (auto start = q; start != std::string_view::npos; start = url.find('&', start + 1)) {
      const auto stop = std::min(url.find('&', start + 1), url.size());
      const auto eq = url.find('=', start + 1);
      if (eq < stop && secret(url.substr(start + 1, eq - start - 1))) {
        spans.emplace_back(eq + 1, stop - eq - 1);
      }
    }
    return spans;
  }
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < url.size() && std::isspace(static_cast<unsigned char>(url[i])) != 0) ++i;
  };
  while (i < url.size()) {
    skip_space();
    const auto key_start = i;
    while (i < url.size() && url[i] != '=' && std::isspace(static_cast<unsigned char>(url[i])) == 0)
      ++i;
    const std::string_view keyword = url.substr(key_start, i - key_start);
    skip_space();
    if (i >= url.size() || url[i] != '=') break;  // malformed: libpq says where
    ++i;
    skip_space();
    const auto value_start = i;
    if (i < url.size() && url[i] == '\'') {
      for (++i; i < url.size() && url[i] != '\''; ++i) {
        if (url[i] == '\\') ++i;
      }
      i = std::min(i + 1, url.size());
    } else {
      while (i < url.size() && std::isspace(static_cast<unsigned char>(url[i])) == 0) ++i;
    }
    if (secret(keyword)) spans.emplace_back(value_start, i - value_start);
  }
  return spans;
}

}  // namespace

std::string mask_conninfo_secrets(std::string_view text, std::string_view conninfo) {
  const auto spans = secret_spans(conninfo);
  std::string masked(conninfo);
  for (auto it = spans.rbegin(); it != spans.rend(); ++it)
    masked.replace(it->first, it->second, "***");
  std::string out(text);
  if (conninfo.empty()) return out;
  for (auto at = out.find(conninfo); at != std::string::npos;
       at = out.find(conninfo, at + masked.size())) {
    out.replace(at, conninfo.size(), masked);
  }
  for (const auto& [offset, length] : spans) {
    const std::string value(conninfo.substr(offset, length));
    if (value.empty()) continue;
    for (auto at = out.find(value); at != std::string::npos; at = out.find(value, at + 3)) {
      out.replace(at, value.size(), "***");
    }
  }
  return out;
}

bool conninfo_sets(const std::string& conninfo, std::string_view keyword) {
  const auto given = conninfo_values(conninfo);
  return given.find(keyword) != given.end();
}

ConninfoTarget conninfo_target(const std::string& conninfo) {
  const auto given = conninfo_values(conninfo);
  const auto pick = [&](const char* keyword, const char* env_name) {
    const auto it = given.find(keyword);
    return it != given.end() && !it->second.empty() ? it->second : env_or_empty(env_name);
  };
  ConninfoTarget t;
  t.service = pick("service", "PGSERVICE");
  t.host = pick("host", "PGHOST");
  t.hostaddr = pick("hostaddr", "PGHOSTADDR");
  t.port = pick("port", "PGPORT");
  t.dbname = pick("dbname", "PGDATABASE");
  if (t.dbname.empty()) {
    // libpq's default database is the user's name.
    const std::string user = pick("user", "PGUSER");
    t.dbname = user.empty() ? os_account().name : user;
  }
  if (t.host.empty() && t.hostaddr.empty() && t.service.empty()) t.host = "local-socket";
  if (t.port.empty() && t.service.empty()) t.port = "5432";
  return t;
}

}  // namespace examstore
