// grading/grading_keys.hpp: the Redis keys of grading records (docs/keys.md), built from
// Config::key_prefix and the prefixes of GradingOptions.
//
// Every key carries one hash tag per entity so that everything of one entity (a value, its
// generation, a ranking and its markers) sits in one Redis Cluster slot:
//   <p>class:{c:ID}                 class (cache-aside value)
//   <p>class:{c:ID}:members         its member list (cache-aside value)
//   <p>assignment:{a:ID}            assignment (cache-aside value)
//   <p>grading:{t:ID}:result        a task's current results (cache-aside value)
//   <p>analytics:{<tag>}:stats      statistics of a scope (cache-aside value)
//   <p>ranking:{<tag>}              ranking of a scope (sorted set, member = 19-digit id)
//   <p>ranking:{<tag>}:gen          its generation (guards rebuilds against completions)
//   <p>ranking:{<tag>}:none         marker of a ranking known to be empty
// where <tag> is t:ID, a:ID, c:ID or e:ID: an exam's ranking and statistics carry the exam's own
// tag {e:ID}, so they sit beside the exam's other keys. Only numeric ids (checked > 0) and the
// validated prefixes reach a key.
//
// Thread-safety: immutable after construction.
#pragma once

#include <string>

#include "examstore/config.hpp"
#include "examstore/grading.hpp"

namespace examstore::grading {

class GradingKeys {
 public:
  /// `prefix` is "" or Config::key_prefix + ":"; the options were validated by Config.
  GradingKeys(std::string prefix, const GradingOptions& o);

  std::string school_class(ClassId id) const;
  std::string members(ClassId id) const;
  std::string assignment(AssignmentId id) const;
  std::string results(GradingTaskId id) const;
  std::string statistics(const Scope& s) const;
  std::string ranking(const Scope& s) const;
  std::string ranking_generation(const Scope& s) const;
  std::string ranking_empty(const Scope& s) const;

  /// The hash tag text of a scope ("a:7"); throws kInvalidArgument unless id > 0.
  static std::string tag(const Scope& s);

 private:
  std::string class_;
  std::string assignment_;
  std::string result_;
  std::string analytics_;
  std::string ranking_;
};

}  // namespace examstore::grading
