// Fuzz target: the Redis key encoder (repo/keys.hpp) and the paper key, the one key part made
// of caller text. Properties: every key of an exam carries exactly that exam's hash tag (never
// another exam's), keys of distinct ids never collide, non-positive ids are refused, and a
// PaperKey that parses holds no character that could open or close a hash tag.
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_check.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/paper_store.hpp"
#include "fuzz/fuzz_check.hpp"
#include "fuzz/fuzz_targets.hpp"
#include "repo/keys.hpp"

namespace examstore::fuzz {

namespace {

struct Reader {
  const std::uint8_t* data;
  std::size_t size;
  std::int64_t id() {
    std::uint64_t v = 0;
    const std::size_t n = size < 8 ? size : 8;
    std::memcpy(&v, data, n);
    data += n;
    size -= n;
    // small ids are the interesting ones: fold most values into -3..300
    if ((v & 0x300) != 0x300) return static_cast<std::int64_t>(v % 304) - 3;
    return static_cast<std::int64_t>(v);
  }
  std::string text(std::size_t max) {
    const std::size_t n = size < max ? size : max;
    std::string s(reinterpret_cast<const char*>(data), n);
    data += n;
    size -= n;
    return s;
  }
};

/// Keys of exam `id`, each of which must carry the tag {e:id}.
std::vector<std::string> exam_keys(const keys::KeySchema& k, std::int64_t id,
                                   std::int64_t student) {
  return {k.exam(id),
          keys::generation(k.exam(id)),
          k.presence_heartbeats(id),
          k.presence_states(id),
          k.presence_counts(id),
          k.violation_counts(id),
          k.violation_counts_by_student(id),
          k.attempt(id, student),
          k.attempt_answers(id, student)};
}

bool refused(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    require_invalid_argument(e);
    return true;
  }
  return false;
}

}  // namespace

int fuzz_one_key_encoder(const std::uint8_t* data, std::size_t size) {
  Reader in{data, size};
  const std::size_t prefix_len = size > 0 ? data[0] % 40 : 0;
  if (size > 0) in.data++, in.size--;
  Config config;
  config.key_prefix = in.text(prefix_len);
  if (refused([&] { validate(config); })) return 0;
  const std::string p = config.key_prefix.empty() ? "" : config.key_prefix + ":";
  require(p.find_first_of("{}") == std::string::npos, "a valid prefix holds a brace");
  const keys::KeySchema k(p);
  const std::int64_t a = in.id();
  const std::int64_t b = in.id();
  const std::int64_t s = in.id();

  if (a <= 0 || s <= 0) {
    require(refused([&] { (void)k.attempt(a, s); }), "attempt key of a non-positive id");
  } else {
    const std::string tag = "e:" + std::to_string(a);
    for (const auto& key : exam_keys(k, a, s)) {
      require(key.compare(0, p.size(), p) == 0, "key without the prefix");
      require(hash_tag(key) == tag, "exam key without its own hash tag");
    }
    require(hash_tag(k.student(a)) == "s:" + std::to_string(a), "student key tag");
    if (b > 0 && b != a) {
      const auto ka = exam_keys(k, a, s);
      const auto kb = exam_keys(k, b, s);
      for (const auto& x : ka) {
        for (const auto& y : kb) require(x != y, "keys of two exams collide");
        require(hash_tag(x) != hash_tag(kb[0]), "a key of one exam carries another's tag");
      }
      require(k.student(a) != k.student(b), "student keys collide");
      if (s != b) {
        require(k.attempt(a, s) != k.attempt(a, b), "attempt keys of two students collide");
      }
    }
    require(k.student(a) != k.exam(a), "student and exam keys collide");
  }

  // The rest is a paper key as a caller would type it.
  const std::string text = in.text(in.size);
  try {
    const PaperKey pk = PaperKey::parse(text);
    require(pk.str() == text, "paper key does not round-trip");
    for (const std::string* part : {&pk.school, &pk.department, &pk.major, &pk.course}) {
      require(!part->empty(), "empty paper key part");
      require(part->find_first_of("{}:/*\r\n ") == std::string::npos,
              "paper key part with a key-forging character");
    }
    const std::string key = p + "paper:{" + pk.str() + "}:order";
    require(hash_tag(key) == pk.str(), "paper key tag");
  } catch (const Error& e) {
    require_invalid_argument(e);
  }
  return 0;
}

}  // namespace examstore::fuzz
