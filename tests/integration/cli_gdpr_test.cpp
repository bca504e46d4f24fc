// examstore keys rotate and examstore gdpr export/erase as an operator runs them, against the
// test servers, with the keys given in the environment as a deployment gives them.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "common/json.hpp"
#include "examstore/store.hpp"
#include "security/crypto.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::test::CommandResult;

std::string env_keys(const std::vector<examstore::DataKey>& keys) {
  std::string out;
  for (const auto& k : keys) {
    if (!out.empty()) out += ',';
    out += k.id + ":" + examstore::crypto::base64_encode(k.key);
  }
  return out;
}

struct Cli {
  std::string prefix;
  std::string database_url;
  CommandResult run(const std::string& env, const std::string& args) const {
    return examstore::test::run_command("EXAMSTORE_KEY_PREFIX=" + prefix + " " + env +
                                        " USER=gdpr-test " EXAMSTORE_CLI_PATH +
                                        std::string(" --redis ") + examstore::test::redis_url() +
                                        " --database '" + database_url + "' " + args + " 2>&1");
  }
};

}  // namespace

TEST_CASE("cli: gdpr export and erase, and keys rotate, with keys from the environment",
          "[cli][personal_data][postgres][redis]") {
  examstore::test::TempDatabase db;
  examstore::test::TempDir dir("gdpr");
  const auto k1 = examstore::test::test_data_key("test1");
  const auto k2 = examstore::test::test_data_key("k2");
  examstore::Config c;
  c.with_redis_url(examstore::test::redis_url());
  c.with_database_url(db.url());
  c.migrate_on_open = true;
  c.key_prefix = examstore::test::unique_name("cg");
  c.security.personal_data.keys = {k1};
  examstore::StudentId id = 0;
  {
    auto store = examstore::Store::open(c);
    examstore::NewStudent s;
    s.external_no = "cli-1";
    s.name = "Ann Lee";
    s.email = "ann@example.org";
    s.phone = "+1 555 0100";
    id = store->students().create(s).id;
  }
  const Cli cli{c.key_prefix, db.url()};
  const std::string with_k1 = "EXAMSTORE_DATA_KEYS=" + env_keys({k1});
  const std::string student = " --student " + std::to_string(id);

  const std::string out = dir / "export.json";
  CommandResult r = cli.run(with_k1, "gdpr export" + student + " --out " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("exported"));
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  const auto doc = examstore::json::parse(text.str());
  CHECK(doc.find("student")->find("email")->text == "ann@example.org");

  r = cli.run(with_k1, "gdpr export" + student);  // to stdout
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("\"phone\":\"+1 555 0100\""));

  r = cli.run("EXAMSTORE_DATA_KEYS=" + env_keys({k1, k2}) + " EXAMSTORE_DATA_KEY_ACTIVE=k2",
              "keys rotate --batch 1");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("active key k2: checked 2 value(s), re-encrypted 2"));
  CHECK(db.query_value("SELECT count(*) FROM students WHERE email LIKE 'v1:k2:%'") == "1");

  const std::string with_k2 = "EXAMSTORE_DATA_KEYS=" + env_keys({k2});
  r = cli.run(with_k2, "--json gdpr erase" + student);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("\"already_erased\":false") &&
                           Catch::Contains("\"cache_keys_removed\":"));
  r = cli.run(with_k2, "gdpr erase" + student);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("already erased"));
  CHECK(db.query_value("SELECT name || ' ' || coalesce(email, '-') FROM students WHERE id = " +
                       std::to_string(id)) == "erased-" + std::to_string(id) + " -");
  CHECK(db.query_value("SELECT count(*) FROM audit_log WHERE actor_name = 'cli:gdpr-test'"
                       " AND action IN ('gdpr.export', 'keys.rotate', 'gdpr.erase')") == "5");

  r = cli.run(with_k2, "gdpr erase --student 999999");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("does not exist"));
  for (const char* bad : {"gdpr", "gdpr export", "gdpr erase --student x", "gdpr forget", "keys",
                          "keys rotate --batch 0"}) {
    INFO(bad);
    CHECK(cli.run(with_k2, bad).exit_code == 2);
  }
  r = cli.run("EXAMSTORE_DATA_KEYS=k1:notbase64", "gdpr export" + student);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("EXAMSTORE_DATA_KEYS") && !Catch::Contains("notbase64"));
}
