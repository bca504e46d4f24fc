// security/crypto.hpp: sealing personal fields at rest and their blind index (libsodium).
//
// A sealed value is text, so it fits the existing text columns and the JSON of the hot tier:
//   "v1:<key id>:<base64(nonce || ciphertext)>"
// with XChaCha20-Poly1305 (IETF), a random 24-byte nonce, and additional data that binds the
// value to its place ("student:<id>:<field>"): a value copied to another row or field does not
// open. Base64 (original alphabet) never contains '@', so no sealed email looks like an address.
//
// The blind index of an email is the hex BLAKE2b-256 of the normalised address (ASCII
// whitespace trimmed, ASCII lower-cased), keyed with a 32-byte key of its own.
//
// Keyring holds the configured keys (copies wiped when it is destroyed).
//
// Thread-safety: free functions are pure; a Keyring is immutable after construction.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "examstore/config.hpp"
#include "examstore/model.hpp"

namespace examstore::crypto {

constexpr std::size_t kKeyBytes = 32;
/// The config field named when personal data must be stored and no key is configured.
inline constexpr const char* kKeysField = "config.security.personal_data.keys";

/// A 32-byte key held in memory; wiped (sodium_memzero) when destroyed.
class SecretKey {
 public:
  SecretKey() = default;
  /// `raw` must be exactly kKeyBytes long (checked by the caller).
  explicit SecretKey(std::string_view raw);
  /// kKeyBytes random bytes.
  static SecretKey random();
  SecretKey(const SecretKey& other) : bytes_(other.bytes_) {}
  SecretKey& operator=(const SecretKey& other) = default;
  ~SecretKey();
  const unsigned char* data() const { return bytes_.data(); }

 private:
  std::array<unsigned char, kKeyBytes> bytes_{};
};

/// Seals `plaintext` under `key` (named `key_id` in the result), bound to `ad`.
std::string seal(std::string_view plaintext, std::string_view key_id, const SecretKey& key,
                 std::string_view ad);
/// The key id of a sealed value; nullopt when `stored` is not in the sealed format.
std::optional<std::string> key_id_of(std::string_view stored);
/// Opens a value sealed by seal(). Throws Error(kDataIntegrity, operation) when it is not in
/// the sealed format, or the key or the additional data do not match (tampered, moved).
std::string open(std::string_view stored, const SecretKey& key, std::string_view ad,
                 const std::string& operation);

/// `email` trimmed of ASCII whitespace and ASCII lower-cased.
std::string normalise_email(std::string_view email);
/// The hex keyed BLAKE2b-256 of normalise_email(email); "" for an empty address.
std::string blind_index(std::string_view email, const SecretKey& key);

/// Base64 (original alphabet, padded); decode returns nullopt for invalid input.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

/// The additional data of one field of one student: "student:<id>:<field>".
std::string student_ad(StudentId id, std::string_view field);

/// The keys of personal data, built from Config::security.personal_data (validated already).
class Keyring {
 public:
  /// With no key configured: on the in-memory database (`ephemeral_allowed`) a random key
  /// "mem" lives as long as this object; otherwise sealing a non-empty value throws
  /// Error(kInvalidArgument) naming config.security.personal_data.keys.
  Keyring(const PersonalDataOptions& options, bool ephemeral_allowed);

  bool can_seal() const { return !keys_.empty(); }
  const std::string& active_key_id() const { return active_; }

  /// Throws Error(kInvalidArgument) naming config.security.personal_data.keys when `value` is
  /// not empty and no key can seal it.
  void require_key(std::string_view field, std::string_view value) const;
  /// Seals one field of a student under the active key; "" stays "" (no value).
  std::string seal(StudentId id, std::string_view field, std::string_view plaintext) const;
  /// Opens one stored field; "" stays "". Throws kDataIntegrity for a value that does not open
  /// or names a key that is not configured.
  std::string open(StudentId id, std::string_view field, std::string_view stored) const;
  /// True when `stored` is a value sealed under another key than the active one.
  bool needs_reseal(std::string_view stored) const;
  /// The blind index of an email ("" for none).
  std::string blind_index(std::string_view email) const;

  /// `s` with email and phone sealed (its id must be set).
  Student seal_student(Student s) const;
  /// `s` with email and phone opened.
  Student open_student(Student s) const;

 private:
  std::map<std::string, SecretKey> keys_;
  std::string active_;
  SecretKey index_key_;
};

}  // namespace examstore::crypto
