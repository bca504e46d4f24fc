// tests/unit/password_test.cpp: the Argon2id helpers of src/security/password.cpp.
#include <catch2/catch.hpp>
#include <string>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "security/password.hpp"

namespace sec = examstore::security;

namespace {
examstore::PasswordOptions factors(std::uint64_t ops, std::size_t mem) {
  examstore::PasswordOptions o;
  o.opslimit = ops;
  o.memlimit = mem;
  return o;
}
}  // namespace

TEST_CASE("password hashes are Argon2id strings that verify only the password", "[password]") {
  const auto fast = factors(1, 8192);
  const std::string h = sec::hash_password("correct horse", fast);
  CHECK_THAT(h, Catch::StartsWith("$argon2id$v=19$m=8,t=1,p=1$"));
  CHECK(sec::hash_password("correct horse", fast) != h);  // salted
  CHECK(sec::verify_password(h, "correct horse"));
  CHECK_FALSE(sec::verify_password(h, "correct hors"));
  CHECK_FALSE(sec::verify_password(h, ""));
  CHECK_FALSE(sec::verify_password("not a hash", "correct horse"));
}

TEST_CASE("only a hash with weaker factors needs a rehash", "[password]") {
  const std::string weak = sec::hash_password("pw-1234567890", factors(1, 8192));
  const std::string strong = sec::hash_password("pw-1234567890", factors(2, 16384));
  CHECK_FALSE(sec::needs_rehash(weak, factors(1, 8192)));
  CHECK(sec::needs_rehash(weak, factors(2, 8192)));
  CHECK(sec::needs_rehash(weak, factors(1, 16384)));
  CHECK_FALSE(sec::needs_rehash(strong, factors(2, 16384)));
  CHECK_FALSE(sec::needs_rehash(strong, factors(1, 8192)));  // never a downgrade
  CHECK(sec::needs_rehash("$2b$10$bcrypt-or-garbage", factors(1, 8192)));
}

TEST_CASE("password and factor checks name the field and never echo the password", "[password]") {
  examstore::PasswordOptions o = factors(1, 8192);
  o.min_length = 10;
  const std::string secret = "s3cret!";
  try {
    sec::check_password("user create", "password", secret, o);
    FAIL("accepted a short password");
  } catch (const examstore::Error& e) {
    CHECK(e.code() == examstore::ErrorCode::kInvalidArgument);
    CHECK(e.message() == "password: must be 10..1024 bytes, got 7");
    CHECK(std::string(e.what()).find(secret) == std::string::npos);
  }
  CHECK_THROWS_AS(sec::check_password("x", "password", std::string("0123456789\0", 11), o),
                  examstore::Error);
  CHECK_NOTHROW(sec::check_password("x", "password", std::string(1024, 'a'), o));
  CHECK_THROWS_AS(sec::check_password("x", "password", std::string(1025, 'a'), o),
                  examstore::Error);
  CHECK_THROWS_AS(sec::check_password_options("config", factors(0, 8192)), examstore::Error);
  CHECK_THROWS_AS(sec::check_password_options("config", factors(1, 4096)), examstore::Error);
  CHECK_NOTHROW(sec::check_password_options("config", examstore::PasswordOptions{}));
}
