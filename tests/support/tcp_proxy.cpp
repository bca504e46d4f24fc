// tests/support/tcp_proxy.cpp: the poll() loop of TcpProxy (see tcp_proxy.hpp).
#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <list>
#include <stdexcept>
#include <string>
#include <vector>

namespace examstore::test {
namespace {

// Bytes read from one side and not yet written to the other, per direction. Reading stops while
// this much is waiting, so a slow side slows the other instead of growing the buffer.
constexpr std::size_t kMaxBuffered = 256 * 1024;

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A non-blocking listening socket on 127.0.0.1:port (port 0: any); -1 with `error` set.
int listen_on(int port, std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = errno_text("socket");
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error = errno_text("bind");
    ::close(fd);
    return -1;
  }
  if (::listen(fd, 128) != 0) {
    error = errno_text("listen");
    ::close(fd);
    return -1;
  }
  return fd;
}

// A connected, non-blocking socket to 127.0.0.1:port, or -1 (the target refused).
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = loopback(port);
  // Loopback: a blocking connect is answered at once (accepted or refused).
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// One forwarded connection: side 0 is the client, side 1 the target.
struct Conn {
  std::array<int, 2> fd{-1, -1};
  std::array<std::string, 2> buf;          // read from side i, to be written to side 1 - i
  std::array<bool, 2> eof{false, false};   // side i has sent FIN
  std::array<bool, 2> shut{false, false};  // we have shut down writing to side i
  bool dead = false;

  void close_all() {
    for (int& f : fd) {
      if (f >= 0) ::close(f);
      f = -1;
    }
  }
  bool finished() const { return dead || (shut[0] && shut[1]); }
};

// Reads what side i offers; false when the connection failed.
bool pump_in(Conn& c, int i) {
  char chunk[16384];
  while (!c.eof[i] && c.buf[i].size() < kMaxBuffered) {
    const ssize_t n = ::recv(c.fd[i], chunk, sizeof chunk, 0);
    if (n > 0) {
      c.buf[i].append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0) {
      c.eof[i] = true;
    } else if (errno == EINTR) {
      continue;
    } else {
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }
  return true;
}

// Writes what is waiting for side i; false when the connection failed.
bool pump_out(Conn& c, int i) {
  std::string& pending = c.buf[1 - i];
  while (!pending.empty()) {
    const ssize_t n = ::send(c.fd[i], pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n > 0) {
      pending.erase(0, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  std::string error;
  listen_fd_ = listen_on(0, error);
  if (listen_fd_ < 0) throw std::runtime_error("TcpProxy: " + error);
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    error = errno_text("getsockname");
    ::close(listen_fd_);
    throw std::runtime_error("TcpProxy: " + error);
  }
  port_ = ntohs(a.sin_port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    error = errno_text("pipe2");
    ::close(listen_fd_);
    throw std::runtime_error("TcpProxy: " + error);
  }
  wake_read_ = pipe_fds[0];
  wake_write_ = pipe_fds[1];
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  request(Command::kStop);
  if (thread_.joinable()) thread_.join();
  ::close(wake_read_);
  ::close(wake_write_);
}

void TcpProxy::cut() { request(Command::kCut); }

void TcpProxy::restore() {
  request(Command::kRestore);
  std::lock_guard<std::mutex> l(mu_);
  if (restore_failed_) {
    throw std::runtime_error("TcpProxy: cannot listen on port " + std::to_string(port_) + " again");
  }
}

void TcpProxy::drop_next_reply() {
  std::lock_guard<std::mutex> l(mu_);
  drop_armed_ = true;
}

std::int64_t TcpProxy::dropped_replies() const {
  std::lock_guard<std::mutex> l(mu_);
  return dropped_;
}

std::int64_t TcpProxy::accepted() const {
  std::lock_guard<std::mutex> l(mu_);
  return accepted_;
}

std::int64_t TcpProxy::open_connections() const {
  std::lock_guard<std::mutex> l(mu_);
  return open_;
}

void TcpProxy::request(Command c) {
  std::lock_guard<std::mutex> serial(request_mu_);
  std::unique_lock<std::mutex> l(mu_);
  command_ = c;
  const std::uint64_t ticket = ++requested_;
  l.unlock();
  const char byte = 1;
  // The pipe is non-blocking; a full pipe already holds a wake-up for the loop.
  while (::write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
  }
  l.lock();
  done_cv_.wait(l, [&] { return completed_ >= ticket || stopped_; });
}

void TcpProxy::run() {
  std::list<Conn> conns;
  auto close_everything = [&] {
    for (Conn& c : conns) c.close_all();
    conns.clear();
  };

  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({wake_read_, POLLIN, 0});
    if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
    const std::size_t first_conn = fds.size();
    for (const Conn& c : conns) {
      for (int i = 0; i < 2; ++i) {
        short events = 0;
        if (!c.eof[i] && c.buf[i].size() < kMaxBuffered) events |= POLLIN;
        if (!c.buf[1 - i].empty()) events |= POLLOUT;
        fds.push_back({c.fd[i], events, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;  // cannot happen with valid descriptors; stop forwarding rather than spin
    }

    // Connections first, with the descriptors poll() saw.
    std::size_t k = first_conn;
    for (Conn& c : conns) {
      for (int i = 0; i < 2 && !c.dead; ++i) {
        const short re = fds[k + static_cast<std::size_t>(i)].revents;
        if ((re & (POLLIN | POLLHUP | POLLERR)) != 0 && !c.eof[i] && !pump_in(c, i)) c.dead = true;
        if (!c.dead && i == 1 && !c.buf[1].empty()) {
          std::lock_guard<std::mutex> l(mu_);
          if (drop_armed_) {  // the reply is lost: the client sees its connection close
            drop_armed_ = false;
            ++dropped_;
            c.buf[1].clear();
            c.dead = true;
          }
        }
        if (!c.dead && (re & POLLOUT) != 0 && !pump_out(c, i)) c.dead = true;
        // Hung up in both directions with nothing left to read: nothing more can pass.
        if (!c.dead && c.eof[i] && (re & (POLLHUP | POLLERR)) != 0) c.dead = true;
      }
      k += 2;
      for (int i = 0; i < 2 && !c.dead; ++i) {
        // Side i finished sending and everything it sent was passed on: pass the FIN on.
        if (c.eof[i] && c.buf[i].empty() && !c.shut[1 - i]) {
          ::shutdown(c.fd[1 - i], SHUT_WR);
          c.shut[1 - i] = true;
        }
      }
    }
    for (auto it = conns.begin(); it != conns.end();) {
      if (it->finished()) {
        it->close_all();
        it = conns.erase(it);
      } else {
        ++it;
      }
    }

    if (listen_fd_ >= 0 && (fds[1].revents & POLLIN) != 0) {
      for (;;) {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (client < 0) break;  // EAGAIN: no more waiting (or a transient accept error)
        int one = 1;
        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const int target = connect_to(target_port_);
        if (target < 0) {
          ::close(client);  // the target is down: so is the proxy, for this client
          continue;
        }
        Conn c;
        c.fd = {client, target};
        conns.push_back(std::move(c));
        std::lock_guard<std::mutex> l(mu_);
        ++accepted_;
      }
    }

    bool stop = false;
    if ((fds[0].revents & POLLIN) != 0) {
      char drain[64];
      while (::read(wake_read_, drain, sizeof drain) > 0) {
      }
      std::lock_guard<std::mutex> l(mu_);
      switch (command_) {
        case Command::kCut:
          close_everything();
          if (listen_fd_ >= 0) ::close(listen_fd_);
          listen_fd_ = -1;
          break;
        case Command::kRestore:
          if (listen_fd_ < 0) {
            std::string error;
            listen_fd_ = listen_on(port_, error);
          }
          restore_failed_ = listen_fd_ < 0;
          break;
        case Command::kStop:
          stop = true;
          break;
        case Command::kNone:
          break;
      }
      command_ = Command::kNone;
      open_ = static_cast<std::int64_t>(conns.size());
      completed_ = requested_;
      done_cv_.notify_all();
    } else {
      std::lock_guard<std::mutex> l(mu_);
      open_ = static_cast<std::int64_t>(conns.size());
    }
    if (stop) break;
  }

  close_everything();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::lock_guard<std::mutex> l(mu_);
  open_ = 0;
  stopped_ = true;  // later requests return at once
  done_cv_.notify_all();
}

}  // namespace examstore::test
