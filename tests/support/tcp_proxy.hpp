// tests/support/tcp_proxy.hpp: a loopback TCP proxy that fault tests put between a client and a
// server, so the server can be made to look down without stopping it.
//
//   examstore::test::TcpProxy proxy(5432);         // listens on 127.0.0.1:proxy.port()
//   ... connect the client to proxy.port() ...
//   proxy.cut();                                   // every connection closed, new ones refused
//   proxy.restore();                               // accepting (and forwarding) again
//   proxy.drop_next_reply();                       // the next reply is lost (see below)
//
// One thread runs a poll() loop over the listening socket, every forwarded connection (both
// sides, non-blocking) and a wake-up pipe; it owns all of those. cut(), restore() and the
// destructor hand their request to it through the pipe and return once it has been carried out,
// so after cut() returns no connection is open and a connect is refused (the listening socket is
// closed; restore() binds the same port again).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace examstore::test {

class TcpProxy {
 public:
  /// Listens on a free 127.0.0.1 port and forwards each accepted connection to
  /// 127.0.0.1:`target_port` (a connection whose target refuses is closed at once). Throws
  /// std::runtime_error when the listening socket cannot be set up.
  explicit TcpProxy(int target_port);
  /// Closes every connection and stops the thread.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  /// The port the proxy listens on (the same after a cut and a restore).
  int port() const { return port_; }
  /// Closes every open connection and stops listening: the backend looks down (connection
  /// refused) until restore(). Idempotent.
  void cut();
  /// Listens again after cut(). Throws std::runtime_error when the port cannot be bound again.
  /// Idempotent.
  void restore();
  /// Arms a one-shot "lost reply": the next bytes the target sends on any connection are
  /// discarded and that connection is closed on both sides, so a client's command reaches the
  /// server and is applied while its reply never arrives (an outcome the client cannot know).
  /// Later replies pass as usual.
  void drop_next_reply();
  /// How many replies drop_next_reply() has discarded.
  std::int64_t dropped_replies() const;
  /// How many connections have been accepted (and forwarded) since construction.
  std::int64_t accepted() const;
  /// How many forwarded connections are open now.
  std::int64_t open_connections() const;

 private:
  enum class Command { kNone, kCut, kRestore, kStop };
  void run();
  void request(Command c);

  const int target_port_;
  int port_ = 0;
  int wake_read_ = -1;
  int wake_write_ = -1;

  mutable std::mutex mu_;  // guards every member below
  std::condition_variable done_cv_;
  Command command_ = Command::kNone;
  std::uint64_t requested_ = 0;  // commands requested so far
  std::uint64_t completed_ = 0;  // commands the loop has carried out
  bool restore_failed_ = false;
  bool stopped_ = false;  // the loop has ended
  std::int64_t accepted_ = 0;
  std::int64_t open_ = 0;
  bool drop_armed_ = false;
  std::int64_t dropped_ = 0;

  std::mutex request_mu_;  // serialises cut(), restore() and stop requests
  int listen_fd_ = -1;     // the loop thread's own once it runs

  std::thread thread_;  // last: started when everything above is ready
};

}  // namespace examstore::test
