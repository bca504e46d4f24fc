#include "security/crypto.hpp"

#include <sodium.h>

#include <algorithm>

#include "examstore/error.hpp"

namespace examstore::crypto {
namespace {

constexpr std::string_view kVersion = "v1:";
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::string_view kIndexDerivation = "examstore blind index v1";
constexpr const char* kEphemeralId = "mem";

void init_sodium() {
  if (sodium_init() < 0) {
    throw Error(ErrorCode::kInternal, "personal data", "libsodium could not be initialised");
  }
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

[[noreturn]] void integrity(const std::string& operation, const std::string& why) {
  throw Error(ErrorCode::kDataIntegrity, operation, why);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

SecretKey::SecretKey(std::string_view raw) {
  if (raw.size() == kKeyBytes) std::copy(raw.begin(), raw.end(), bytes_.begin());
}

SecretKey SecretKey::random() {
  init_sodium();
  SecretKey k;
  randombytes_buf(k.bytes_.data(), k.bytes_.size());
  return k;
}

SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

std::string seal(std::string_view plaintext, std::string_view key_id, const SecretKey& key,
                 std::string_view ad) {
  init_sodium();
  std::string box(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(box.data());
  randombytes_buf(out, kNonceBytes);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + kNonceBytes, &written, bytes(plaintext),
                                             plaintext.size(), bytes(ad), ad.size(), nullptr, out,
                                             key.data());
  box.resize(kNonceBytes + static_cast<std::size_t>(written));
  std::string result(kVersion);
  result += key_id;
  result += ':';
  result += base64_encode(box);
  return result;
}

std::optional<std::string> key_id_of(std::string_view stored) {
  if (stored.substr(0, kVersion.size()) != kVersion) return std::nullopt;
  const auto rest = stored.substr(kVersion.size());
  const auto colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return std::string(rest.substr(0, colon));
}

std::string open(std::string_view stored, const SecretKey& key, std::string_view ad,
                 const std::string& operation) {
  init_sodium();
  const auto id = key_id_of(stored);
  if (!id) integrity(operation, "a personal field is not in the sealed format");
  const auto box = base64_decode(stored.substr(kVersion.size() + id->size() + 1));
  if (!box || box->size() < kNonceBytes + kTagBytes) {
    integrity(operation, "a sealed personal field is truncated or not base64");
  }
  std::string plain(box->size() - kNonceBytes - kTagBytes, '\0');
  unsigned long long written = 0;
  const auto* in = bytes(*box);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &written, nullptr, in + kNonceBytes,
          box->size() - kNonceBytes, bytes(ad), ad.size(), in, key.data()) != 0) {
    integrity(operation, "a sealed personal field does not open under key '" + *id + "' for " +
                             std::string(ad) + " (tampered or moved)");
  }
  plain.resize(static_cast<std::size_t>(written));
  return plain;
}

std::string normalise_email(std::string_view email) {
  while (!email.empty() && is_space(email.front())) email.remove_prefix(1);
  while (!email.empty() && is_space(email.back())) email.remove_suffix(1);
  std::string out(email);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string blind_index(std::string_view email, const SecretKey& key) {
  const std::string norm = normalise_email(email);
  if (norm.empty()) return {};
  init_sodium();
  unsigned char hash[32];
  crypto_generichash(hash, sizeof hash, bytes(norm), norm.size(), key.data(), kKeyBytes);
  char hex[2 * sizeof hash + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return hex;
}

std::string base64_encode(std::string_view in) {
  init_sodium();
  const std::size_t n = sodium_base64_encoded_len(in.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(n, '\0');
  sodium_bin2base64(out.data(), n, bytes(in), in.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(n - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  init_sodium();
  std::string out(text.size(), '\0');
  std::size_t n = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(n);
  return out;
}

std::string student_ad(StudentId id, std::string_view field) {
  return "student:" + std::to_string(id) + ":" + std::string(field);
}

Keyring::Keyring(const PersonalDataOptions& options, bool ephemeral_allowed) {
  init_sodium();
  for (const DataKey& k : options.keys) keys_.emplace(k.id, SecretKey(k.key));
  if (keys_.empty() && ephemeral_allowed) keys_.emplace(kEphemeralId, SecretKey::random());
  if (!options.active_key.empty()) {
    active_ = options.active_key;
  } else if (!options.keys.empty()) {
    active_ = options.keys.back().id;
  } else if (!keys_.empty()) {
    active_ = kEphemeralId;
  }
  if (!options.blind_index_key.empty()) {
    index_key_ = SecretKey(options.blind_index_key);
  } else if (!keys_.empty()) {
    // Derived from the active key: changing the active key then changes the index, which
    // rotate_keys() rebuilds (docs/personal-data.md recommends a key of its own).
    unsigned char derived[kKeyBytes];
    crypto_generichash(derived, sizeof derived, bytes(kIndexDerivation), kIndexDerivation.size(),
                       keys_.at(active_).data(), kKeyBytes);
    index_key_ = SecretKey(std::string_view(reinterpret_cast<const char*>(derived), kKeyBytes));
    sodium_memzero(derived, sizeof derived);
  } else {
    index_key_ = SecretKey::random();  // nothing is sealed, so nothing is indexed either
  }
}

void Keyring::require_key(std::string_view field, std::string_view value) const {
  if (value.empty() || !keys_.empty()) return;
  throw Error(ErrorCode::kInvalidArgument, kKeysField,
              "no data key is configured, so a student's " + std::string(field) +
                  " cannot be stored on PostgreSQL (set " + kKeysField +
                  " or EXAMSTORE_DATA_KEYS)");
}

std::string Keyring::seal(StudentId id, std::string_view field, std::string_view plaintext) const {
  if (plaintext.empty()) return {};
  require_key(field, plaintext);
  return crypto::seal(plaintext, active_, keys_.at(active_), student_ad(id, field));
}

std::string Keyring::open(StudentId id, std::string_view field, std::string_view stored) const {
  if (stored.empty()) return {};
  const std::string op = "personal data open";
  const auto key_id = key_id_of(stored);
  if (!key_id)
    integrity(op,
              "the " + std::string(field) + " of student " + std::to_string(id) + " is not sealed");
  const auto it = keys_.find(*key_id);
  if (it == keys_.end()) {
    integrity(op, "the " + std::string(field) + " of student " + std::to_string(id) +
                      " is sealed under key '" + *key_id + "', which is not configured");
  }
  return crypto::open(stored, it->second, student_ad(id, field), op);
}

bool Keyring::needs_reseal(std::string_view stored) const {
  if (stored.empty()) return false;
  const auto key_id = key_id_of(stored);
  return !key_id || *key_id != active_;
}

std::string Keyring::blind_index(std::string_view email) const {
  return crypto::blind_index(email, index_key_);
}

Student Keyring::seal_student(Student s) const {
  s.email = seal(s.id, "email", s.email);
  s.phone = seal(s.id, "phone", s.phone);
  return s;
}

Student Keyring::open_student(Student s) const {
  s.email = open(s.id, "email", s.email);
  s.phone = open(s.id, "phone", s.phone);
  return s;
}

}  // namespace examstore::crypto
