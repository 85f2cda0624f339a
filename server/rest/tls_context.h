// TlsContext: the OpenSSL server context the REST front speaks TLS with, built
// from PEM contents (TF Serving's SSLConfig fields) and checked completely
// before the daemon listens: the key parses, the certificate (and any
// intermediates after it) parse, the key belongs to the certificate, and with
// client_verify the CA certificates parse. Errors name the field at fault.
//
// Connections: TLS 1.2 or newer only; with client_verify, the handshake fails
// unless the client presents a certificate that chains to ca_pem (no HTTP
// request is read from such a connection).
//
// Thread safety: immutable after Create; one context serves every event loop
// (OpenSSL's SSL_CTX is safe to share for SSL_new).
#ifndef SWAPSERVE_SERVER_REST_TLS_CONTEXT_H_
#define SWAPSERVE_SERVER_REST_TLS_CONTEXT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace swapserve::server::rest {

struct TlsOptions {
  std::string key_pem;   // the server's private key
  std::string cert_pem;  // the server's certificate, then its intermediates
  std::string ca_pem;    // with client_verify: the CAs client certificates chain to
  bool client_verify = false;
};

class TlsContext {
 public:
  static absl::StatusOr<std::shared_ptr<TlsContext>> Create(const TlsOptions& options);
  ~TlsContext();

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* get() const { return ctx_; }

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* const ctx_;
};

}  // namespace swapserve::server::rest

#endif  // SWAPSERVE_SERVER_REST_TLS_CONTEXT_H_
