// Fuzz target: the URL and conninfo parsers of examstore/config.hpp.
#include <string>
#include <string_view>

#include "examstore/config.hpp"
#include "fuzz/fuzz_check.hpp"
#include "fuzz/fuzz_targets.hpp"

namespace examstore::fuzz {

int fuzz_one_config_url(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const RedisOptions o = parse_redis_url(text);
    require(o.port >= 1 && o.port <= 65535, "redis port out of range");
    require(o.db >= 0, "negative redis db");
    require(!o.host.empty(), "empty redis host");
    require(o.host.find_first_of(std::string("\r\n\0 ", 4)) == std::string::npos,
            "redis host with a control character or space");
    (void)o.redacted();
  } catch (const Error& e) {
    require_invalid_argument(e);
  }
  try {
    const PostgresOptions o = parse_postgres_url(text);
    const std::string r = o.redacted();
    require(o.conninfo == text, "conninfo not kept verbatim");
  } catch (const Error& e) {
    require_invalid_argument(e);
  }
  try {
    Config c;
    c.with_redis_url(text).with_database_url(text);
  } catch (const Error& e) {
    require_invalid_argument(e);
  }
  return 0;
}

}  // namespace examstore::fuzz
