// security/password.hpp: Argon2id password hashes through libsodium's crypto_pwhash_str.
//
// crypto_pwhash_str in libsodium 1.0.18 is Argon2id v1.3 (crypto_pwhash_ALG_DEFAULT ==
// crypto_pwhash_ALG_ARGON2ID13; the string starts "$argon2id$v=19$"), with a random salt and the
// work factors encoded in the string, so verification needs nothing but the string. Verification
// compares in constant time (libsodium). No function here ever puts a password into an error.
//
// Thread-safety: pure functions (libsodium is initialised on first use).
#pragma once

#include <string>
#include <string_view>

#include "examstore/config.hpp"

namespace examstore::security {

constexpr std::size_t kMaxPasswordBytes = 1024;

/// Throws Error(kInvalidArgument, operation, "<field>: ...") unless `options` are usable
/// (opslimit >= 1, memlimit >= 8 KiB, within libsodium's limits).
void check_password_options(const std::string& operation, const PasswordOptions& options);

/// Throws Error(kInvalidArgument, operation, "<field>: ...") unless `password` is
/// min_length..1024 bytes without a NUL byte. The message never contains the password.
void check_password(const std::string& operation, std::string_view field, std::string_view password,
                    const PasswordOptions& options);

/// The crypto_pwhash_str string of `password` with the configured factors. Throws
/// kResourceExhausted when the memory for the hash cannot be had.
std::string hash_password(std::string_view password, const PasswordOptions& options);

/// Whether `password` matches `hash` (false for a malformed hash).
bool verify_password(const std::string& hash, std::string_view password);

/// Whether `hash` was made with weaker factors than `options` (or is not an Argon2id string),
/// so that it should be replaced after the next successful verification. Stronger factors are
/// kept: a process configured lower never downgrades a hash.
bool needs_rehash(const std::string& hash, const PasswordOptions& options);

}  // namespace examstore::security
