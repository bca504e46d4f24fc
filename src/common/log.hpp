// common/log.hpp: the library's internal logger over Config::log_sink.
//
// A message is formatted only when the sink is set and the level is enabled, so a silent store
// pays one branch. A sink that throws is caught and counted: logging never fails an operation.
// Callers must pass redacted endpoints, never a URL or conninfo (they may hold a password).
// Thread-safety: all methods are thread-safe (the sink must be too; see logging.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "examstore/logging.hpp"

namespace examstore::obs {

class Logger {
 public:
  Logger() = default;
  Logger(LogSink sink, LogLevel level) : sink_(std::move(sink)), level_(level) {}
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(LogLevel level) const noexcept { return sink_ && level >= level_; }

  template <typename... Args>
  void log(LogLevel level, std::string_view component, fmt::format_string<Args...> format,
           Args&&... args) const noexcept {
    if (!enabled(level)) return;
    try {
      emit(level, component, fmt::format(format, std::forward<Args>(args)...));
    } catch (...) {  // formatting ran out of memory: drop the message
      sink_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  /// Messages dropped because the sink threw.
  std::int64_t sink_errors() const noexcept { return sink_errors_.load(std::memory_order_relaxed); }

  /// A logger with no sink, for objects built without a Store (tests, tools).
  static const Logger& silent();

 private:
  void emit(LogLevel level, std::string_view component, std::string_view message) const noexcept;

  LogSink sink_;
  LogLevel level_ = LogLevel::kInfo;
  mutable std::atomic<std::int64_t> sink_errors_{0};
};

}  // namespace examstore::obs
