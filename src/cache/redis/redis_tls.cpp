#include "cache/redis/redis_tls.hpp"

#include "examstore/error.hpp"

#ifdef EXAMSTORE_HAVE_HIREDIS_SSL

#include <arpa/inet.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>

namespace examstore::redis {

class TlsContext {
 public:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  ~TlsContext() { SSL_CTX_free(ctx_); }
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const { return ctx_; }

 private:
  SSL_CTX* const ctx_;
};

namespace {

// The first (root-cause) reason in this thread's OpenSSL error queue; empties the queue, which
// libpq and other OpenSSL users on this thread read too.
std::string openssl_reason() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return {};
  const char* reason = ERR_reason_error_string(first);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(ERR_GET_REASON(first));
}

[[noreturn]] void bad_file(const char* field, const std::string& why) {
  ERR_clear_error();
  throw Error(ErrorCode::kInvalidArgument, std::string("config.") + field, why);
}

// A readable regular file; `shown` is how the message names it (a key's path is not shown).
void check_file(const char* field, const std::string& path, const std::string& shown) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    bad_file(field, shown + " does not exist or is not a regular file");
  }
  if (::access(path.c_str(), R_OK) != 0) bad_file(field, shown + " is not readable");
}

// An encrypted key would make OpenSSL prompt on the terminal: refuse it instead.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

std::shared_ptr<TlsContext> make_context(const RedisTlsOptions& o) {
  static std::once_flag openssl_init;
  std::call_once(openssl_init, [] { redisInitOpenSSL(); });
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (raw == nullptr) {
    throw Error(ErrorCode::kResourceExhausted, "redis tls",
                "cannot create an OpenSSL context: " + openssl_reason());
  }
  auto context = std::make_shared<TlsContext>(raw);
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_default_passwd_cb(raw, no_passphrase);
  if (o.ca_file.empty() && o.ca_dir.empty() && SSL_CTX_set_default_verify_paths(raw) != 1) {
    bad_file("redis.tls.ca_file",
             "not set, and the system's default trust store cannot be "
             "loaded (" +
                 openssl_reason() + ")");
  }
  if (!o.ca_file.empty()) {
    const std::string shown = "'" + o.ca_file + "'";
    check_file("redis.tls.ca_file", o.ca_file, shown);
    if (SSL_CTX_load_verify_locations(raw, o.ca_file.c_str(), nullptr) != 1) {
      bad_file("redis.tls.ca_file",
               "cannot load CA certificates from " + shown + " (" + openssl_reason() + ")");
    }
  }
  if (!o.ca_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(o.ca_dir, ec)) {
      bad_file("redis.tls.ca_dir", "'" + o.ca_dir + "' is not a folder");
    }
    if (SSL_CTX_load_verify_locations(raw, nullptr, o.ca_dir.c_str()) != 1) {
      bad_file("redis.tls.ca_dir",
               "cannot use '" + o.ca_dir + "' as a CA folder (" + openssl_reason() + ")");
    }
  }
  if (!o.cert_file.empty()) {
    const std::string shown = "'" + o.cert_file + "'";
    check_file("redis.tls.cert_file", o.cert_file, shown);
    if (SSL_CTX_use_certificate_chain_file(raw, o.cert_file.c_str()) != 1) {
      bad_file("redis.tls.cert_file",
               "cannot load a certificate from " + shown + " (" + openssl_reason() + ")");
    }
  }
  if (!o.key_file.empty()) {
    check_file("redis.tls.key_file", o.key_file, "the key file");
    const bool loaded = SSL_CTX_use_PrivateKey_file(raw, o.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
    const std::string reason = loaded ? std::string() : openssl_reason();
    // OpenSSL 3 compares the key with the certificate while loading it, 1.1 only when asked
    if (reason.find("mismatch") != std::string::npos ||
        (loaded && !o.cert_file.empty() && SSL_CTX_check_private_key(raw) != 1)) {
      bad_file("redis.tls.key_file", "the private key does not match redis.tls.cert_file");
    }
    if (!loaded) {
      bad_file("redis.tls.key_file",
               "cannot load the private key (" + reason + "; it must be PEM and unencrypted)");
    }
  }
  return context;
}

// Makes the handshake check the certificate for `name`: a DNS name (also sent as SNI) or an IP
// address (matched against IP subjectAltNames; SNI carries no addresses, RFC 6066).
bool expect_name(SSL* ssl, const std::string& name) {
  unsigned char addr[sizeof(in6_addr)];
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (::inet_pton(AF_INET, name.c_str(), addr) == 1 ||
      ::inet_pton(AF_INET6, name.c_str(), addr) == 1) {
    return X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
  }
  if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return false;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1;
}

}  // namespace

std::shared_ptr<TlsContext> tls_context(const RedisTlsOptions& o) {
  using Files = std::tuple<std::string, std::string, std::string, std::string>;
  static std::mutex mu;                                        // guards contexts
  static std::map<Files, std::weak_ptr<TlsContext>> contexts;  // one per set of files
  const Files files{o.ca_file, o.ca_dir, o.cert_file, o.key_file};
  std::lock_guard<std::mutex> l(mu);
  auto& slot = contexts[files];
  if (auto live = slot.lock()) return live;
  auto made = make_context(o);
  slot = made;
  return made;
}

void start_tls(redisContext* c, const TlsContext& context, const RedisTlsOptions& o,
               const std::string& host, const std::string& endpoint) {
  const std::string& name = o.server_name.empty() ? host : o.server_name;
  ERR_clear_error();
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) {
    throw Error(ErrorCode::kResourceExhausted, "redis connect",
                "cannot create a TLS session: " + openssl_reason(), endpoint);
  }
  if (!expect_name(ssl, name)) {
    SSL_free(ssl);
    throw Error(ErrorCode::kInvalidArgument, "redis connect",
                "cannot check the server's certificate for the name '" + name + "' (" +
                    openssl_reason() + ")",
                endpoint);
  }
  errno = 0;
  if (redisInitiateSSL(c, ssl) == REDIS_OK) return;  // the context owns the session now
  const int saved_errno = errno;
  const long verify = SSL_get_verify_result(ssl);
  const std::string reason = openssl_reason();
  SSL_free(ssl);
  std::string why;
  ErrorCode code = ErrorCode::kUnavailable;
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    why = "the server's certificate is not valid for '" + name + "' (" +
          X509_verify_cert_error_string(verify) +
          "; set redis.tls.server_name to a name the certificate carries)";
  } else if (verify != X509_V_OK) {
    why = std::string("the server's certificate is not trusted (") +
          X509_verify_cert_error_string(verify) + "; is redis.tls.ca_file the CA that signed it?)";
  } else if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) {
    code = ErrorCode::kTimeout;
    why = "no handshake within the connect timeout (is this a TLS port?)";
  } else if (reason.find("alert") != std::string::npos) {
    why = "the server refused it: " + reason +
          " (does it require a client certificate? see redis.tls.cert_file)";
  } else if (!reason.empty()) {
    why = reason + " (is this a TLS port?)";
  } else {
    why =
        "the server closed the connection (is this a TLS port? does it require a client "
        "certificate?)";
  }
  throw Error(code, "redis connect", "TLS handshake failed: " + why, endpoint);
}

std::string take_tls_error() { return openssl_reason(); }

}  // namespace examstore::redis

#else  // no hiredis_ssl: TLS options are refused by validate(); these are never reached.

namespace examstore::redis {

class TlsContext {};

namespace {
[[noreturn]] void no_tls() {
  throw Error(ErrorCode::kInvalidArgument, "config.redis.tls.enabled",
              "TLS needs examstore built against hiredis 1.x with hiredis_ssl");
}
}  // namespace

std::shared_ptr<TlsContext> tls_context(const RedisTlsOptions& /*o*/) { no_tls(); }

void start_tls(redisContext* /*c*/, const TlsContext& /*context*/, const RedisTlsOptions& /*o*/,
               const std::string& /*host*/, const std::string& /*endpoint*/) {
  no_tls();
}

std::string take_tls_error() { return {}; }

}  // namespace examstore::redis

#endif
