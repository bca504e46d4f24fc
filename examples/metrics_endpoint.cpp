// examples/metrics_endpoint.cpp: serving Store::metrics() to Prometheus. The library has no HTTP
// server on purpose (your platform already has one); this is the few lines it takes with
// Boost.Asio when it does not.
//
//   metrics_endpoint [PORT]     serve GET /metrics on 127.0.0.1:PORT (default 9464) until killed
//   metrics_endpoint --once     print one scrape to stdout and exit
//
// The backends come from the environment (EXAMSTORE_REDIS_URL, EXAMSTORE_DATABASE_URL; memory://
// by default). Log messages go to stderr through the log sink.
#include <boost/asio.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "examstore/examstore.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string response(int status, std::string_view reason, std::string_view type,
                     const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: " + std::string(type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

// One request per connection, answered synchronously: a scrape every few seconds needs no more.
void serve(examstore::Store& store, unsigned short port) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::cerr << "serving http://127.0.0.1:" << port << "/metrics\n";
  for (;;) {
    tcp::socket socket(io);
    acceptor.accept(socket);
    boost::system::error_code ec;
    asio::streambuf request;
    asio::read_until(socket, request, "\r\n\r\n", ec);
    if (ec) continue;
    std::istream in(&request);
    std::string method, target;
    in >> method >> target;
    std::string reply;
    if (method == "GET" && (target == "/metrics" || target.rfind("/metrics?", 0) == 0)) {
      reply = response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                       examstore::to_prometheus(store.metrics()));
    } else {
      reply = response(404, "Not Found", "text/plain", "try GET /metrics\n");
    }
    asio::write(socket, asio::buffer(reply), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool once = false;
  unsigned short port = 9464;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--once") {
      once = true;
    } else if (const long p = std::strtol(a.c_str(), nullptr, 10); p > 0 && p < 65536) {
      port = static_cast<unsigned short>(p);
    } else {
      std::cerr << "usage: metrics_endpoint [--once] [PORT]\n";
      return 2;
    }
  }
  try {
    examstore::Config config = examstore::Config::from_env();
    config.log_sink = [](examstore::LogLevel level, std::string_view component,
                         std::string_view message) {
      std::cerr << examstore::to_string(level) << " " << component << ": " << message << "\n";
    };
    auto store = examstore::Store::open(config);
    store->health();  // one round trip each, so the pools have something to show
    if (once) {
      std::cout << examstore::to_prometheus(store->metrics());
      return 0;
    }
    serve(*store, port);
  } catch (const std::exception& e) {
    std::cerr << "metrics_endpoint: " << e.what() << "\n";
    return 1;
  }
}
