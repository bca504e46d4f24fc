// Sealing of personal fields and the blind index (src/security/crypto.hpp), and the parsing and
// validation of their keys in Config.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "common/config_check.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "security/crypto.hpp"

namespace {

using examstore::Config;
using examstore::DataKey;
using examstore::Error;
using examstore::ErrorCode;
using examstore::PersonalDataOptions;
namespace crypto = examstore::crypto;

const std::string kRawA(32, 'a');
const std::string kRawB(32, 'b');

ErrorCode code_of_open(const std::string& stored, const crypto::SecretKey& key,
                       const std::string& ad) {
  try {
    crypto::open(stored, key, ad, "test");
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // opened: not what the callers expect
}

// Runs Config::from_env with the variables set, and restores them.
struct EnvVar {
  EnvVar(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~EnvVar() { unsetenv(name_); }
  const char* name_;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    return e.what();
  }
  FAIL("no error");
  return {};
}

}  // namespace

TEST_CASE("a sealed value opens under its key and additional data only", "[crypto]") {
  const crypto::SecretKey a(kRawA), b(kRawB);
  const std::string sealed = crypto::seal("ann@example.org", "k1", a, "student:1:email");
  CHECK(sealed.rfind("v1:k1:", 0) == 0);
  CHECK(sealed.find('@') == std::string::npos);
  CHECK(crypto::key_id_of(sealed) == std::optional<std::string>("k1"));
  CHECK(crypto::open(sealed, a, "student:1:email", "test") == "ann@example.org");
  // a fresh nonce every time
  CHECK(crypto::seal("ann@example.org", "k1", a, "student:1:email") != sealed);

  CHECK(code_of_open(sealed, b, "student:1:email") == ErrorCode::kDataIntegrity);
  CHECK(code_of_open(sealed, a, "student:2:email") == ErrorCode::kDataIntegrity);
  CHECK(code_of_open(sealed, a, "student:1:phone") == ErrorCode::kDataIntegrity);
  std::string flipped = sealed;
  flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
  CHECK(code_of_open(flipped, a, "student:1:email") == ErrorCode::kDataIntegrity);
  CHECK(code_of_open("ann@example.org", a, "student:1:email") == ErrorCode::kDataIntegrity);
  CHECK(code_of_open("v1:k1:", a, "student:1:email") == ErrorCode::kDataIntegrity);
  CHECK(code_of_open("v1:k1:!!!", a, "student:1:email") == ErrorCode::kDataIntegrity);
  CHECK_FALSE(crypto::key_id_of("plain text").has_value());
}

TEST_CASE("the blind index ignores case and surrounding spaces and depends on its key",
          "[crypto]") {
  const crypto::SecretKey a(kRawA), b(kRawB);
  const std::string idx = crypto::blind_index("ann@example.org", a);
  CHECK(idx.size() == 64);
  CHECK(crypto::blind_index("  Ann@Example.ORG\t", a) == idx);
  CHECK(crypto::blind_index("bob@example.org", a) != idx);
  CHECK(crypto::blind_index("ann@example.org", b) != idx);
  CHECK(crypto::blind_index("   ", a).empty());
  CHECK(crypto::normalise_email(" A.B@C.D ") == "a.b@c.d");
}

TEST_CASE("a keyring seals under the active key and opens every configured one", "[crypto]") {
  PersonalDataOptions one;
  one.keys = {DataKey{"k1", kRawA}};
  PersonalDataOptions both;
  both.keys = {DataKey{"k1", kRawA}, DataKey{"k2", kRawB}};
  const crypto::Keyring r1(one, false);
  const crypto::Keyring r2(both, false);
  CHECK(r2.active_key_id() == "k2");  // the last one by default

  const std::string old = r1.seal(7, "phone", "+41 44 123 45 67");
  CHECK(r2.open(7, "phone", old) == "+41 44 123 45 67");
  CHECK(r2.needs_reseal(old));
  const std::string fresh = r2.seal(7, "phone", "+41 44 123 45 67");
  CHECK_FALSE(r2.needs_reseal(fresh));
  CHECK(r1.seal(7, "phone", "").empty());
  CHECK(r1.open(7, "phone", "").empty());
  try {
    r1.open(7, "phone", fresh);
    FAIL("opened under a key that is not configured");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kDataIntegrity);
    CHECK_THAT(e.what(), Catch::Contains("k2"));
  }
  // Derived index key (no blind_index_key): stable for the same active key.
  CHECK(r1.blind_index("a@b.c") == crypto::Keyring(one, false).blind_index("A@B.C"));

  const crypto::Keyring none(PersonalDataOptions{}, false);
  CHECK_FALSE(none.can_seal());
  CHECK(none.seal(1, "email", "").empty());
  const auto msg = message_of([&] { none.seal(1, "email", "a@b.c"); });
  CHECK_THAT(msg, Catch::Contains("config.security.personal_data.keys"));
  const crypto::Keyring ephemeral(PersonalDataOptions{}, true);
  CHECK(ephemeral.open(1, "email", ephemeral.seal(1, "email", "a@b.c")) == "a@b.c");
}

TEST_CASE("data keys come from the environment and bad ones are named without their bytes",
          "[crypto][config]") {
  const std::string b64a = crypto::base64_encode(kRawA);
  const std::string b64b = crypto::base64_encode(kRawB);
  {
    EnvVar keys("EXAMSTORE_DATA_KEYS", "k1:" + b64a + ",k2:" + b64b);
    EnvVar active("EXAMSTORE_DATA_KEY_ACTIVE", "k1");
    EnvVar index("EXAMSTORE_BLIND_INDEX_KEY", b64b);
    const Config c = Config::from_env();
    const auto& p = c.security.personal_data;
    REQUIRE(p.keys.size() == 2);
    CHECK(p.keys[0].id == "k1");
    CHECK(p.keys[0].key == kRawA);
    CHECK(p.keys[1].key == kRawB);
    CHECK(p.active_key == "k1");
    CHECK(p.blind_index_key == kRawB);
    CHECK_NOTHROW(examstore::validate(c));
  }
  const std::string short_key = crypto::base64_encode("0123456789");
  for (const std::string& bad : {std::string("k1"), std::string("k1:@@@"), "k1:" + short_key,
                                 "bad id!:" + b64a, ":" + b64a}) {
    INFO(bad);
    EnvVar keys("EXAMSTORE_DATA_KEYS", bad);
    const auto msg = message_of([] { Config::from_env(); });
    CHECK_THAT(msg, Catch::Contains("EXAMSTORE_DATA_KEYS"));
    CHECK_THAT(msg, !Catch::Contains(b64a) && !Catch::Contains(short_key));
  }
  {
    EnvVar index("EXAMSTORE_BLIND_INDEX_KEY", short_key);
    const auto msg = message_of([] { Config::from_env(); });
    CHECK_THAT(msg, Catch::Contains("EXAMSTORE_BLIND_INDEX_KEY") && !Catch::Contains(short_key));
  }

  Config c;
  c.security.personal_data.keys = {DataKey{"k1", "short secret"}};
  auto msg = message_of([&] { examstore::validate(c); });
  CHECK_THAT(msg, Catch::Contains("security.personal_data.keys") && Catch::Contains("32 bytes") &&
                      !Catch::Contains("short secret"));
  c.security.personal_data.keys = {DataKey{"k1", kRawA}, DataKey{"k1", kRawB}};
  CHECK_THAT(message_of([&] { examstore::validate(c); }), Catch::Contains("repeated"));
  c.security.personal_data.keys = {DataKey{"k1", kRawA}};
  c.security.personal_data.active_key = "k9";
  CHECK_THAT(message_of([&] { examstore::validate(c); }), Catch::Contains("active_key"));
  c.security.personal_data.active_key.clear();
  c.security.personal_data.blind_index_key = "x";
  CHECK_THAT(message_of([&] { examstore::validate(c); }), Catch::Contains("blind_index_key"));
}
