// cache/redis/redis_subscriber.hpp: Redis pub/sub on one dedicated connection and thread.
//
// The thread owns the connection. It waits with poll() on the socket and on an eventfd that
// other threads signal when the set of channels changes, so it never blocks in hiredis and can
// be stopped at once. When the connection drops (a server restart) it reconnects with backoff
// and subscribes to every channel again. subscribe() returns once the server has confirmed the
// subscription, so a message published after it returns is delivered.
//
// With Sentinel, it connects to the master the resolver names; a lost connection invalidates
// the resolver, so a failover is followed like a restart: reconnect to the new master,
// resubscribe. Messages published during the gap are lost, exactly as across a restart.
//
// Over TLS the same poll() is sound: OpenSSL reads one record at a time (no read-ahead) and
// hiredis reads into a buffer that holds a whole record, so no decrypted reply waits inside
// OpenSSL while poll() sleeps; the connect's PING has read the session tickets.
//
// The same machinery watches the sentinels' failover announcements (sentinel.hpp): a Subscriber
// made with a Connect function connects through it (to the next sentinel when one dies), and
// watch() registers a handler for the Subscriber's lifetime without waiting for a server.
//
// Thread-safety: subscribe(), watch() and the returned handles may be used from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis/redis_connection.hpp"
#include "cache/redis/redis_tls.hpp"
#include "cache/redis/sentinel.hpp"
#include "common/log.hpp"

namespace examstore::redis {

class Subscriber {
 public:
  /// Reports lost connections through `log` (nullptr: silent). With `resolver`, connects to the
  /// master it names (Sentinel).
  explicit Subscriber(RedisOptions options, const obs::Logger* log = nullptr,
                      std::shared_ptr<SentinelResolver> resolver = nullptr);

  /// Makes the connection (throws examstore::Error when it cannot); called again, with backoff
  /// from 50 ms to 1 s, after each failure or lost connection.
  using Connect = std::function<std::unique_ptr<Connection>()>;
  /// Connects through `connect`. `options` gives the TLS files and the timeouts. A lost
  /// connection is logged (component `component`) as "<what> subscription to <options> lost
  /// (<why>); <consequence>".
  struct Purpose {
    std::string component;
    std::string what;
    std::string consequence;
  };
  Subscriber(RedisOptions options, const obs::Logger& log, Connect connect, Purpose purpose);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  /// Registers `handler` for `channel`; waits (up to command_timeout) until the server confirms.
  /// Throws kUnavailable/kTimeout when it cannot; the registration is then undone.
  std::unique_ptr<Subscription> subscribe(std::string_view channel, MessageHandler handler);

  /// Removes one handler; waits until it is not running (unless called from the handler) and,
  /// when it was the channel's last, until the server confirmed the UNSUBSCRIBE (up to
  /// command_timeout), so that a publish after it returns no longer counts this client.
  void unsubscribe(const std::string& channel, std::uint64_t id);

  /// Registers `handler` for `channel` for as long as this Subscriber lives, subscribing now if
  /// connected and on every (re)connection; returns at once.
  void watch(std::string_view channel, MessageHandler handler);

  /// True while the connection is up.
  bool connected();

 private:
  void run();
  bool connect_and_resubscribe();
  void send_pending();
  void read_replies();
  void disconnect(const std::string& why);
  void wake();
  std::uint64_t add_handler(const std::string& channel, MessageHandler handler);
  Subscriber(RedisOptions options, const obs::Logger& log,
             std::shared_ptr<SentinelResolver> resolver, Connect connect, Purpose purpose);

  const RedisOptions options_;
  const std::shared_ptr<TlsContext> tls_;  // held so that reconnections share it
  const obs::Logger& log_;
  const std::shared_ptr<SentinelResolver> resolver_;  // invalidated when the connection is lost
  const Connect connect_;  // when set, used instead of resolver_ / options_
  const Purpose purpose_;
  int wake_fd_ = -1;

  std::mutex mu_;  // guards every member below
  std::condition_variable cv_;
  std::map<std::string, std::map<std::uint64_t, std::shared_ptr<MessageHandler>>> handlers_;
  std::set<std::string> confirmed_;                    // channels the server has confirmed
  std::set<std::string> leaving_;                      // UNSUBSCRIBE sent, not yet confirmed
  std::vector<std::pair<bool, std::string>> pending_;  // (subscribe?, channel) to send
  std::string last_error_;                             // why the connection is down, if it is
  bool connected_ = false;
  std::uint64_t next_id_ = 1;
  std::uint64_t running_id_ = 0;
  bool stopping_ = false;

  std::unique_ptr<Connection> conn_;  // owned by the thread
  std::thread thread_;                // last: starts after the members above exist
};

}  // namespace examstore::redis
