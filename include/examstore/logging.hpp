// examstore/logging.hpp: the pluggable log sink through which the library reports what an
// operator needs to know (reconnects, retries, in-doubt commits, dead letters, journal replay,
// lost subscriptions, migrations).
//
// The library never writes to stdout or stderr. Set Config::log_sink to receive messages; an
// empty sink (the default) keeps the library silent, and a message below Config::log_level is
// not even formatted. Messages never contain a password or any other secret: endpoints are
// given in their redacted form.
//
// Thread-safety: the sink is called from any thread of the library (callers' threads, the
// write-behind thread, the subscriber thread), possibly concurrently: it must be thread-safe.
// An exception thrown by the sink is caught and counted (MetricsSnapshot::log_sink_errors);
// the library carries on.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace examstore {

/// How much a message matters, in increasing order.
enum class LogLevel {
  kDebug,  ///< detail for developers (connections made)
  kInfo,   ///< normal but notable events (migrations applied, journal replayed)
  kWarn,   ///< degraded, recovering by itself (reconnects, retried batches, lost subscriptions)
  kError,  ///< needs an operator (dead letters, in-doubt commits)
};

/// "debug", "info", "warn", "error".
std::string_view to_string(LogLevel level) noexcept;
/// The inverse of to_string; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view s) noexcept;

/// Receives one message. `component` names the part of the library ("redis", "postgres",
/// "write_behind", "near_cache", "migrations"); `message` is one line of plain text. The views
/// are valid only during the call.
using LogSink =
    std::function<void(LogLevel level, std::string_view component, std::string_view message)>;

}  // namespace examstore
