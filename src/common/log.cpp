#include "common/log.hpp"

namespace examstore {

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

std::optional<LogLevel> parse_log_level(std::string_view s) noexcept {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (s == to_string(l)) return l;
  }
  return std::nullopt;
}

namespace obs {

const Logger& Logger::silent() {
  static const Logger logger;
  return logger;
}

void Logger::emit(LogLevel level, std::string_view component,
                  std::string_view message) const noexcept {
  try {
    sink_(level, component, message);
  } catch (...) {  // documented: a throwing sink loses that message only
    sink_errors_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace obs
}  // namespace examstore
