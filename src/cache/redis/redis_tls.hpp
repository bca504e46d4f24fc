// cache/redis/redis_tls.hpp: TLS on hot-tier connections (hiredis_ssl over OpenSSL).
//
// Rules:
//   - One OpenSSL client context per distinct set of files (CA file or folder, client
//     certificate, key) in the process, shared by every pool, subscriber and sentinel query that
//     uses them, and freed with the last of them: the CA store and the key are loaded once, not
//     per connection. Owners that live long (a Pool, a Subscriber, a SentinelResolver) hold it,
//     so a file that cannot be loaded fails when the Store opens.
//   - Each connection gets its own SSL object, which checks during the handshake the server's
//     chain against the CA and its subjectAltName against RedisTlsOptions::server_name, else the
//     host connected to. hiredis itself checks the chain but not the name: the SSL object is
//     made here and handed to redisInitiateSSL.
//   - connect_timeout bounds the handshake; errors name the endpoint and say what failed
//     (untrusted certificate, wrong name, not a TLS port), never a key's path or contents.
//
// Without EXAMSTORE_HAVE_HIREDIS_SSL (hiredis 0.14) every function throws kInvalidArgument;
// validate() refuses TLS options before that.
//
// Thread-safety: all functions are thread-safe.
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include "examstore/config.hpp"

namespace examstore::redis {

class TlsContext;

/// The shared client context for `o` (o.enabled), made on first use. Throws kInvalidArgument
/// naming the field (config.redis.tls.ca_file, ...) when a file cannot be loaded.
std::shared_ptr<TlsContext> tls_context(const RedisTlsOptions& o);

/// Runs the TLS handshake on `c`, freshly connected to `host`, within the timeout already set on
/// `c`. Throws kUnavailable (certificate not trusted or not for the name, handshake refused, not
/// a TLS port) or kTimeout, naming `endpoint`; `c` is then unusable.
void start_tls(redisContext* c, const TlsContext& context, const RedisTlsOptions& o,
               const std::string& host, const std::string& endpoint);

/// The reason OpenSSL recorded for this thread's last failure ("tlsv13 alert certificate
/// required"), empty when none; clears the record. For I/O errors on a TLS connection, where
/// hiredis's own message says little.
std::string take_tls_error();

}  // namespace examstore::redis
