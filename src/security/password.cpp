#include "security/password.hpp"

#include <sodium.h>

#include <array>
#include <cstdio>

#include "examstore/error.hpp"

namespace examstore::security {
namespace {

static_assert(crypto_pwhash_ALG_DEFAULT == crypto_pwhash_ALG_ARGON2ID13,
              "crypto_pwhash_str must be Argon2id");

void init_sodium() {
  if (sodium_init() < 0) {
    throw Error(ErrorCode::kInternal, "password hash", "libsodium failed to initialise");
  }
}

[[noreturn]] void invalid(const std::string& operation, std::string_view field,
                          const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, operation, std::string(field) + ": " + why);
}

}  // namespace

void check_password_options(const std::string& operation, const PasswordOptions& o) {
  if (o.opslimit < crypto_pwhash_OPSLIMIT_MIN || o.opslimit > crypto_pwhash_OPSLIMIT_MAX) {
    invalid(operation, "security.passwords.opslimit",
            "must be at least " + std::to_string(crypto_pwhash_OPSLIMIT_MIN) + ", got " +
                std::to_string(o.opslimit));
  }
  if (o.memlimit < crypto_pwhash_MEMLIMIT_MIN || o.memlimit > crypto_pwhash_MEMLIMIT_MAX) {
    invalid(operation, "security.passwords.memlimit",
            "must be at least " + std::to_string(crypto_pwhash_MEMLIMIT_MIN) + " bytes, got " +
                std::to_string(o.memlimit));
  }
  if (o.min_length < 1 || o.min_length > kMaxPasswordBytes) {
    invalid(operation, "security.passwords.min_length",
            "must be 1.." + std::to_string(kMaxPasswordBytes) + ", got " +
                std::to_string(o.min_length));
  }
}

void check_password(const std::string& operation, std::string_view field, std::string_view password,
                    const PasswordOptions& options) {
  if (password.size() < options.min_length || password.size() > kMaxPasswordBytes) {
    invalid(operation, field,
            "must be " + std::to_string(options.min_length) + ".." +
                std::to_string(kMaxPasswordBytes) + " bytes, got " +
                std::to_string(password.size()));
  }
  if (password.find('\0') != std::string_view::npos) {
    invalid(operation, field, "must not contain a NUL byte");
  }
}

std::string hash_password(std::string_view password, const PasswordOptions& options) {
  init_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str(out.data(), password.data(), password.size(), options.opslimit,
                        options.memlimit) != 0) {
    throw Error(
        ErrorCode::kResourceExhausted, "password hash",
        "not enough memory for an Argon2id hash of " + std::to_string(options.memlimit) + " bytes");
  }
  return std::string(out.data());
}

bool verify_password(const std::string& hash, std::string_view password) {
  init_sodium();
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool needs_rehash(const std::string& hash, const PasswordOptions& options) {
  init_sodium();
  const int differs =
      crypto_pwhash_str_needs_rehash(hash.c_str(), options.opslimit, options.memlimit);
  if (differs <= 0) return differs < 0;  // -1: not an Argon2id string of ours
  // Other factors: rehash only when they are weaker, so that two processes configured
  // differently (a rolling upgrade) do not rewrite each other's hashes on every login.
  unsigned long m_kib = 0;
  unsigned long t = 0;
  unsigned long p = 0;
  if (std::sscanf(hash.c_str(), "$argon2id$v=19$m=%lu,t=%lu,p=%lu$", &m_kib, &t, &p) != 3) {
    return true;
  }
  return t < options.opslimit || m_kib < options.memlimit / 1024;
}

}  // namespace examstore::security
